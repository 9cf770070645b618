#include "myelin/layers/input.hpp"

#include "myelin/error.hpp"

namespace myelin::layers {

Input::Input(Shape shape) {
  for (int64_t d : shape)
    if (d <= 0) throw ShapeError("Input: every dimension must be positive, got " + shape_to_string(shape));
  input_shape_ = std::move(shape);
}

std::optional<LayerPlan> Input::plan(const Shape& input_shape) const { return LayerPlan{input_shape}; }

Shape Input::build(const Shape& input_shape, Rng&) {
  built_ = true;
  return input_shape;
}

}  // namespace myelin::layers
