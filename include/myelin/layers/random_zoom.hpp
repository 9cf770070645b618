// RandomZoom: zooms each image in or out by a random amount while training, as Keras's
// layers.RandomZoom (channels_last); the identity at inference.
#pragma once
#include "myelin/layers/random_transform.hpp"

namespace myelin::layers {

class RandomZoom : public RandomTransform {
  MYELIN_LAYER_MOVABLE(RandomZoom)
  /// Each image is scaled about its centre: the output pixel (x, y) reads the input at
  /// (cx + zx (x - cx), cy + zy (y - cy)), cx = (W - 1) / 2, cy = (H - 1) / 2, with zy = 1 + a draw from
  /// height_factor's range and zx = 1 + a draw from width_factor's, or zx = zy when width_factor is
  /// not given (the aspect ratio is kept). A factor above 0 zooms out (the picture shrinks), below 0
  /// zooms in. Factors: one number f gives (-|f|, |f|), a pair is sorted; every number must lie in
  /// (-1, 1]. fill_mode, interpolation, fill_value and seed as RandomTransform. Bad arguments are
  /// ValueErrors naming the layer.
  explicit RandomZoom(Factor height_factor, std::optional<Factor> width_factor = std::nullopt,
                      std::string fill_mode = "reflect", std::string interpolation = "bilinear",
                      std::optional<int64_t> seed = std::nullopt, float fill_value = 0.f,
                      std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomZoom"; }
  nlohmann::json get_config() const override;

 protected:
  void draw(Rng& rng, double height, double width, float* transform) override;

 private:
  Factor height_factor_;
  std::optional<Factor> width_factor_;
  std::pair<double, double> height_range_, width_range_;
};

}  // namespace myelin::layers
