#include "myelin/layers/conv2d.hpp"

#include <atomic>
#include <cstring>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/conv_pool.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/layers/batch_normalization.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/mixed_precision.hpp"
#include "kernels/cpu/bf16.hpp"

namespace myelin::layers {

namespace {
std::string size2_text(Size2 s) { return "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")"; }
}  // namespace

Conv2D::Conv2D(int64_t filters, Size2 kernel_size, const std::string& activation, Conv2DOptions options)
    : filters_(filters),
      kernel_size_(kernel_size),
      activation_(activation_from_name(activation)),
      options_(std::move(options)),
      kernel_impl_(std::make_unique<kernels::Conv2DKernel>()) {
  if (filters <= 0) throw ValueError("Conv2D: filters must be positive, got " + std::to_string(filters));
  if (kernel_size.h <= 0 || kernel_size.w <= 0)
    throw ValueError("Conv2D: kernel_size must be positive, got " + size2_text(kernel_size));
  if (options_.strides.h <= 0 || options_.strides.w <= 0)
    throw ValueError("Conv2D: strides must be positive, got " + size2_text(options_.strides));
  if (options_.dilation_rate.h <= 0 || options_.dilation_rate.w <= 0)
    throw ValueError("Conv2D: dilation_rate must be positive, got " + size2_text(options_.dilation_rate));
  // Keras refuses strides > 1 together with dilation > 1; so do we, to stay compatible.
  if ((options_.strides.h > 1 || options_.strides.w > 1) &&
      (options_.dilation_rate.h > 1 || options_.dilation_rate.w > 1))
    throw ValueError("Conv2D: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)");
  if (options_.padding != "valid" && options_.padding != "same")
    throw ValueError("Conv2D: padding must be 'valid' or 'same', got '" + options_.padding + "'");
  input_shape_ = options_.input_shape;
  name_ = options_.name;
  options_.dtype = mixed_precision::layer_policy(options_.dtype, "Conv2D");
  kernel_impl_->set_bf16(options_.dtype == "mixed_bfloat16" && kernels::bf16_supported());
}

Conv2D::~Conv2D() = default;
Conv2D::Conv2D(Conv2D&&) noexcept = default;

std::optional<LayerPlan> Conv2D::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError("Conv2D '" + name_ + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(input_shape));
  const bool same = options_.padding == "same";
  const auto ah = kernels::conv_axis(input_shape[0], kernel_size_.h, options_.strides.h, options_.dilation_rate.h, same);
  const auto aw = kernels::conv_axis(input_shape[1], kernel_size_.w, options_.strides.w, options_.dilation_rate.w, same);
  if (ah.out <= 0 || aw.out <= 0)
    throw ShapeError("Conv2D '" + name_ + "': kernel " + size2_text(kernel_size_) + " with dilation " +
                     size2_text(options_.dilation_rate) + " does not fit input " + shape_to_string(input_shape) +
                     " with padding 'valid' (output would be " + shape_to_string({ah.out, aw.out, filters_}) + ")");
  LayerPlan p{{ah.out, aw.out, filters_}};
  p.trainable_values = shape_size({kernel_size_.h, kernel_size_.w, input_shape[2], filters_}) +
                       (options_.use_bias ? filters_ : 0);
  return p;
}

Shape Conv2D::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  in_h_ = input_shape[0];
  in_w_ = input_shape[1];
  in_c_ = input_shape[2];
  const bool same = options_.padding == "same";
  const auto ah = kernels::conv_axis(in_h_, kernel_size_.h, options_.strides.h, options_.dilation_rate.h, same);
  const auto aw = kernels::conv_axis(in_w_, kernel_size_.w, options_.strides.w, options_.dilation_rate.w, same);
  out_h_ = ah.out;
  out_w_ = aw.out;
  pad_top_ = ah.pad_begin;
  pad_bottom_ = ah.pad_end;
  pad_left_ = aw.pad_begin;
  pad_right_ = aw.pad_end;

  const int64_t receptive = kernel_size_.h * kernel_size_.w;
  kernel_ = Tensor({kernel_size_.h, kernel_size_.w, in_c_, filters_});
  kernel_grad_ = Tensor(kernel_.shape());
  initializers::fill(options_.kernel_initializer, kernel_, receptive * in_c_, receptive * filters_, rng);
  if (options_.use_bias) {
    bias_ = Tensor({filters_});
    bias_grad_ = Tensor({filters_});
    initializers::fill(options_.bias_initializer, bias_, receptive * in_c_, receptive * filters_, rng);
  }
  built_ = true;
  return {out_h_, out_w_, filters_};
}

int64_t Conv2D::flops_per_sample() const {
  return 2 * out_h_ * out_w_ * filters_ * kernel_size_.h * kernel_size_.w * in_c_;
}

bool Conv2D::pooling_fits(const Layer& next) const {
  const auto* pool = dynamic_cast<const MaxPooling2D*>(&next);
  return pool && pool->pool_size() == Size2(2, 2) && pool->strides() == Size2(2, 2) && pool->padding() == "valid" &&
         options_.strides == Size2(1, 1) && options_.dilation_rate == Size2(1, 1) &&
         kernel_size_.h * kernel_size_.w * in_c_ <= kernels::kConvPoolMaxReceptive && out_h_ >= 2 && out_w_ >= 2;
}

bool Conv2D::can_fuse_next(const Layer& next) const {
  return activation_ == ActivationKind::ReLU && pooling_fits(next);
}

bool Conv2D::can_fold_pool(const Layer& pool) const {
  return activation_ == ActivationKind::Linear && pooling_fits(pool);
}

kernels::ConvPoolGeometry Conv2D::conv_pool_geometry(int64_t batch) const {
  return {batch,    in_h_,       in_w_,     in_c_,      kernel_size_.h, kernel_size_.w,
          filters_, pad_top_,    pad_bottom_, pad_left_, pad_right_};
}

bool Conv2D::can_fold_next(const Layer& next) const {
  return dynamic_cast<const BatchNormalization*>(&next) && activation_ == ActivationKind::Linear;
}

namespace {
// Numbers each folded kernel made in this process: the convolution's kernel is converted into
// oneDNN's layout again only for a new number (Conv2DKernel::forward's kernel_version).
std::atomic<uint64_t> g_folded_versions{0};

// Whether `values` differ from `seen` at `offset` (bit for bit), copying them there when they do.
bool changed(const float* values, int64_t n, std::vector<float>& seen, size_t offset) {
  float* kept = seen.data() + offset;
  if (std::memcmp(kept, values, size_t(n) * sizeof(float)) == 0) return false;
  std::memcpy(kept, values, size_t(n) * sizeof(float));
  return true;
}
}  // namespace

void Conv2D::fold_next() {
  const auto& norm = static_cast<const BatchNormalization&>(*folded_next_);
  const int64_t F = filters_, weights = kernel_.size();
  const bool bias = options_.use_bias;
  folding_work_.resize(size_t(2 * F));
  float* scale = folding_work_.data();
  float* shift = scale + F;
  norm.inference_scale_shift(scale, shift);
  // Every input compared (no short cut), so that each kept copy is current.
  const size_t from_size = size_t(weights + (bias ? F : 0) + 2 * F);
  bool again = folded_from_.size() != from_size;
  if (again) folded_from_.resize(from_size);
  again = changed(kernel_.data(), weights, folded_from_, 0) | again;
  if (bias) again = changed(bias_.data(), F, folded_from_, size_t(weights)) | again;
  again = changed(scale, 2 * F, folded_from_, size_t(weights + (bias ? F : 0))) | again;
  if (!again) return;
  // The kernel is {kh, kw, in_c, filters}: each filter's weights scaled by its channel's scale.
  folded_kernel_.resize(size_t(weights));
  const float* k = kernel_.data();
  for (int64_t i = 0; i < weights; i += F)
    for (int64_t f = 0; f < F; ++f) folded_kernel_[size_t(i + f)] = k[i + f] * scale[f];
  folded_bias_.resize(size_t(F));
  for (int64_t f = 0; f < F; ++f) folded_bias_[size_t(f)] = (bias ? bias_.data()[f] * scale[f] : 0.f) + shift[f];
  folded_version_ = ++g_folded_versions;
}

bool Conv2D::can_hand_over_bf16() const {
  return options_.dtype == "mixed_bfloat16" && kernels::bf16_supported() &&
         (activation_ == ActivationKind::Linear || activation_ == ActivationKind::ReLU);
}

bool Conv2D::can_hand_over_bf16_in_training() const {
  return can_hand_over_bf16() && activation_ == ActivationKind::Linear;
}

bool Conv2D::can_take_bf16_in_training() const {
  return can_hand_over_bf16() && in_c_ != 1 && !fuses_next_;
}

bool Conv2D::reads_bf16_output_grad() const {
  return wrote_bf16_ && act_ == ActivationKind::Linear && kernel_impl_->reads_bf16_dy();
}

const Tensor& Conv2D::forward(const Tensor& x, bool training) {
  wrote_bf16_ = false;
  const bool x_bf16 = bf16_source_ && bf16_source_->bf16_output();
  const bool y_bf16 = bf16_write_ && bf16_handover();
  if (x_bf16 && (fuses_next_ || (folded_next_ && folds_pool_)))
    throw Error("layer '" + name_ + "': its input was handed over in bfloat16, which its pooling pass does not read");
  if (fuses_next_) {
    // The pooling after this layer runs here (Layer::can_fuse_next); relu always applies, since the
    // graph fuses no model output (whose activation the loss may take as logits). Inference needs
    // no winners (as MaxPooling2D).
    return pooled_forward(x, kernel_.data(), options_.use_bias ? bias_.data() : nullptr,
                          training || backward_follows_);
  }
  if (folded_next_ && folds_pool_) {
    // An inference pass: the normalisation, its relu and the pooling after it (Layer::can_fold_pool),
    // before the output is sized for the unpooled convolution.
    fold_next();
    if (!static_cast<const BatchNormalization&>(*folded_next_).applies_relu())
      throw Error("layer '" + name_ + "': folds a pooling, but no relu after its normalisation");
    return pooled_forward(x, folded_kernel_.data(), folded_bias_.data(), false);
  }
  Tensor& y = output_buffer(y_);
  kernels::Conv2DGeometry g{x.rows(), in_h_,        in_w_,       in_c_,     out_h_,
                            out_w_,   filters_,     kernel_size_.h, kernel_size_.w, options_.strides.h,
                            options_.strides.w, options_.dilation_rate.h, options_.dilation_rate.w,
                            pad_top_, pad_bottom_,  pad_left_,   pad_right_};
  shape_buf_ = {x.rows(), out_h_, out_w_, filters_};  // assigning into a kept vector allocates nothing
  y.resize(shape_buf_);
  act_ = output_logits_ ? ActivationKind::Linear : activation_;
  // relu runs inside the convolution (a oneDNN post-op); other activations in one pass after it.
  fused_relu_ = act_ == ActivationKind::ReLU;
  const float* b = options_.use_bias ? bias_.data() : nullptr;
  if (folded_next_) {
    // An inference pass: the normalisation after this layer, and its relu, applied here
    // (Layer::can_fold_next). Its activation is linear. An Add after the normalisation may be folded
    // too (Layer::can_fold_add).
    fold_next();
    const float* addend = nullptr;
    if (folded_addend_) {
      if (folded_addend_->shape() != y.shape())
        throw ShapeError("layer '" + name_ + "': the Add folded after it has an input of shape " +
                         shape_to_string(folded_addend_->shape()) + ", its output " + shape_to_string(y.shape()));
      addend = folded_addend_->data();
    }
    const bool relu = static_cast<const BatchNormalization&>(*folded_next_).applies_relu() ||
                      (addend && folded_add_relu_);
    wrote_bf16_ = kernel_impl_->forward(g, x.data(), folded_kernel_.data(), folded_bias_.data(), relu, y.data(),
                                        addend, folded_version_, x_bf16, y_bf16);
  } else if (act_ == ActivationKind::Linear || fused_relu_) {
    wrote_bf16_ =
        kernel_impl_->forward(g, x.data(), kernel_.data(), b, fused_relu_, y.data(), nullptr, 0, x_bf16, y_bf16);
  } else {
    const bool keep_z = kernels::activation_needs_preactivation(act_);
    float* out = y.data();
    if (keep_z) {
      z_.resize(shape_buf_);
      out = z_.data();
    }
    kernel_impl_->forward(g, x.data(), kernel_.data(), b, false, out, nullptr, 0, x_bf16);
    kernels::bias_activation_forward(act_, out, nullptr, keep_z ? z_.data() : nullptr, y.data(),
                                     y.size() / filters_, filters_);
  }
  x_.alias(x, x.shape());
  return y;
}

const Tensor& Conv2D::pooled_forward(const Tensor& x, const float* kernel, const float* bias, bool keep_winners) {
  Tensor& y = output_buffer(y_);
  const kernels::ConvPoolGeometry g = conv_pool_geometry(x.rows());
  shape_buf_ = {x.rows(), g.pooled_h(), g.pooled_w(), filters_};
  y.resize(shape_buf_);
  if (!pooled_impl_) pooled_impl_ = std::make_unique<kernels::ConvReluMaxPoolKernel>();
  winner_ready_ = keep_winners;
  if (winner_ready_) winner_.resize(size_t(y.size()));  // within capacity after the first batch
  pooled_impl_->forward(g, x.data(), kernel, bias, y.data(), winner_ready_ ? winner_.data() : nullptr);
  act_ = ActivationKind::ReLU;
  x_.alias(x, x.shape());
  return y;
}

const Tensor& Conv2D::backward(const Tensor& dy) {
  if (fuses_next_) {
    if (!winner_ready_)
      throw Error("layer '" + name() + "': backward needs a forward pass that keeps the pooling's winners (a model's inference pass does not)");
    if (needs_input_grad_)
      throw Error("layer '" + name() + "': fused with its pooling, it computes no input gradient (the graph fuses only a layer that needs none)");
    const kernels::ConvPoolGeometry g = conv_pool_geometry(dy.rows());
    if (trainable_)  // a frozen layer computes no weight gradient
      pooled_impl_->backward_weights(g, x_.data(), y_.data(), winner_.data(), dy.data(), kernel_grad_.data(),
                                     options_.use_bias ? bias_grad_.data() : nullptr);
    return no_grad_;
  }
  kernels::Conv2DGeometry g{dy.rows(), in_h_,        in_w_,       in_c_,     out_h_,
                            out_w_,    filters_,     kernel_size_.h, kernel_size_.w, options_.strides.h,
                            options_.strides.w, options_.dilation_rate.h, options_.dilation_rate.w,
                            pad_top_,  pad_bottom_,  pad_left_,   pad_right_};
  if (wrote_bf16_ && act_ != ActivationKind::Linear)
    throw Error("layer '" + name() + "': backward after a forward that wrote its activated output in bfloat16");
  const bool dy_bf16 = bf16_grad_source_ && bf16_grad_source_->bf16_input_grad();
  if (dy_bf16 && act_ != ActivationKind::Linear)
    throw Error("layer '" + name() + "': its output's gradient came in bfloat16, which its activation's backward does not read");
  const float* dz = dy.data();
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
                         options_.use_bias && trainable_ ? bias_grad_.data() : nullptr, dx, dy_bf16);
  return needs_input_grad_ ? input_grad : no_grad_;
}

std::vector<Param> Conv2D::own_params() {
  std::vector<Param> p;
  p.push_back({"kernel", &kernel_, &kernel_grad_, options_.kernel_regularizer ? &*options_.kernel_regularizer : nullptr});
  if (options_.use_bias)
    p.push_back({"bias", &bias_, &bias_grad_, options_.bias_regularizer ? &*options_.bias_regularizer : nullptr});
  return p;
}

void set_winograd_convolutions(bool allowed) { kernels::set_winograd_allowed(allowed); }
bool winograd_convolutions() { return kernels::winograd_allowed(); }

namespace {
std::atomic<bool> g_bf16_handover{true};
}  // namespace
void set_bf16_handover(bool allowed) { g_bf16_handover = allowed; }
bool bf16_handover() { return g_bf16_handover; }

nlohmann::json Conv2D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["filters"] = filters_;
  c["kernel_size"] = {kernel_size_.h, kernel_size_.w};
  c["strides"] = {options_.strides.h, options_.strides.w};
  c["padding"] = options_.padding;
  c["data_format"] = "channels_last";
  c["dilation_rate"] = {options_.dilation_rate.h, options_.dilation_rate.w};
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
