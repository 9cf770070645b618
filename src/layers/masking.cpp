#include "myelin/layers/masking.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/masking.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

Masking::Masking(float mask_value, std::optional<Shape> input_shape) : mask_value_(mask_value) {
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Masking::plan(const Shape& input_shape) const {
  // One mask value per step: the graph's masks are (batch, steps).
  if (input_shape.size() != 2 || input_shape[0] <= 0 || input_shape[1] <= 0)
    throw ShapeError("Masking '" + name_ + "' needs input of shape (batch, steps, features), got " +
                     shape_to_string(with_batch(-1, input_shape), true));
  return LayerPlan{input_shape};
}

Shape Masking::build(const Shape& input_shape, Rng&) {
  plan(input_shape);
  steps_ = input_shape[0];
  features_ = input_shape[1];
  built_ = true;
  return input_shape;
}

const Tensor& Masking::forward(const Tensor& x, bool) {
  if (x.ndim() != 3 || x.dim(1) != steps_ || x.dim(2) != features_)
    throw ShapeError("Masking '" + name_ + "' built for " + shape_to_string(with_batch(-1, {steps_, features_}), true) +
                     " got " + shape_to_string(x.shape()));
  Tensor& y = output_buffer(y_);
  y.resize(x.shape());
  mask_shape_ = {x.dim(0), steps_};  // assigning into a kept vector allocates nothing after the first batch
  mask_.resize(mask_shape_);
  kernels::masking_forward(x.dim(0) * steps_, features_, mask_value_, x.data(), y.data(), mask_.data());
  return y;
}

const Tensor& Masking::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(dy.shape());
  kernels::masking_backward(dy.dim(0) * steps_, features_, mask_.data(), dy.data(), dx.data());
  return dx;
}

nlohmann::json Masking::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["mask_value"] = mask_value_;
  return c;
}

}  // namespace myelin::layers
