#include "myelin/layers/batch_normalization.hpp"

#include "kernels/cpu/normalization.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/io/config.hpp"

namespace myelin::layers {

BatchNormalization::BatchNormalization(BatchNormalizationOptions options) : options_(std::move(options)) {
  if (!(options_.momentum >= 0.f && options_.momentum <= 1.f))
    throw ValueError("BatchNormalization: momentum must be in [0, 1], got " + std::to_string(options_.momentum));
  if (!(options_.epsilon > 0.f))
    throw ValueError("BatchNormalization: epsilon must be positive, got " + std::to_string(options_.epsilon));
  input_shape_ = options_.input_shape;
  name_ = options_.name;
}

std::optional<LayerPlan> BatchNormalization::plan(const Shape& input_shape) const {
  if (input_shape.empty() || shape_size(input_shape) <= 0)
    throw ShapeError("BatchNormalization '" + name_ + "' needs an input with a channel axis, got " +
                     shape_to_string(input_shape));
  // Keras counts the batch axis: for a per-sample rank r the last axis is -1 or r.
  if (options_.axis != -1 && options_.axis != int(input_shape.size()))
    throw ValueError("BatchNormalization '" + name_ + "': only the last axis is supported (axis=-1 or " +
                     std::to_string(input_shape.size()) + " for input " + shape_to_string(input_shape) + "), got " +
                     std::to_string(options_.axis));
  LayerPlan p{input_shape};
  p.trainable_values = input_shape.back() * ((options_.scale ? 1 : 0) + (options_.center ? 1 : 0));
  p.non_trainable_values = 2 * input_shape.back();  // the moving mean and variance
  // gamma and beta even when fixed, and five per-channel vectors: mean, inv_std, scale and the work pair.
  p.buffer_values = input_shape.back() * (5 + (options_.scale ? 0 : 1) + (options_.center ? 0 : 1));
  return p;
}

Shape BatchNormalization::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  channels_ = input_shape.back();
  per_sample_ = shape_size(input_shape);
  const Shape s{channels_};
  gamma_ = Tensor(s);
  beta_ = Tensor(s);
  moving_mean_ = Tensor(s);
  moving_variance_ = Tensor(s);
  initializers::fill(options_.gamma_initializer, gamma_, channels_, channels_, rng);
  initializers::fill(options_.beta_initializer, beta_, channels_, channels_, rng);
  initializers::fill(options_.moving_mean_initializer, moving_mean_, channels_, channels_, rng);
  initializers::fill(options_.moving_variance_initializer, moving_variance_, channels_, channels_, rng);
  if (!options_.scale) gamma_.fill(1.f);
  if (!options_.center) beta_.fill(0.f);
  if (options_.scale) gamma_grad_ = Tensor(s);
  if (options_.center) beta_grad_ = Tensor(s);
  mean_.assign(channels_, 0.f);
  inv_std_.assign(channels_, 0.f);
  scale_.assign(channels_, 0.f);
  work_.assign(2 * channels_, 0.f);
  built_ = true;
  return input_shape;
}

bool BatchNormalization::can_fuse_next(const Layer& next) const {
  const auto* act = dynamic_cast<const Activation*>(&next);
  return act && act->activation() == ActivationKind::ReLU;
}

void BatchNormalization::inference_scale_shift(float* scale, float* shift) const {
  const int64_t C = channels_;
  kernels::batch_norm_inference_statistics(moving_mean_.data(), moving_variance_.data(), options_.epsilon, shift,
                                           scale, C);  // the mean into shift, 1/sqrt(var + eps) into scale
  for (int64_t c = 0; c < C; ++c) {
    scale[c] *= gamma_.data()[c];
    shift[c] = beta_.data()[c] - shift[c] * scale[c];
  }
}

const Tensor& BatchNormalization::forward(const Tensor& x, bool training) {
  // An inference pass whose convolution before applied this layer (Layer::can_fold_next).
  if (takes_fused_input_) return x;
  Tensor& y = output_buffer(y_);
  const int64_t C = channels_, rows = x.size() / C;
  // Keras 3's rule: a frozen layer normalises with its moving statistics and leaves them alone.
  last_training_ = training && trainable_;
  x_bf16_ = bf16_source_ && bf16_source_->bf16_output();
  const auto* x16 = reinterpret_cast<const uint16_t*>(x.data());
  if (last_training_) {
    float* variance = work_.data();
    if (x_bf16_)
      kernels::batch_norm_statistics(x16, rows, C, options_.epsilon, mean_.data(), variance, inv_std_.data(),
                                     scratch_);
    else
      kernels::batch_norm_statistics(x.data(), rows, C, options_.epsilon, mean_.data(), variance, inv_std_.data(),
                                     scratch_);
    kernels::batch_norm_update_moving(mean_.data(), variance, options_.momentum, moving_mean_.data(),
                                      moving_variance_.data(), C);
  } else {
    kernels::batch_norm_inference_statistics(moving_mean_.data(), moving_variance_.data(), options_.epsilon,
                                             mean_.data(), inv_std_.data(), C);
  }
  y.resize(x.shape());
  // The convolution after multiplies in bfloat16 and would round a float32 y so: it is written so.
  wrote_bf16_ = x_bf16_ && bf16_write_;
  if (wrote_bf16_)
    kernels::batch_norm_forward(x16, mean_.data(), inv_std_.data(), gamma_.data(), beta_.data(), scale_.data(),
                                reinterpret_cast<uint16_t*>(y.data()), rows, C, fuses_next_);
  else if (x_bf16_)
    kernels::batch_norm_forward(x16, mean_.data(), inv_std_.data(), gamma_.data(), beta_.data(), scale_.data(),
                                y.data(), rows, C, fuses_next_);
  else
    kernels::batch_norm_forward(x.data(), mean_.data(), inv_std_.data(), gamma_.data(), beta_.data(), scale_.data(),
                                y.data(), rows, C, fuses_next_);
  x_.alias(x, x.shape());
  return y;
}

const Tensor& BatchNormalization::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  const int64_t C = channels_, rows = dy.size() / C;
  dx.resize(dy.shape());
  // A frozen layer has no gradients (and its forward ran in inference mode).
  float* dgamma = trainable_ && options_.scale ? gamma_grad_.data() : nullptr;
  float* dbeta = trainable_ && options_.center ? beta_grad_.data() : nullptr;
  const float* relu_beta = fuses_next_ ? beta_.data() : nullptr;
  const auto* x16 = reinterpret_cast<const uint16_t*>(x_.data());
  // The convolution before multiplies in bfloat16 and would round a float32 dx so: it is written so,
  // in half the bytes.
  dx_bf16_ = x_bf16_ && bf16_source_->reads_bf16_output_grad();
  if (dx_bf16_)
    kernels::batch_norm_backward(x16, dy.data(), mean_.data(), inv_std_.data(), scale_.data(), last_training_, dgamma,
                                 dbeta, reinterpret_cast<uint16_t*>(dx.data()), rows, C, work_.data(), scratch_,
                                 relu_beta);
  else if (x_bf16_)
    kernels::batch_norm_backward(x16, dy.data(), mean_.data(), inv_std_.data(), scale_.data(), last_training_, dgamma,
                                 dbeta, dx.data(), rows, C, work_.data(), scratch_, relu_beta);
  else
    kernels::batch_norm_backward(x_.data(), dy.data(), mean_.data(), inv_std_.data(), scale_.data(), last_training_,
                                 dgamma, dbeta, dx.data(), rows, C, work_.data(), scratch_, relu_beta);
  return dx;
}

std::vector<Param> BatchNormalization::own_params() {
  std::vector<Param> p;
  if (options_.scale)
    p.push_back({"gamma", &gamma_, &gamma_grad_, options_.gamma_regularizer ? &*options_.gamma_regularizer : nullptr});
  if (options_.center)
    p.push_back({"beta", &beta_, &beta_grad_, options_.beta_regularizer ? &*options_.beta_regularizer : nullptr});
  p.push_back({"moving_mean", &moving_mean_, nullptr, nullptr, false});
  p.push_back({"moving_variance", &moving_variance_, nullptr, nullptr, false});
  return p;
}

nlohmann::json BatchNormalization::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["axis"] = options_.axis;
  c["momentum"] = options_.momentum;
  c["epsilon"] = options_.epsilon;
  c["center"] = options_.center;
  c["scale"] = options_.scale;
  c["beta_initializer"] = io::initializer_to_json(options_.beta_initializer);
  c["gamma_initializer"] = io::initializer_to_json(options_.gamma_initializer);
  c["moving_mean_initializer"] = io::initializer_to_json(options_.moving_mean_initializer);
  c["moving_variance_initializer"] = io::initializer_to_json(options_.moving_variance_initializer);
  c["beta_regularizer"] = io::regularizer_to_json(options_.beta_regularizer);
  c["gamma_regularizer"] = io::regularizer_to_json(options_.gamma_regularizer);
  c["beta_constraint"] = nullptr;
  c["gamma_constraint"] = nullptr;
  return c;
}

}  // namespace myelin::layers
