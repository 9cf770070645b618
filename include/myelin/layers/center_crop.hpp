// CenterCrop: keeps the central part of each image, as Keras's layers.CenterCrop (channels_last).
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class CenterCrop : public Layer {
  MYELIN_LAYER_MOVABLE(CenterCrop)
  /// Images {H, W, C} to {height, width, C}: the window starting at row (H - height) / 2 and column
  /// (W - width) / 2, rounded down. An image smaller than the target in either direction is instead
  /// resized up as Keras does: its largest centred window with the aspect ratio height : width,
  /// bilinearly (Resizing(height, width, "bilinear", true)). Sizes below 1 are a ValueError.
  /// Backward: dy goes back to the pixels it came from (zero elsewhere).
  CenterCrop(int64_t height, int64_t width, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "CenterCrop"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 private:
  int64_t height_, width_;
  // The part of the input kept, set by build(); a window other than height x width is resized.
  int64_t in_h_ = 0, in_w_ = 0, channels_ = 0, top_ = 0, left_ = 0, window_h_ = 0, window_w_ = 0;
  Tensor y_, dx_, no_grad_;
  Shape shape_buf_;
};

}  // namespace myelin::layers
