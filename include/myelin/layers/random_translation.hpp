// RandomTranslation: shifts each image by a random offset while training, as Keras's
// layers.RandomTranslation (channels_last); the identity at inference.
#pragma once
#include "myelin/layers/random_transform.hpp"

namespace myelin::layers {

class RandomTranslation : public RandomTransform {
  MYELIN_LAYER_MOVABLE(RandomTranslation)
  /// Each image moves down by dy = H * a draw from height_factor's range and right by dx = W * a draw
  /// from width_factor's (fractions of the size, not rounded to whole pixels): the output pixel
  /// (x, y) reads the input at (x - dx, y - dy). Factors: one number f gives (-|f|, |f|), a pair is
  /// sorted; every number must lie in [-1, 1]. fill_mode, interpolation, fill_value and seed as
  /// RandomTransform. Bad arguments are ValueErrors naming the layer.
  RandomTranslation(Factor height_factor, Factor width_factor, std::string fill_mode = "reflect",
                    std::string interpolation = "bilinear", std::optional<int64_t> seed = std::nullopt,
                    float fill_value = 0.f, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomTranslation"; }
  nlohmann::json get_config() const override;

 protected:
  void draw(Rng& rng, double height, double width, float* transform) override;

 private:
  Factor height_factor_, width_factor_;
  std::pair<double, double> height_range_, width_range_;
};

}  // namespace myelin::layers
