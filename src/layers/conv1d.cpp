#include "myelin/layers/conv1d.hpp"

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/conv.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/mixed_precision.hpp"
#include "kernels/cpu/bf16.hpp"

namespace myelin::layers {

Conv1D::Conv1D(int64_t filters, int64_t kernel_size, const std::string& activation, Conv1DOptions options)
    : filters_(filters),
      kernel_size_(kernel_size),
      activation_(activation_from_name(activation)),
      options_(std::move(options)),
      kernel_impl_(std::make_unique<kernels::Conv2DKernel>()) {
  name_ = options_.name;
  options_.dtype = mixed_precision::layer_policy(options_.dtype, "Conv1D");
  kernel_impl_->set_bf16(options_.dtype == "mixed_bfloat16" && kernels::bf16_supported());
  if (filters <= 0) throw ValueError(label() + ": filters must be positive, got " + std::to_string(filters));
  if (kernel_size <= 0) throw ValueError(label() + ": kernel_size must be positive, got " + std::to_string(kernel_size));
  if (options_.strides <= 0)
    throw ValueError(label() + ": strides must be positive, got " + std::to_string(options_.strides));
  if (options_.dilation_rate <= 0)
    throw ValueError(label() + ": dilation_rate must be positive, got " + std::to_string(options_.dilation_rate));
  // Keras refuses strides > 1 together with dilation > 1; so do we, to stay compatible.
  if (options_.strides > 1 && options_.dilation_rate > 1)
    throw ValueError(label() + ": strides > 1 cannot be combined with dilation_rate > 1 (as in Keras), got strides " +
                     std::to_string(options_.strides) + " and dilation_rate " + std::to_string(options_.dilation_rate));
  if (options_.padding != "valid" && options_.padding != "same" && options_.padding != "causal")
    throw ValueError(label() + ": padding must be 'valid', 'same' or 'causal', got '" + options_.padding + "'");
  input_shape_ = options_.input_shape;
}

Conv1D::~Conv1D() = default;
Conv1D::Conv1D(Conv1D&&) noexcept = default;

std::string Conv1D::label() const { return name_.empty() ? "Conv1D" : "Conv1D '" + name_ + "'"; }

Conv1D::Axis Conv1D::axis(int64_t steps) const {
  const int64_t k = kernel_size_, s = options_.strides, d = options_.dilation_rate;
  if (options_.padding == "causal") {
    // Keras pads (k - 1) * d zeros in front, then convolves with 'valid'.
    const int64_t pad = (k - 1) * d;
    const auto a = kernels::conv_axis(steps + pad, k, s, d, false);
    return {a.out, pad, 0};
  }
  const auto a = kernels::conv_axis(steps, k, s, d, options_.padding == "same");
  return {a.out, a.pad_begin, a.pad_end};
}

std::optional<LayerPlan> Conv1D::plan(const Shape& input_shape) const {
  if (input_shape.size() != 2 || shape_size(input_shape) <= 0)
    throw ShapeError(label() + " needs a per-sample input of shape (steps, channels), got " +
                     shape_to_string(input_shape));
  // Sizes can come from a file: a window or padding past int64 is refused rather than wrapped.
  int64_t span = 0, padded = 0;
  if (__builtin_mul_overflow(kernel_size_ - 1, options_.dilation_rate, &span) ||
      __builtin_add_overflow(input_shape[0], span, &padded))
    throw ShapeError(label() + ": kernel_size " + std::to_string(kernel_size_) + " with dilation_rate " +
                     std::to_string(options_.dilation_rate) + " is too large");
  const Axis a = axis(input_shape[0]);
  if (a.out <= 0)
    throw ShapeError(label() + ": kernel_size " + std::to_string(kernel_size_) + " with dilation_rate " +
                     std::to_string(options_.dilation_rate) + " does not fit input " + shape_to_string(input_shape) +
                     " with padding 'valid' (it needs at least " +
                     std::to_string((kernel_size_ - 1) * options_.dilation_rate + 1) + " steps)");
  LayerPlan p{{a.out, filters_}};
  p.trainable_values = shape_size({kernel_size_, input_shape[1], filters_}) + (options_.use_bias ? filters_ : 0);
  return p;
}

Shape Conv1D::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  steps_ = input_shape[0];
  in_c_ = input_shape[1];
  const Axis a = axis(steps_);
  out_steps_ = a.out;
  pad_begin_ = a.pad_begin;
  pad_end_ = a.pad_end;

  // Keras's fans for a {k, C, F} kernel: receptive field k times the channels in or out.
  kernel_ = Tensor({kernel_size_, in_c_, filters_});
  kernel_grad_ = Tensor(kernel_.shape());
  initializers::fill(options_.kernel_initializer, kernel_, kernel_size_ * in_c_, kernel_size_ * filters_, rng);
  if (options_.use_bias) {
    bias_ = Tensor({filters_});
    bias_grad_ = Tensor({filters_});
    initializers::fill(options_.bias_initializer, bias_, kernel_size_ * in_c_, kernel_size_ * filters_, rng);
  }
  built_ = true;
  return {out_steps_, filters_};
}

int64_t Conv1D::flops_per_sample() const { return 2 * out_steps_ * filters_ * kernel_size_ * in_c_; }

namespace {
// The sequence as an image one row high: the height axis has size, kernel, stride and dilation 1.
kernels::Conv2DGeometry geometry(int64_t batch, int64_t steps, int64_t in_c, int64_t out_steps, int64_t filters,
                                 int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin, int64_t pad_end) {
  kernels::Conv2DGeometry g;
  g.batch = batch;
  g.in_h = 1;
  g.in_w = steps;
  g.in_c = in_c;
  g.out_h = 1;
  g.out_w = out_steps;
  g.out_c = filters;
  g.kernel_h = 1;
  g.kernel_w = kernel;
  g.stride_w = stride;
  g.dilation_w = dilation;
  g.pad_left = pad_begin;
  g.pad_right = pad_end;
  return g;
}
}  // namespace

const Tensor& Conv1D::forward(const Tensor& x, bool /*training*/) {
  Tensor& y = output_buffer(y_);
  const auto g = geometry(x.rows(), steps_, in_c_, out_steps_, filters_, kernel_size_, options_.strides,
                          options_.dilation_rate, pad_begin_, pad_end_);
  shape_buf_ = {x.rows(), out_steps_, filters_};  // assigning into a kept vector allocates nothing
  y.resize(shape_buf_);
  act_ = output_logits_ ? ActivationKind::Linear : activation_;
  // relu runs inside the convolution (a oneDNN post-op); other activations in one pass after it.
  const bool fused_relu = act_ == ActivationKind::ReLU;
  const float* b = options_.use_bias ? bias_.data() : nullptr;
  if (act_ == ActivationKind::Linear || fused_relu) {
    kernel_impl_->forward(g, x.data(), kernel_.data(), b, fused_relu, y.data());
  } else {
    const bool keep_z = kernels::activation_needs_preactivation(act_);
    float* out = y.data();
    if (keep_z) {
      z_.resize(shape_buf_);
      out = z_.data();
    }
    kernel_impl_->forward(g, x.data(), kernel_.data(), b, false, out);
    kernels::bias_activation_forward(act_, out, nullptr, keep_z ? z_.data() : nullptr, y.data(),
                                     y.size() / filters_, filters_);
  }
  x_.alias(x, x.shape());
  return y;
}

const Tensor& Conv1D::backward(const Tensor& dy) {
  const auto g = geometry(dy.rows(), steps_, in_c_, out_steps_, filters_, kernel_size_, options_.strides,
                          options_.dilation_rate, pad_begin_, pad_end_);
  const float* dz = dy.data();
  // The layer above zeroes dy where this relu's output is 0 (a max pooling over it): nothing left to do.
  const bool masked_above = act_ == ActivationKind::ReLU && relu_masked_by_next_;
  if (act_ != ActivationKind::Linear && !masked_above) {
    dz_.resize(dy.shape());
    kernels::activation_backward(act_, dy.data(), y_.data(), z_.data(), dz_.data(), dy.size() / filters_, filters_);
    dz = dz_.data();
  }
  Tensor& input_grad = input_grad_buffer(dx_);
  float* dx = nullptr;
  if (needs_input_grad_) {
    input_grad.resize(x_.shape());
    dx = input_grad.data();
  }
  // A frozen layer computes no weight gradient.
  kernel_impl_->backward(g, x_.data(), dz, kernel_.data(), trainable_ ? kernel_grad_.data() : nullptr,
                         options_.use_bias && trainable_ ? bias_grad_.data() : nullptr, dx);
  return needs_input_grad_ ? input_grad : no_grad_;
}

std::vector<Param> Conv1D::own_params() {
  std::vector<Param> p;
  p.push_back({"kernel", &kernel_, &kernel_grad_, options_.kernel_regularizer ? &*options_.kernel_regularizer : nullptr});
  if (options_.use_bias)
    p.push_back({"bias", &bias_, &bias_grad_, options_.bias_regularizer ? &*options_.bias_regularizer : nullptr});
  return p;
}

nlohmann::json Conv1D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["filters"] = filters_;
  c["kernel_size"] = nlohmann::json::array({kernel_size_});  // Keras 3 writes 1-tuples
  c["strides"] = nlohmann::json::array({options_.strides});
  c["padding"] = options_.padding;
  c["data_format"] = "channels_last";
  c["dilation_rate"] = nlohmann::json::array({options_.dilation_rate});
  c["groups"] = 1;
  c["activation"] = activation_name(activation_);
  c["use_bias"] = options_.use_bias;
  c["kernel_initializer"] = io::initializer_to_json(options_.kernel_initializer);
  c["bias_initializer"] = io::initializer_to_json(options_.bias_initializer);
  c["kernel_regularizer"] = io::regularizer_to_json(options_.kernel_regularizer);
  c["bias_regularizer"] = io::regularizer_to_json(options_.bias_regularizer);
  c["activity_regularizer"] = nullptr;
  c["kernel_constraint"] = nullptr;
  c["bias_constraint"] = nullptr;
  if (options_.dtype != "float32") c["dtype"] = mixed_precision::policy_to_config(options_.dtype);
  return c;
}

}  // namespace myelin::layers
