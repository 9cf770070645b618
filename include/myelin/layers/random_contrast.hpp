// RandomContrast: changes each image's contrast by a random factor while training, as Keras's
// layers.RandomContrast (channels_last); the identity at inference.
#pragma once
#include "myelin/layers/random_color.hpp"

namespace myelin::layers {

class RandomContrast : public RandomColor {
  MYELIN_LAYER_MOVABLE(RandomContrast)
  /// Each image draws one contrast factor c uniformly from [1 - lower, 1 + upper] and every value x
  /// of channel k becomes clip((x - m) * c + m, value_range), m the mean of channel k over the image.
  /// The (lower, upper) range is Keras 3's: one number f in [0, 1] gives (0, f), so contrast is only
  /// raised (Keras's docstring says (f, f); its code, followed here, gives (0, f)); a pair is sorted
  /// and refused only when lower > 1 or upper < 0, so RandomContrast({-0.5, 0.5}) always multiplies
  /// the contrast by 1.5. Bad arguments are ValueErrors naming the layer.
  explicit RandomContrast(Factor factor, std::pair<float, float> value_range = {0.f, 255.f},
                          std::optional<int64_t> seed = std::nullopt, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomContrast"; }

 protected:
  float draw(Rng& rng) const override;
  void apply(int64_t batch, const float* draws, const float* x, float* y, float* pass) const override;
  void apply_backward(int64_t batch, const float* draws, const float* pass, const float* dy, float* dx) const override;
};

}  // namespace myelin::layers
