#include "myelin/layers/resizing.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/image.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

namespace {
kernels::ResizeInterpolation interpolation_kind(const std::string& name) {
  return name == "nearest" ? kernels::ResizeInterpolation::nearest : kernels::ResizeInterpolation::bilinear;
}
}  // namespace

Resizing::Resizing(int64_t height, int64_t width, std::string interpolation, bool crop_to_aspect_ratio,
                   std::optional<Shape> input_shape)
    : height_(height), width_(width), interpolation_(std::move(interpolation)), crop_to_aspect_ratio_(crop_to_aspect_ratio) {
  if (height < 1 || width < 1)
    throw ValueError("Resizing: height and width must be at least 1, got " + std::to_string(height) + " x " +
                     std::to_string(width));
  if (interpolation_ != "bilinear" && interpolation_ != "nearest")
    throw ValueError("Resizing: interpolation must be 'bilinear' or 'nearest', got '" + interpolation_ + "'");
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Resizing::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError("Resizing '" + name_ + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(input_shape));
  return LayerPlan{{height_, width_, input_shape[2]}};
}

Shape Resizing::build(const Shape& input_shape, Rng&) {
  const Shape out = plan(input_shape)->output_shape;
  kernels::ResizeWindow r{0, input_shape[0], input_shape[1], input_shape[2], 0, 0, input_shape[0], input_shape[1],
                          height_, width_};
  if (crop_to_aspect_ratio_) kernels::set_aspect_ratio_window(r);
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

const Tensor& Resizing::forward(const Tensor& x, bool) {
  const kernels::ResizeWindow r{x.rows(), in_h_,     in_w_,  channels_, top_,
                                left_,    window_h_, window_w_, height_, width_, interpolation_kind(interpolation_)};
  shape_buf_ = {r.batch, height_, width_, channels_};
  y_.resize(shape_buf_);
  kernels::resize_forward(r, x.data(), y_.data());
  return y_;
}

const Tensor& Resizing::backward(const Tensor& dy) {
  if (!needs_input_grad_) return no_grad_;
  const kernels::ResizeWindow r{dy.rows(), in_h_,     in_w_,  channels_, top_,
                                left_,     window_h_, window_w_, height_, width_, interpolation_kind(interpolation_)};
  shape_buf_ = {r.batch, in_h_, in_w_, channels_};
  dx_.resize(shape_buf_);
  kernels::resize_backward(r, dy.data(), dx_.data());
  return dx_;
}

nlohmann::json Resizing::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["height"] = height_;
  c["width"] = width_;
  c["interpolation"] = interpolation_;
  c["crop_to_aspect_ratio"] = crop_to_aspect_ratio_;
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
