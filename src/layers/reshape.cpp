#include "myelin/layers/reshape.hpp"

#include <nlohmann/json.hpp>

#include "myelin/error.hpp"

namespace myelin::layers {

Reshape::Reshape(Shape target_shape, std::optional<Shape> input_shape) : target_(std::move(target_shape)) {
  int unknown = 0;
  for (int64_t d : target_) {
    if (d == -1) ++unknown;
    else if (d <= 0) throw ValueError("Reshape: target_shape entries must be positive or -1, got " + shape_to_string(target_));
  }
  if (unknown > 1) throw ValueError("Reshape: at most one -1 in target_shape, got " + shape_to_string(target_));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Reshape::plan(const Shape& input_shape) const {
  const int64_t size = shape_size(input_shape);
  Shape known_dims;
  for (int64_t d : target_)
    if (d != -1) known_dims.push_back(d);
  const int64_t known = shape_size(known_dims);  // a product past int64 is a ShapeError, not a wrap
  const bool has_unknown = known_dims.size() != target_.size();
  Shape out = target_;
  if (has_unknown) {
    if (known == 0 || size % known != 0)
      throw ShapeError("Reshape '" + name_ + "': cannot reshape input " + shape_to_string(input_shape) + " (" +
                       std::to_string(size) + " values) to " + shape_to_string(target_));
    for (auto& d : out)
      if (d == -1) d = size / known;
  } else if (known != size) {
    throw ShapeError("Reshape '" + name_ + "': input " + shape_to_string(input_shape) + " has " + std::to_string(size) +
                     " values but target_shape " + shape_to_string(target_) + " has " + std::to_string(known));
  }
  return LayerPlan{out};
}

Shape Reshape::build(const Shape& input_shape, Rng&) {
  out_shape_ = plan(input_shape)->output_shape;
  in_shape_ = with_batch(0, input_shape);
  shape_buf_ = with_batch(0, out_shape_);
  built_ = true;
  return out_shape_;
}

const Tensor& Reshape::forward(const Tensor& x, bool) {
  shape_buf_[0] = x.rows();
  y_.alias(x, shape_buf_);
  return y_;
}

const Tensor& Reshape::backward(const Tensor& dy) {
  in_shape_[0] = dy.rows();
  dx_.alias(dy, in_shape_);
  return dx_;
}

nlohmann::json Reshape::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["target_shape"] = target_;
  return c;
}

}  // namespace myelin::layers
