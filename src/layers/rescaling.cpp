#include "myelin/layers/rescaling.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "kernels/cpu/image.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

Rescaling::Rescaling(float scale, float offset, std::optional<Shape> input_shape) : scale_(scale), offset_(offset) {
  if (!std::isfinite(scale) || !std::isfinite(offset))
    throw ValueError("Rescaling: scale and offset must be finite, got scale " + std::to_string(scale) + ", offset " +
                     std::to_string(offset));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Rescaling::plan(const Shape& input_shape) const {
  if (input_shape.empty() || shape_size(input_shape) <= 0)
    throw ShapeError("Rescaling '" + name_ + "' needs a non-empty per-sample input, got " + shape_to_string(input_shape));
  return LayerPlan{input_shape};
}

Shape Rescaling::build(const Shape& input_shape, Rng&) {
  const Shape out = plan(input_shape)->output_shape;
  built_ = true;
  return out;
}

const Tensor& Rescaling::forward(const Tensor& x, bool) {
  y_.resize(x.shape());
  kernels::rescale(x.data(), x.size(), scale_, offset_, y_.data());
  return y_;
}

const Tensor& Rescaling::backward(const Tensor& dy) {
  if (!needs_input_grad_) return no_grad_;
  dx_.resize(dy.shape());
  kernels::rescale(dy.data(), dy.size(), scale_, 0.f, dx_.data());
  return dx_;
}

nlohmann::json Rescaling::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["scale"] = scale_;
  c["offset"] = offset_;
  return c;
}

}  // namespace myelin::layers
