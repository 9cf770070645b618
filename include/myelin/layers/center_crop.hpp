// CenterCrop: keeps the central part of each image, as Keras's layers.CenterCrop (channels_last).
#pragma once
#include "myelin/layers/image_window.hpp"

namespace myelin::layers {

class CenterCrop : public ImageWindow {
  MYELIN_LAYER_MOVABLE(CenterCrop)
  /// Images {H, W, C} to {height, width, C}: the window starting at row (H - height) / 2 and column
  /// (W - width) / 2, rounded down. An image smaller than the target in either direction is instead
  /// resized up as Keras does: its largest centred window with the aspect ratio height : width,
  /// bilinearly (Resizing(height, width, "bilinear", true)). Sizes below 1 are a ValueError.
  /// Backward: dy goes back to the pixels it came from (zero elsewhere).
  CenterCrop(int64_t height, int64_t width, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "CenterCrop"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  nlohmann::json get_config() const override;
};

}  // namespace myelin::layers
