// Input: declares a model's per-sample input shape, as `keras.Input(shape=...)` in a Sequential.
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Input : public Layer {
 public:
  /// `Input({28, 28, 1})`.
  explicit Input(Shape shape);
  std::string class_name() const override { return "InputLayer"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool) override { return x; }
  const Tensor& backward(const Tensor& dy) override { return dy; }
};

}  // namespace myelin::layers
