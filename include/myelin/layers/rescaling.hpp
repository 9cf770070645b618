// Rescaling: multiplies every input value by a scale and adds an offset, as Keras's
// layers.Rescaling (pixel values 0..255 to 0..1 with Rescaling(1.f / 255)).
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Rescaling : public Layer {
  MYELIN_LAYER_MOVABLE(Rescaling)
  /// y = x * scale + offset, element by element, on inputs of any shape. Keras's Rescaling(scale,
  /// offset=0.0) with scalar arguments (Keras's per-channel arrays are not supported). A scale or
  /// offset that is not finite is a ValueError.
  explicit Rescaling(float scale, float offset = 0.f, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Rescaling"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  /// dx = dy * scale.
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  float scale() const { return scale_; }
  float offset() const { return offset_; }

 private:
  float scale_, offset_;
  Tensor y_, dx_, no_grad_;
};

}  // namespace myelin::layers
