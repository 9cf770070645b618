// Flatten: reshapes each sample to one dimension; a view, no copy.
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Flatten : public Layer {
  MYELIN_LAYER_MOVABLE(Flatten)
  /// `Flatten()`, or `Flatten(Shape{28, 28})` as a first layer.
  explicit Flatten(std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Flatten"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Shape in_shape_, batch_in_shape_, shape_buf_;  // shapes kept so views allocate nothing
  int64_t features_ = 0;
  Tensor y_, dx_;
};

}  // namespace myelin::layers
