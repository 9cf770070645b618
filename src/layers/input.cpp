#include "myelin/layers/input.hpp"

#include "myelin/error.hpp"
#include "myelin/layers/symbolic_tensor.hpp"

namespace myelin::layers {

Input::Input(NodeLayerTag, Shape shape, std::string name) {
  for (int64_t d : shape)
    if (d <= 0) throw ShapeError("Input: every dimension must be positive, got " + shape_to_string(shape));
  input_shape_ = std::move(shape);
  name_ = std::move(name);
}

// The node's own layer is a second Input without a node, so that the node does not own itself.
Input::Input(Shape shape, std::string name) : Input(NodeLayerTag{}, shape, name) {
  auto node = std::make_shared<SymbolicNode>();
  node->layer = std::shared_ptr<Input>(new Input(NodeLayerTag{}, std::move(shape), std::move(name)));
  node_ = std::move(node);
}

std::optional<LayerPlan> Input::plan(const Shape& input_shape) const { return LayerPlan{input_shape}; }

Shape Input::build(const Shape& input_shape, Rng&) {
  built_ = true;
  return input_shape;
}

}  // namespace myelin::layers
