// Masking: marks the padded steps of a sequence, as Keras's layers.Masking.
//
// On input (batch, steps, features), a step is padding when every one of its features equals
// mask_value (Keras's default 0.0). The output is the input with the padded steps set to 0, and it
// carries a mask (Layer::MaskFlow), 1 at the steps that hold data, which the layers after it follow:
// recurrent layers skip the padded steps, GlobalAveragePooling1D and attention leave them out.
// backward passes dy through at the data steps and 0 at the padded ones.
#pragma once
#include <optional>
#include <string>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Masking : public Layer {
  MYELIN_LAYER_MOVABLE(Masking)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `Masking()`, `Masking(-1.0f)`, `Masking(0.f, Shape{steps, features})` as a first layer.
  explicit Masking(float mask_value = 0.f, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Masking"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  MaskFlow mask_flow() const override { return MaskFlow::Own; }
  /// [batch, steps] of the last forward: 1 where a step holds data.
  const Tensor* output_mask() const override { return &mask_; }
  float mask_value() const { return mask_value_; }

 private:
  float mask_value_;
  int64_t steps_ = 0, features_ = 0;
  Tensor y_, dx_, mask_;
  Shape mask_shape_;
};

}  // namespace myelin::layers
