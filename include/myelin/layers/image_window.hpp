// ImageWindow: what Resizing and CenterCrop share: a window of each image (channels_last) resized
// to a fixed height and width, and the transposed resize as backward.
#pragma once
#include <optional>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class ImageWindow : public Layer {
 public:
  /// Per-sample input {H, W, C} to {height, width, C}; any other input rank is a ShapeError.
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 protected:
  /// `kind` names the layer class in errors; sizes below 1 are a ValueError.
  ImageWindow(const char* kind, int64_t height, int64_t width, std::optional<Shape> input_shape);
  /// The window of the input kept (build): the whole image, a centred crop, or Keras's
  /// crop_to_aspect_ratio window (the largest centred one with the aspect ratio height : width).
  enum class Window { Whole, CentredCrop, AspectRatio };
  Shape build_window(const Shape& input_shape, Window window);
  /// The window forward() reads and backward() writes, in input pixels; set_window moves it (a
  /// window the size of the output is a plain crop), as RandomCrop does for each training batch.
  struct Box {
    int64_t top, left, height, width;
  };
  Box window() const { return {top_, left_, window_h_, window_w_}; }
  void set_window(const Box& b) {
    top_ = b.top;
    left_ = b.left;
    window_h_ = b.height;
    window_w_ = b.width;
  }
  int64_t input_height() const { return in_h_; }
  int64_t input_width() const { return in_w_; }

  int64_t height_, width_;
  bool nearest_ = false;  // else bilinear

 private:
  int64_t in_h_ = 0, in_w_ = 0, channels_ = 0, top_ = 0, left_ = 0, window_h_ = 0, window_w_ = 0;
  Tensor y_, dx_, no_grad_;
  Shape shape_buf_;
};

}  // namespace myelin::layers
