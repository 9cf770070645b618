#include "myelin/layers/zero_padding2d.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/padding.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/pooling.hpp"  // size2_from_list

namespace myelin::layers {

ZeroPadding2D::ZeroPadding2D(Size2 padding, std::optional<Shape> input_shape)
    : ZeroPadding2D(padding.h, padding.h, padding.w, padding.w, std::move(input_shape)) {}

ZeroPadding2D::ZeroPadding2D(std::initializer_list<int64_t> padding) : ZeroPadding2D(size2_from_list(padding)) {}

ZeroPadding2D::ZeroPadding2D(int64_t top, int64_t bottom, int64_t left, int64_t right, std::optional<Shape> input_shape)
    : top_(top), bottom_(bottom), left_(left), right_(right) {
  if (top < 0 || bottom < 0 || left < 0 || right < 0)
    throw ValueError("ZeroPadding2D: padding must not be negative");
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> ZeroPadding2D::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError("ZeroPadding2D '" + name_ + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(input_shape));
  return LayerPlan{{input_shape[0] + top_ + bottom_, input_shape[1] + left_ + right_, input_shape[2]}};
}

Shape ZeroPadding2D::build(const Shape& input_shape, Rng&) {
  const Shape out = plan(input_shape)->output_shape;
  in_h_ = input_shape[0];
  in_w_ = input_shape[1];
  channels_ = input_shape[2];
  built_ = true;
  return out;
}

const Tensor& ZeroPadding2D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  const kernels::Padding2D p{x.rows(), in_h_, in_w_, channels_, top_, bottom_, left_, right_};
  shape_buf_ = {p.batch, p.out_h(), p.out_w(), channels_};
  y.resize(shape_buf_);
  kernels::zero_pad2d_forward(p, x.data(), y.data());
  return y;
}

const Tensor& ZeroPadding2D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  const kernels::Padding2D p{dy.rows(), in_h_, in_w_, channels_, top_, bottom_, left_, right_};
  shape_buf_ = {p.batch, in_h_, in_w_, channels_};
  dx.resize(shape_buf_);
  kernels::zero_pad2d_backward(p, dy.data(), dx.data());
  return dx;
}

nlohmann::json ZeroPadding2D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["padding"] = {{top_, bottom_}, {left_, right_}};
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
