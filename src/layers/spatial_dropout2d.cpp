#include "myelin/layers/spatial_dropout2d.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/dropout.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

SpatialDropout2D::SpatialDropout2D(float rate, std::optional<Shape> input_shape) : rate_(rate) {
  if (!(rate >= 0.f && rate < 1.f))
    throw ValueError("SpatialDropout2D: rate must be in [0, 1), got " + std::to_string(rate));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> SpatialDropout2D::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError("SpatialDropout2D '" + name_ +
                     "' needs a per-sample input of shape (height, width, channels), got " + shape_to_string(input_shape));
  return LayerPlan{input_shape};
}

Shape SpatialDropout2D::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  hw_ = input_shape[0] * input_shape[1];
  channels_ = input_shape[2];
  reseed(rng);
  built_ = true;
  return input_shape;
}

const Tensor& SpatialDropout2D::forward(const Tensor& x, bool training) {
  last_training_ = training && rate_ > 0.f;
  if (!last_training_) return x;
  const int64_t N = x.rows(), C = channels_;
  mask_shape_ = {N, C};
  mask_.resize(mask_shape_);
  y_.resize(x.shape());
  kernels::dropout_forward(rng_, rate_, x.data(), mask_.data(), y_.data(), N, hw_, C);
  return y_;
}

const Tensor& SpatialDropout2D::backward(const Tensor& dy) {
  if (!last_training_) return dy;
  dx_.resize(dy.shape());
  kernels::dropout_apply(dy.data(), mask_.data(), dx_.data(), dy.rows(), hw_, channels_);
  return dx_;
}

nlohmann::json SpatialDropout2D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["rate"] = rate_;
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
