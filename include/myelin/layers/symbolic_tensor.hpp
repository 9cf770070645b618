// SymbolicTensor: what a functional call returns (Keras's KerasTensor). It holds no values: it
// records which layer made it from which inputs, so that Model(inputs, outputs) can find the graph.
#pragma once
#include <memory>
#include <vector>

#include "myelin/layers/input.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin {

/// One output of one call: Keras's keras_history (layer, call, tensor index).
class SymbolicTensor {
 public:
  /// Output `index` of the call `node` (0 unless the layer returns several tensors).
  explicit SymbolicTensor(std::shared_ptr<const SymbolicNode> node, int index = 0);
  /// A model input: `auto inputs = layers::Input({28, 28, 1});` is its own symbolic tensor.
  SymbolicTensor(const layers::Input& input);

  const std::shared_ptr<const SymbolicNode>& node() const { return node_; }
  /// Which of the call's outputs this is: LSTM(return_state) returns [output, h, c] as 0, 1, 2.
  int index() const { return index_; }
  /// The layer whose output this is.
  Layer& layer() const;
  /// The same tensor: the same call's same output.
  bool operator==(const SymbolicTensor& o) const { return node_ == o.node_ && index_ == o.index_; }

 private:
  std::shared_ptr<const SymbolicNode> node_;
  int index_ = 0;
};

/// One call of a layer in the graph the user is describing. A model input is a node whose layer is
/// an InputLayer and that has no inputs.
struct SymbolicNode {
  std::shared_ptr<Layer> layer;
  std::vector<SymbolicTensor> inputs;
};

/// Records `layer` applied to `inputs` (what Layer::operator() does for a layer held by a
/// shared_ptr). Throws ValueError when the number of inputs does not suit the layer, or when the
/// layer returns several tensors (call_layer_outputs returns them all).
SymbolicTensor call_layer(std::shared_ptr<Layer> layer, const std::vector<SymbolicTensor>& inputs);
/// The same call, returning every output of the layer (one for most layers).
std::vector<SymbolicTensor> call_layer_outputs(std::shared_ptr<Layer> layer, const std::vector<SymbolicTensor>& inputs);

}  // namespace myelin
