// RandomCrop: crops each batch at a random place while training, as Keras's layers.RandomCrop
// (channels_last).
#pragma once
#include "myelin/layers/augmentation.hpp"
#include "myelin/layers/image_window.hpp"

namespace myelin::layers {

class RandomCrop : public ImageWindow {
  MYELIN_LAYER_MOVABLE(RandomCrop)
  /// Images {H, W, C} to {height, width, C}. Training, when the image is larger than the target in
  /// both directions (H > height and W > width): a height x width window at a random offset, drawn
  /// uniformly among all (H - height + 1) x (W - width + 1) places, the same for every image of the
  /// batch (Keras's rule). Otherwise, and at inference: the largest centred window with the aspect
  /// ratio height : width, resized bilinearly to height x width (Resizing(height, width, "bilinear",
  /// true); an image smaller than the target is resized up). Keras 3 documents this inference
  /// behaviour; its code currently returns the input unchanged there (keras-team/keras#21868), which a
  /// model with a fixed output shape cannot do. Sizes below 1 are a ValueError. With a seed the draws
  /// come from the layer's own stream (AugmentationRng). Backward: dy goes back to the pixels it came from.
  RandomCrop(int64_t height, int64_t width, std::optional<int64_t> seed = std::nullopt,
             std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomCrop"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  const Tensor& forward(const Tensor& x, bool training) override;
  void reseed(Rng& rng) override { rng_.reseed(rng); }
  bool is_augmentation() const override { return true; }
  nlohmann::json get_config() const override;
  const std::optional<int64_t>& seed() const { return rng_.seed(); }

 private:
  AugmentationRng rng_;
  Box inference_window_{};
};

}  // namespace myelin::layers
