// Graph: a model's layers as nodes in a topological order, run forward and backward.
//
// Node k reads the outputs of nodes with smaller indices. A model input is a node without a layer
// (or with an InputLayer) whose output is the data. Backward sums the gradients a node receives
// from all of its consumers (fan-out), and runs only where a trainable weight lies upstream.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"
#include "myelin/random.hpp"
#include "myelin/tensor.hpp"

namespace myelin::graph {

struct Node {
  std::shared_ptr<Layer> layer;  // null: a model input without an InputLayer (a Sequential's)
  std::vector<int> inputs;       // producing nodes, all before this one
  std::vector<int> consumers;
  Shape shape;                   // per-sample output shape, once built
  bool is_input = false;
  int layer_index = -1;          // among the nodes with a layer: how messages number it
  bool runs_backward = false;    // a trainable weight lies at or above this node

  // Per step.
  const Tensor* out = nullptr;
  const Tensor* grad = nullptr;  // d(loss)/d(out): one consumer's buffer, or grad_sum
  Tensor grad_sum;
  std::vector<const Tensor*> in_values, in_grads;
};

class Graph {
 public:
  /// The nodes, inputs before the nodes that read them; `inputs`/`outputs` index into them.
  Graph(std::vector<Node> nodes, std::vector<int> inputs, std::vector<int> outputs);

  /// Builds every layer from the per-sample input shapes, in order, and runs the passes (which
  /// nodes run backward, which pass input gradients, relu masks shared with a max pooling).
  /// `where` prefixes errors ("Sequential 'sequential'"). A mismatch throws ShapeError naming the
  /// layer, its index and the shapes.
  void build(const std::vector<Shape>& input_shapes, Rng& rng, const std::string& where);
  /// Re-runs the passes (after a layer was frozen or unfrozen).
  void plan_backward();

  /// Runs a batch forward; returns the first output node's output (valid until the next forward).
  const Tensor& forward(const std::vector<const Tensor*>& inputs, bool training);
  /// Output node k's output of the last forward.
  const Tensor& output(size_t k) const { return *nodes_[size_t(outputs_[k])].out; }
  /// Called with `context` as soon as a node's layer has written its weights' gradients (so that they
  /// can be summed over ranks while the rest goes on). A plain pointer: a step allocates nothing.
  using NodeDone = void (*)(void* context, int node);
  /// Backward from d(loss)/d(output k).
  void backward(const std::vector<const Tensor*>& output_grads, NodeDone on_node_done = nullptr,
                void* context = nullptr);

  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }

 private:
  void receive_grad(Node& n, const Tensor& g);
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
};

/// "layer 3 'dense_1' (Dense)": how errors name a node's layer.
std::string node_label(const Node& n);

}  // namespace myelin::graph
