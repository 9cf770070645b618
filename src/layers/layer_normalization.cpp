#include "myelin/layers/layer_normalization.hpp"

#include "kernels/cpu/normalization.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"

namespace myelin::layers {

LayerNormalization::LayerNormalization(LayerNormalizationOptions options) : options_(std::move(options)) {
  if (!(options_.epsilon > 0.f))
    throw ValueError("LayerNormalization: epsilon must be positive, got " + std::to_string(options_.epsilon));
  // The axis is checked against the input's rank in plan(); 0 is the batch axis whatever the rank.
  if (options_.axis == 0 || options_.axis < -1)
    throw ValueError("LayerNormalization: only the last axis is supported (axis=-1), got axis=" +
                     std::to_string(options_.axis));
  input_shape_ = options_.input_shape;
  name_ = options_.name;
}

std::optional<LayerPlan> LayerNormalization::plan(const Shape& input_shape) const {
  if (input_shape.empty() || shape_size(input_shape) <= 0)
    throw ShapeError("LayerNormalization '" + name_ + "' needs an input with a feature axis, got " +
                     shape_to_string(input_shape));
  // Keras counts the batch axis: for a per-sample rank r the last axis is -1 or r.
  if (options_.axis != -1 && options_.axis != int(input_shape.size()))
    throw ValueError("LayerNormalization '" + name_ + "': only the last axis is supported (axis=-1 or " +
                     std::to_string(input_shape.size()) + " for input " + shape_to_string(with_batch(-1, input_shape), true) +
                     "), got axis=" + std::to_string(options_.axis));
  LayerPlan p{input_shape};
  p.trainable_values = input_shape.back() * ((options_.scale ? 1 : 0) + (options_.center ? 1 : 0));
  return p;
}

Shape LayerNormalization::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  channels_ = input_shape.back();
  per_sample_ = shape_size(input_shape);
  const Shape s{channels_};
  if (options_.scale) {
    gamma_ = Tensor(s);
    gamma_grad_ = Tensor(s);
    initializers::fill(options_.gamma_initializer, gamma_, channels_, channels_, rng);
  }
  if (options_.center) {
    beta_ = Tensor(s);
    beta_grad_ = Tensor(s);
    initializers::fill(options_.beta_initializer, beta_, channels_, channels_, rng);
  }
  built_ = true;
  return input_shape;
}

const Tensor& LayerNormalization::forward(const Tensor& x, bool /*training*/) {
  Tensor& y = output_buffer(y_);
  const int64_t C = channels_, rows = x.size() / C;
  y.resize(x.shape());
  mean_.resize(size_t(rows));  // within capacity after the first batch
  inv_std_.resize(size_t(rows));
  kernels::layer_norm_forward(x.data(), options_.scale ? gamma_.data() : nullptr,
                              options_.center ? beta_.data() : nullptr, options_.epsilon, y.data(), mean_.data(),
                              inv_std_.data(), rows, C);
  x_.alias(x, x.shape());
  return y;
}

const Tensor& LayerNormalization::backward(const Tensor& dy) {
  const int64_t C = channels_, rows = dy.size() / C;
  // A frozen layer has no gradients.
  float* dgamma = trainable_ && options_.scale ? gamma_grad_.data() : nullptr;
  float* dbeta = trainable_ && options_.center ? beta_grad_.data() : nullptr;
  float* dx = nullptr;
  Tensor* out = &no_grad_;
  if (needs_input_grad_) {
    out = &input_grad_buffer(dx_);
    out->resize(dy.shape());
    dx = out->data();
  }
  kernels::layer_norm_backward(x_.data(), dy.data(), mean_.data(), inv_std_.data(),
                               options_.scale ? gamma_.data() : nullptr, dgamma, dbeta, dx, rows, C, scratch_);
  return *out;
}

std::vector<Param> LayerNormalization::own_params() {
  std::vector<Param> p;
  if (options_.scale)
    p.push_back({"gamma", &gamma_, &gamma_grad_, options_.gamma_regularizer ? &*options_.gamma_regularizer : nullptr});
  if (options_.center)
    p.push_back({"beta", &beta_, &beta_grad_, options_.beta_regularizer ? &*options_.beta_regularizer : nullptr});
  return p;
}

nlohmann::json LayerNormalization::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["axis"] = options_.axis;
  c["epsilon"] = options_.epsilon;
  c["center"] = options_.center;
  c["scale"] = options_.scale;
  c["rms_scaling"] = false;
  c["beta_initializer"] = io::initializer_to_json(options_.beta_initializer);
  c["gamma_initializer"] = io::initializer_to_json(options_.gamma_initializer);
  c["beta_regularizer"] = io::regularizer_to_json(options_.beta_regularizer);
  c["gamma_regularizer"] = io::regularizer_to_json(options_.gamma_regularizer);
  c["beta_constraint"] = nullptr;
  c["gamma_constraint"] = nullptr;
  return c;
}

}  // namespace myelin::layers
