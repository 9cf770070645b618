#include "myelin/layers/image_window.hpp"

#include "kernels/cpu/image.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

ImageWindow::ImageWindow(const char* kind, int64_t height, int64_t width, std::optional<Shape> input_shape)
    : height_(height), width_(width) {
  if (height < 1 || width < 1)
    throw ValueError(std::string(kind) + ": height and width must be at least 1, got " + std::to_string(height) +
                     " x " + std::to_string(width));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> ImageWindow::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError(class_name() + " '" + name_ + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(input_shape));
  return LayerPlan{{height_, width_, input_shape[2]}};
}

Shape ImageWindow::build_window(const Shape& input_shape, Window window) {
  const Shape out = plan(input_shape)->output_shape;
  kernels::ResizeWindow r{0, input_shape[0], input_shape[1], input_shape[2], 0, 0, input_shape[0], input_shape[1],
                          height_, width_};
  if (window == Window::CentredCrop && r.in_h >= height_ && r.in_w >= width_) {
    r.top = (r.in_h - height_) / 2;
    r.left = (r.in_w - width_) / 2;
    r.window_h = height_;
    r.window_w = width_;
  } else if (window != Window::Whole) {
    kernels::set_aspect_ratio_window(r);  // also CenterCrop on an image smaller than the target, as Keras
  }
  in_h_ = r.in_h;
  in_w_ = r.in_w;
  channels_ = r.channels;
  top_ = r.top;
  left_ = r.left;
  window_h_ = r.window_h;
  window_w_ = r.window_w;
  built_ = true;
  return out;
}

namespace {
kernels::ResizeWindow geometry(int64_t batch, int64_t in_h, int64_t in_w, int64_t channels, int64_t top, int64_t left,
                               int64_t window_h, int64_t window_w, int64_t height, int64_t width, bool nearest) {
  return {batch,  in_h,   in_w,  channels, top, left, window_h, window_w,
          height, width, nearest ? kernels::ResizeInterpolation::nearest : kernels::ResizeInterpolation::bilinear};
}
}  // namespace

const Tensor& ImageWindow::forward(const Tensor& x, bool) {
  const auto r = geometry(x.rows(), in_h_, in_w_, channels_, top_, left_, window_h_, window_w_, height_, width_, nearest_);
  shape_buf_ = {r.batch, height_, width_, channels_};
  y_.resize(shape_buf_);
  kernels::resize_forward(r, x.data(), y_.data());
  return y_;
}

const Tensor& ImageWindow::backward(const Tensor& dy) {
  if (!needs_input_grad_) return no_grad_;
  const auto r = geometry(dy.rows(), in_h_, in_w_, channels_, top_, left_, window_h_, window_w_, height_, width_, nearest_);
  shape_buf_ = {r.batch, in_h_, in_w_, channels_};
  dx_.resize(shape_buf_);
  kernels::resize_backward(r, dy.data(), dx_.data());
  return dx_;
}

}  // namespace myelin::layers
