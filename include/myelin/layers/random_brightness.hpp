// RandomBrightness: shifts each image's values by a random amount while training, as Keras's
// layers.RandomBrightness (channels_last); the identity at inference.
#pragma once
#include "myelin/layers/random_color.hpp"

namespace myelin::layers {

class RandomBrightness : public RandomColor {
  MYELIN_LAYER_MOVABLE(RandomBrightness)
  /// Each image draws d uniformly from [lower, upper] and every value x becomes
  /// clip(x + d * (high - low), low, high), (low, high) = value_range: d = -1 turns the image to low
  /// (black), d = 1 to high (white). One number f in [-1, 1] gives (-|f|, |f|); a pair is sorted and
  /// refused only when lower > 1 or upper < -1. Bad arguments are ValueErrors naming the layer.
  explicit RandomBrightness(Factor factor, std::pair<float, float> value_range = {0.f, 255.f},
                            std::optional<int64_t> seed = std::nullopt,
                            std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomBrightness"; }

 protected:
  float draw(Rng& rng) const override;
  void apply(int64_t batch, const float* draws, const float* x, float* y, float* pass) const override;
  void apply_backward(int64_t batch, const float* draws, const float* pass, const float* dy, float* dx) const override;
};

}  // namespace myelin::layers
