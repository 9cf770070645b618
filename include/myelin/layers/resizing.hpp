// Resizing: resizes each image to a fixed height and width, as Keras's layers.Resizing
// (channels_last; TensorFlow's tf.image.resize with half-pixel centres and no antialiasing).
#pragma once
#include <string>

#include "myelin/layers/image_window.hpp"

namespace myelin::layers {

class Resizing : public ImageWindow {
  MYELIN_LAYER_MOVABLE(Resizing)
  /// Images {H, W, C} to {height, width, C}. interpolation: "bilinear" (PyTorch's
  /// interpolate(mode="bilinear", align_corners=False)) or "nearest" (the source pixel
  /// floor((i + 0.5) * H / height), PyTorch's "nearest-exact"); Keras's other methods are a
  /// ValueError, as are sizes below 1. With crop_to_aspect_ratio, the largest centred window of each
  /// image with the aspect ratio height : width is resized instead of the whole image, so the
  /// picture is not distorted. Differentiable: the gradient goes back to the source pixels with the
  /// interpolation's weights (zero outside the window).
  Resizing(int64_t height, int64_t width, std::string interpolation = "bilinear", bool crop_to_aspect_ratio = false,
           std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "Resizing"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  nlohmann::json get_config() const override;
  const std::string& interpolation() const { return interpolation_; }
  bool crop_to_aspect_ratio() const { return crop_to_aspect_ratio_; }

 private:
  std::string interpolation_;
  bool crop_to_aspect_ratio_;
};

}  // namespace myelin::layers
