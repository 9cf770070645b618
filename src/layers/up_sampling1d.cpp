#include "myelin/layers/up_sampling1d.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/upsample.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

UpSampling1D::UpSampling1D(int64_t size, std::optional<Shape> input_shape) : size_(size) {
  if (size <= 0) throw ValueError("UpSampling1D: size must be positive, got " + std::to_string(size));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> UpSampling1D::plan(const Shape& input_shape) const {
  if (input_shape.size() != 2 || shape_size(input_shape) <= 0)
    throw ShapeError((name_.empty() ? std::string("UpSampling1D") : "UpSampling1D '" + name_ + "'") + " needs a per-sample input of shape (steps, channels), got " +
                     shape_to_string(input_shape));
  return LayerPlan{{shape_size({input_shape[0], size_}), input_shape[1]}};  // a size from a file may overflow
}

Shape UpSampling1D::build(const Shape& input_shape, Rng&) {
  const Shape out = plan(input_shape)->output_shape;
  steps_ = input_shape[0];
  channels_ = input_shape[1];
  built_ = true;
  return out;
}

const Tensor& UpSampling1D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  shape_buf_ = {x.rows(), steps_ * size_, channels_};  // assignments reuse the vector's storage
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  kernels::repeat_steps_forward(x.rows(), steps_, channels_, size_, x.data(), y.data());
  return y;
}

const Tensor& UpSampling1D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::repeat_steps_backward(dy.rows(), steps_, channels_, size_, dy.data(), dx.data());
  return dx;
}

nlohmann::json UpSampling1D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["size"] = size_;
  return c;
}

}  // namespace myelin::layers
