// Dropout: during training zeroes each input with probability `rate` and scales the rest by
// 1/(1-rate) (inverted dropout, as Keras), so inference is the identity.
#pragma once
#include <cstdint>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Dropout : public Layer {
  MYELIN_LAYER_MOVABLE(Dropout)
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // Keras: supports_masking
  /// `Dropout(0.5)`; rate in [0, 1).
  explicit Dropout(float rate, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Dropout"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  void reseed(Rng& rng) override { rng_ = rng.split(); }
  nlohmann::json get_config() const override;
  float rate() const { return rate_; }

 private:
  float rate_;
  Rng rng_{0};  // seeded from the model's generator at build time
  bool last_training_ = false;
  Tensor mask_, y_, dx_;  // mask holds 0 or 1/(1-rate)
};

}  // namespace myelin::layers
