// RandomRotation: rotates each image by a random angle while training, as Keras's layers.RandomRotation
// (channels_last); the identity at inference.
#pragma once
#include "myelin/layers/random_transform.hpp"

namespace myelin::layers {

class RandomRotation : public RandomTransform {
  MYELIN_LAYER_MOVABLE(RandomRotation)
  /// factor is a fraction of a full turn: each image turns by an angle drawn uniformly from
  /// [lower * 360, upper * 360] degrees, counter-clockwise for positive angles, about the image's
  /// centre ((W - 1) / 2, (H - 1) / 2). One number f in [-1, 1] gives (-|f|, |f|); a pair is sorted
  /// and refused only when lower > 1 or upper < -1 (Keras's rule), so RandomRotation({0.25, 0.25})
  /// always turns by 90 degrees. fill_mode, interpolation and fill_value as RandomTransform; with a
  /// seed the draws come from the layer's own stream (AugmentationRng). Bad arguments are ValueErrors naming the layer.
  explicit RandomRotation(Factor factor, std::string fill_mode = "reflect", std::string interpolation = "bilinear",
                          std::optional<int64_t> seed = std::nullopt, float fill_value = 0.f,
                          std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomRotation"; }
  nlohmann::json get_config() const override;
  /// The (lower, upper) range of the factor, as Keras's config holds it.
  std::pair<double, double> factor() const { return range_; }

 protected:
  void draw(Rng& rng, double height, double width, float* transform) override;

 private:
  std::pair<double, double> range_;
};

}  // namespace myelin::layers
