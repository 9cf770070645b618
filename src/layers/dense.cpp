#include "myelin/layers/dense.hpp"

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/gemm.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/mixed_precision.hpp"

namespace myelin::layers {

Dense::Dense(int64_t units, const std::string& activation, DenseOptions options)
    : units_(units), activation_(activation_from_name(activation)), options_(std::move(options)) {
  if (units <= 0) throw ValueError("Dense: units must be positive, got " + std::to_string(units));
  input_shape_ = options_.input_shape;
  name_ = options_.name;
  options_.dtype = mixed_precision::layer_policy(options_.dtype, "Dense");
  bf16_ = options_.dtype == "mixed_bfloat16" && kernels::bf16_supported();
}

namespace {
// The layer's products: float32, or bfloat16 operands with float32 accumulation under mixed_bfloat16.
void product(bool bf16, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
             const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (bf16) kernels::gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
  else kernels::gemm(ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc);
}
}  // namespace

std::optional<LayerPlan> Dense::plan(const Shape& input_shape) const {
  if (input_shape.empty() || input_shape.back() <= 0)
    throw ShapeError("Dense '" + name_ + "' needs an input with a last dimension, got " + shape_to_string(input_shape));
  LayerPlan p{input_shape};
  p.output_shape.back() = units_;
  p.trainable_values = shape_size({input_shape.back(), units_}) + (options_.use_bias ? units_ : 0);
  return p;
}

Shape Dense::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  in_features_ = input_shape.back();
  rows_per_sample_ = shape_size(input_shape) / in_features_;
  kernel_ = Tensor({in_features_, units_});
  kernel_grad_ = Tensor({in_features_, units_});
  initializers::fill(options_.kernel_initializer, kernel_, in_features_, units_, rng);
  if (options_.use_bias) {
    bias_ = Tensor({units_});
    bias_grad_ = Tensor({units_});
    initializers::fill(options_.bias_initializer, bias_, in_features_, units_, rng);
  }
  out_shape_ = input_shape;
  out_shape_.back() = units_;
  built_ = true;
  return out_shape_;
}

const Tensor& Dense::forward(const Tensor& x, bool training) {
  Tensor& y = output_buffer(y_);
  const int64_t rows = x.size() / in_features_;
  shape_buf_ = x.shape();  // assigning into a kept vector allocates nothing after the first batch
  shape_buf_.back() = units_;
  Shape& s = shape_buf_;
  y.resize(s);
  act_ = output_logits_ ? ActivationKind::Linear : activation_;
  const bool keep_z = kernels::activation_needs_preactivation(act_);
  if (keep_z) z_.resize(s);
  // Bias and activation in one pass over rows of the product's output, in place.
  const auto bias_activation = [&](int64_t r0, int64_t count) {
    float* out = y.data() + r0 * units_;
    kernels::bias_activation_forward(act_, out, options_.use_bias ? bias_.data() : nullptr,
                                     keep_z ? z_.data() + r0 * units_ : nullptr, out, count, units_);
  };
  if (bf16_) {
    // Inference repeats the same weights: their rounded copy is kept while they stay the same bit
    // for bit (the 576x64 kernel of the CNN's Dense took 7.6 us to round, against 4.6 us for its
    // batch-1 product). Training changes them every step, so it rounds them on every call.
    // The bias and activation run on each block of rows as the product finishes it.
    if (training) kernel_rounded_from_.clear();  // kernel_bf16_ is about to hold other weights
    const bool keep_x = training && trainable_;
    if (keep_x && !x_bf16_) x_bf16_ = std::make_shared<kernels::RoundedInput>();
    kernels::dense_bf16(rows, units_, in_features_, x.data(), in_features_, kernel_.data(),
                        training ? nullptr : &kernel_rounded_from_, kernel_bf16_, y.data(), units_, bias_activation,
                        keep_x ? x_bf16_.get() : nullptr);
    if (!keep_x && x_bf16_) x_bf16_->clear();
  } else {
    product(false, false, false, rows, units_, in_features_, x.data(), in_features_, kernel_.data(), units_, y.data(),
            units_);
    bias_activation(0, rows);
  }
  x_.alias(x, x.shape());
  return y;
}

const Tensor& Dense::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  const int64_t rows = dy.size() / units_;
  const float* dz = dy.data();
  if (act_ != ActivationKind::Linear) {
    dz_.resize(dy.shape());
    kernels::activation_backward(act_, dy.data(), y_.data(), z_.data(), dz_.data(), rows, units_);
    dz = dz_.data();
  }
  // dW = x^T · dz, db = column sums of dz (not for a frozen layer), dx = dz · W^T.
  if (trainable_) {
    if (bf16_) {
      kernels::weight_gradient_bf16(rows, in_features_, units_, x_.data(), in_features_, dz, units_,
                                    kernel_grad_.data(), units_, x_bf16_.get());
    } else {
      product(false, true, false, in_features_, units_, rows, x_.data(), in_features_, dz, units_,
              kernel_grad_.data(), units_);
    }
    if (options_.use_bias) kernels::column_sums(dz, bias_grad_.data(), rows, units_);
  }
  if (!needs_input_grad_) {
    return no_grad_;
  }
  dx.resize(x_.shape());
  product(bf16_, false, true, rows, in_features_, units_, dz, units_, kernel_.data(), units_, dx.data(), in_features_);
  return dx;
}

std::vector<Param> Dense::own_params() {
  std::vector<Param> p;
  p.push_back({"kernel", &kernel_, &kernel_grad_, options_.kernel_regularizer ? &*options_.kernel_regularizer : nullptr});
  if (options_.use_bias)
    p.push_back({"bias", &bias_, &bias_grad_, options_.bias_regularizer ? &*options_.bias_regularizer : nullptr});
  return p;
}

nlohmann::json Dense::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["units"] = units_;
  c["activation"] = activation_name(activation_);
  c["use_bias"] = options_.use_bias;
  c["kernel_initializer"] = io::initializer_to_json(options_.kernel_initializer);
  c["bias_initializer"] = io::initializer_to_json(options_.bias_initializer);
  c["kernel_regularizer"] = io::regularizer_to_json(options_.kernel_regularizer);
  c["bias_regularizer"] = io::regularizer_to_json(options_.bias_regularizer);
  // Written only when not the default, so float32 configs stay as they were.
  if (options_.dtype != "float32") c["dtype"] = mixed_precision::policy_to_config(options_.dtype);
  return c;
}

}  // namespace myelin::layers
