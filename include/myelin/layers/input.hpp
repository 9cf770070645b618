// Input: a model's per-sample input shape, as `keras.Input(shape=...)`: the first entry of a
// Sequential, or the start of a functional graph (`auto x = layers::Input({28, 28, 1});`).
#pragma once
#include <memory>
#include <string>

#include "myelin/layers/layer.hpp"

namespace myelin {
struct SymbolicNode;  // myelin/layers/symbolic_tensor.hpp
}

namespace myelin::layers {

class Input : public Layer {
  MYELIN_LAYER_MOVABLE(Input)
  /// `Input({28, 28, 1})`, or `Input({8}, "wide")` to name the model input.
  explicit Input(Shape shape, std::string name = "");
  std::string class_name() const override { return "InputLayer"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool) override { return x; }
  const Tensor& backward(const Tensor& dy) override { return dy; }

  /// The graph node this input stands for; copies of one Input share it, so every use of the
  /// variable is the same model input.
  const std::shared_ptr<const SymbolicNode>& node() const { return node_; }

 private:
  struct NodeLayerTag {};
  Input(NodeLayerTag, Shape shape, std::string name);
  std::shared_ptr<const SymbolicNode> node_;
};

}  // namespace myelin::layers
