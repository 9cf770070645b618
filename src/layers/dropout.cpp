#include "myelin/layers/dropout.hpp"

#include <nlohmann/json.hpp>

#include "myelin/error.hpp"

namespace myelin::layers {

Dropout::Dropout(float rate, std::optional<Shape> input_shape) : rate_(rate) {
  if (!(rate >= 0.f && rate < 1.f)) throw ValueError("Dropout: rate must be in [0, 1), got " + std::to_string(rate));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Dropout::plan(const Shape& input_shape) const { return LayerPlan{input_shape}; }

Shape Dropout::build(const Shape& input_shape, Rng& rng) {
  reseed(rng);
  built_ = true;
  return input_shape;
}

const Tensor& Dropout::forward(const Tensor& x, bool training) {
  last_training_ = training && rate_ > 0.f;
  if (!last_training_) return x;
  mask_.resize(x.shape());
  y_.resize(x.shape());
  const float keep_scale = 1.f / (1.f - rate_);
  // 24 random bits per element are plenty to resolve the rate.
  const uint32_t threshold = static_cast<uint32_t>(double(rate_) * (1u << 24));
  for (int64_t i = 0; i < x.size(); ++i) {
    const uint32_t r = static_cast<uint32_t>(rng_.next_u64() >> 40);
    mask_[i] = r >= threshold ? keep_scale : 0.f;
    y_[i] = x[i] * mask_[i];
  }
  return y_;
}

const Tensor& Dropout::backward(const Tensor& dy) {
  if (!last_training_) return dy;
  dx_.resize(dy.shape());
  for (int64_t i = 0; i < dy.size(); ++i) dx_[i] = dy[i] * mask_[i];
  return dx_;
}

nlohmann::json Dropout::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["rate"] = rate_;
  return c;
}

}  // namespace myelin::layers
