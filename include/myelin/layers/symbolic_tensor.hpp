// SymbolicTensor: what a functional call returns (Keras's KerasTensor). It holds no values: it
// records which layer made it from which inputs, so that Model(inputs, outputs) can find the graph.
#pragma once
#include <memory>
#include <vector>

#include "myelin/layers/input.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin {

/// One call of a layer in the graph the user is describing. A model input is a node whose layer is
/// an InputLayer and that has no inputs.
struct SymbolicNode {
  std::shared_ptr<Layer> layer;
  std::vector<std::shared_ptr<const SymbolicNode>> inputs;
};

class SymbolicTensor {
 public:
  explicit SymbolicTensor(std::shared_ptr<const SymbolicNode> node);
  /// A model input: `auto inputs = layers::Input({28, 28, 1});` is its own symbolic tensor.
  SymbolicTensor(const layers::Input& input);

  const std::shared_ptr<const SymbolicNode>& node() const { return node_; }
  /// The layer whose output this is.
  Layer& layer() const { return *node_->layer; }

 private:
  std::shared_ptr<const SymbolicNode> node_;
};

/// Records `layer` applied to `inputs` (what Layer::operator() does for a layer held by a
/// shared_ptr). Throws ValueError when the number of inputs does not suit the layer.
SymbolicTensor call_layer(std::shared_ptr<Layer> layer, const std::vector<SymbolicTensor>& inputs);

}  // namespace myelin
