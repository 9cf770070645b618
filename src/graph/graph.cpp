#include "graph/graph.hpp"

#include <algorithm>

#include "kernels/cpu/merge.hpp"
#include "myelin/error.hpp"

namespace myelin::graph {

std::string node_label(const Node& n) {
  if (!n.layer) return "the input";
  return "layer " + std::to_string(n.layer_index) + " '" + n.layer->name() + "' (" + n.layer->class_name() + ")";
}

Graph::Graph(std::vector<Node> nodes, std::vector<int> inputs, std::vector<int> outputs)
    : nodes_(std::move(nodes)), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
  int layers = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].layer) nodes_[i].layer_index = layers++;
    for (int in : nodes_[i].inputs) {
      if (in < 0 || size_t(in) >= i) throw Error("graph: node " + std::to_string(i) + " reads a later node");
      nodes_[size_t(in)].consumers.push_back(int(i));
    }
    nodes_[i].in_values.assign(nodes_[i].inputs.size(), nullptr);
    nodes_[i].in_grads.assign(nodes_[i].inputs.size(), nullptr);
  }
  for (int i : inputs_) nodes_[size_t(i)].is_input = true;
}

void Graph::build(const std::vector<Shape>& input_shapes, Rng& rng, const std::string& where) {
  for (size_t k = 0; k < inputs_.size(); ++k) nodes_[size_t(inputs_[k])].shape = input_shapes[k];
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.is_input) {
      if (!n.layer) continue;
      const auto& declared = n.layer->declared_input_shape();
      if (declared && *declared != n.shape)
        throw ShapeError(where + ", " + node_label(n) + ": expects input shape " +
                         shape_to_string(with_batch(-1, *declared), true) + " but receives " +
                         shape_to_string(with_batch(-1, n.shape), true));
      n.layer->build(n.shape, rng);
      continue;
    }
    std::vector<Shape> in_shapes;
    for (int in : n.inputs) in_shapes.push_back(nodes_[size_t(in)].shape);
    Layer& l = *n.layer;
    const auto& declared = l.declared_input_shape();
    if (declared && in_shapes.size() == 1 && *declared != in_shapes[0])
      throw ShapeError(where + ", " + node_label(n) + ": expects input shape " +
                       shape_to_string(with_batch(-1, *declared), true) + " but receives " +
                       shape_to_string(with_batch(-1, in_shapes[0]), true));
    try {
      n.shape = l.build_inputs(in_shapes, rng);
    } catch (const ShapeError& e) {
      std::string shapes;
      for (const auto& s : in_shapes) shapes += (shapes.empty() ? "" : ", ") + shape_to_string(with_batch(-1, s), true);
      throw ShapeError(where + ", " + node_label(n) + " with input shape " + shapes + ": " + e.what());
    }
  }
  plan_backward();
  // A relu output read only by a max pooling: the pooling's backward masks, the relu's pass is skipped.
  for (auto& n : nodes_)
    if (n.layer) {
      n.layer->set_relu_masked_by_next(false);
      n.layer->set_mask_nonpositive_input(false);
    }
  for (auto& n : nodes_) {
    if (!n.layer || n.consumers.size() != 1) continue;
    Node& next = nodes_[size_t(n.consumers[0])];
    if (n.layer->output_is_relu() && next.layer->can_mask_nonpositive_input() && next.inputs.size() == 1) {
      n.layer->set_relu_masked_by_next(true);
      next.layer->set_mask_nonpositive_input(true);
    }
  }
}

void Graph::plan_backward() {
  // Gradients flow only where a trainable weight lies upstream: a layer below every trainable one
  // (Flatten, Input) skips backward, and the first trainable layer skips its input gradient.
  for (auto& n : nodes_) {
    n.runs_backward = n.layer && !n.is_input && n.layer->count_params(/*trainable_only=*/true) > 0;
    bool upstream = false;
    for (int in : n.inputs) upstream = upstream || nodes_[size_t(in)].runs_backward;
    n.runs_backward = n.runs_backward || upstream;
    if (n.layer) n.layer->set_needs_input_grad(upstream);
  }
}

const Tensor& Graph::forward(const std::vector<const Tensor*>& inputs, bool training) {
  for (size_t k = 0; k < inputs_.size(); ++k) nodes_[size_t(inputs_[k])].out = inputs[k];
  for (auto& n : nodes_) {
    if (n.is_input) continue;
    if (n.inputs.size() == 1) {
      n.out = &n.layer->forward(*nodes_[size_t(n.inputs[0])].out, training);
      continue;
    }
    for (size_t j = 0; j < n.inputs.size(); ++j) n.in_values[j] = nodes_[size_t(n.inputs[j])].out;
    n.out = &n.layer->forward_inputs(n.in_values, training);
  }
  return *nodes_[size_t(outputs_[0])].out;
}

void Graph::receive_grad(Node& n, const Tensor& g) {
  // The first gradient is used where it lies; a second one starts a sum in the node's own buffer.
  if (!n.grad) {
    n.grad = &g;
    return;
  }
  if (n.grad != &n.grad_sum) {
    n.grad_sum.resize(n.grad->shape());
    n.grad_sum.copy_from(*n.grad);
    n.grad = &n.grad_sum;
  }
  kernels::accumulate(g.data(), n.grad_sum.data(), g.size());
}

void Graph::backward(const std::vector<const Tensor*>& output_grads, NodeDone on_node_done, void* context) {
  for (auto& n : nodes_) n.grad = nullptr;
  for (size_t k = 0; k < outputs_.size(); ++k) receive_grad(nodes_[size_t(outputs_[k])], *output_grads[k]);
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node& n = nodes_[i];
    if (!n.runs_backward || !n.grad) continue;
    if (n.inputs.size() == 1) {
      const Tensor& dx = n.layer->backward(*n.grad);
      if (on_node_done) on_node_done(context, int(i));
      Node& in = nodes_[size_t(n.inputs[0])];
      if (in.runs_backward) receive_grad(in, dx);
      continue;
    }
    n.layer->backward_inputs(*n.grad, n.in_grads);
    if (on_node_done) on_node_done(context, int(i));
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      Node& in = nodes_[size_t(n.inputs[j])];
      if (in.runs_backward && n.in_grads[j]) receive_grad(in, *n.in_grads[j]);
    }
  }
}

}  // namespace myelin::graph
