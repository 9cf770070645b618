// Reshape: gives each sample a new shape of the same size, as Keras's layers.Reshape; one entry of
// target_shape may be -1 (inferred). A view: no copy.
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Reshape : public Layer {
  MYELIN_LAYER_MOVABLE(Reshape)
  /// `Reshape({7, 7, 16})`, `Reshape({-1, 4})`.
  explicit Reshape(Shape target_shape, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Reshape"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  const Shape& target_shape() const { return target_; }

 private:
  Shape target_, out_shape_, in_shape_, shape_buf_;
  Tensor y_, dx_;
};

}  // namespace myelin::layers
