// Activation: applies an activation function on its own (Keras's layers.Activation).
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Activation : public Layer {
  MYELIN_LAYER_MOVABLE(Activation)
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // Keras: supports_masking
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `Activation("softmax")`.
  explicit Activation(const std::string& activation, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Activation"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  ActivationKindOpt output_activation() const override { return kind_; }
  nlohmann::json get_config() const override;
  ActivationKind activation() const { return kind_; }

 private:
  ActivationKind kind_;
  ActivationKind act_ = ActivationKind::Linear;  // the one the last forward applied
  int64_t cols_ = 0;
  Tensor z_, y_, dx_;
};

}  // namespace myelin::layers
