#include "myelin/layers/flatten.hpp"

namespace myelin::layers {

Flatten::Flatten(std::optional<Shape> input_shape) { input_shape_ = std::move(input_shape); }

std::optional<LayerPlan> Flatten::plan(const Shape& input_shape) const {
  return LayerPlan{{shape_size(input_shape)}};
}

Shape Flatten::build(const Shape& input_shape, Rng&) {
  in_shape_ = input_shape;
  batch_in_shape_ = with_batch(0, input_shape);
  shape_buf_ = {0, 0};
  features_ = shape_size(input_shape);
  built_ = true;
  return {features_};
}

const Tensor& Flatten::forward(const Tensor& x, bool) {
  shape_buf_ = {x.rows(), features_};
  y_.alias(x, shape_buf_);
  return y_;
}

const Tensor& Flatten::backward(const Tensor& dy) {
  batch_in_shape_[0] = dy.rows();
  dx_.alias(dy, batch_in_shape_);
  return dx_;
}

}  // namespace myelin::layers
