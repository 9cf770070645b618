#include "graph/graph.hpp"

#include <algorithm>
#include <map>

#include "kernels/cpu/merge.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/registry.hpp"

namespace myelin::graph {

std::string node_label(const Node& n) {
  if (!n.layer) return "the input";
  return "layer " + std::to_string(n.layer_index) + " '" + n.layer->name() + "' (" + n.layer->class_name() + ")";
}

namespace {
std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (const auto& x : shapes) s += (s.empty() ? "" : ", ") + shape_to_string(with_batch(-1, x), true);
  return s;
}

// A later call of a shared layer: the same layer re-made from its config and built for this call's
// inputs, its weights then made views of the first call's.
std::shared_ptr<Layer> copy_for_call(Layer& first, const std::vector<Shape>& in_shapes, const std::string& where,
                                     const Node& n) {
  std::shared_ptr<Layer> copy;
  try {
    copy = layers::from_config(first.class_name(), first.get_config());
  } catch (const ValueError& e) {
    throw ValueError(where + ", " + node_label(n) + " is called more than once, and only layers that can be "
                     "re-made from their config can be shared: " + e.what());
  }
  copy->set_name(first.name());
  Rng scratch(0);  // its own initial weights are dropped: the model's random stream is left alone
  try {
    copy->build_once(in_shapes, scratch);
  } catch (const ShapeError& e) {
    throw ShapeError(where + ", " + node_label(n) + " with input shape " + shapes_text(in_shapes) + ": " + e.what());
  }
  auto mine = copy->params();
  auto theirs = first.params();
  bool same = mine.size() == theirs.size();
  for (size_t k = 0; same && k < mine.size(); ++k) same = mine[k].value->shape() == theirs[k].value->shape();
  if (!same)
    throw ShapeError(where + ", " + node_label(n) + " is called on inputs of shape " + shapes_text(in_shapes) +
                     ", which need weights of other shapes than its first call's");
  for (size_t k = 0; k < mine.size(); ++k) mine[k].value->alias(*theirs[k].value, theirs[k].value->shape());
  return copy;
}
}  // namespace

Graph::Graph(std::vector<Node> nodes, std::vector<int> inputs, std::vector<int> outputs)
    : nodes_(std::move(nodes)), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
  std::map<const Layer*, int> first_call;
  int layers = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.layer) {
      auto [it, fresh] = first_call.emplace(n.layer.get(), int(i));
      if (fresh) {
        n.layer_index = layers++;
      } else {
        Node& first = nodes_[size_t(it->second)];
        n.first_call = it->second;
        n.layer_index = first.layer_index;
        n.call_index = int(first.later_calls.size()) + 1;
        first.later_calls.push_back(int(i));
      }
    }
    for (int in : n.inputs) {
      if (in < 0 || size_t(in) >= i) throw Error("graph: node " + std::to_string(i) + " reads a later node");
      nodes_[size_t(in)].consumers.push_back(int(i));
    }
    n.in_values.assign(n.inputs.size(), nullptr);
    n.in_grads.assign(n.inputs.size(), nullptr);
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
    if (n.first_call >= 0) {
      Layer& first = *nodes_[size_t(n.first_call)].layer;
      n.layer = copy_for_call(first, in_shapes, where, n);
      n.shape = n.layer->build_once(in_shapes, rng);  // built above: returns its shape
      auto mine = first.params(), theirs = n.layer->params();
      n.shared_grads.clear();
      for (size_t k = 0; k < mine.size(); ++k)
        if (mine[k].trainable && mine[k].grad && theirs[k].grad) n.shared_grads.emplace_back(mine[k].grad, theirs[k].grad);
      continue;
    }
    Layer& l = *n.layer;
    const auto& declared = l.declared_input_shape();
    if (declared && in_shapes.size() == 1 && *declared != in_shapes[0])
      throw ShapeError(where + ", " + node_label(n) + ": expects input shape " +
                       shape_to_string(with_batch(-1, *declared), true) + " but receives " +
                       shape_to_string(with_batch(-1, in_shapes[0]), true));
    try {
      n.shape = l.build_once(in_shapes, rng);
    } catch (const ShapeError& e) {
      throw ShapeError(where + ", " + node_label(n) + " with input shape " + shapes_text(in_shapes) + ": " + e.what());
    }
  }
  plan_backward();
  // A relu output read only by a max pooling: the pooling's backward masks, the relu's pass is skipped.
  for (auto& n : nodes_) n.relu_masked_by_next = n.mask_nonpositive_input = false;
  for (auto& n : nodes_) {
    if (!n.layer || n.is_input || n.consumers.size() != 1) continue;
    Node& next = nodes_[size_t(n.consumers[0])];
    if (n.layer->output_is_relu() && next.layer->can_mask_nonpositive_input() && next.inputs.size() == 1) {
      n.relu_masked_by_next = true;
      next.mask_nonpositive_input = true;
    }
  }
}

void Graph::plan_backward() {
  // Gradients flow only where a trainable weight lies upstream: a layer below every trainable one
  // (Flatten, Input) skips backward, and the first trainable layer skips its input gradient.
  for (auto& n : nodes_) {
    const Node& owner = n.first_call >= 0 ? nodes_[size_t(n.first_call)] : n;
    n.runs_backward = n.layer && !n.is_input && owner.layer->count_params(/*trainable_only=*/true) > 0;
    bool upstream = false;
    for (int in : n.inputs) upstream = upstream || nodes_[size_t(in)].runs_backward;
    n.runs_backward = n.runs_backward || upstream;
    n.needs_input_grad = upstream;
  }
}

void Graph::apply_plan() {
  for (auto& n : nodes_) {
    if (!n.layer || n.is_input) continue;
    n.layer->set_needs_input_grad(n.needs_input_grad);
    n.layer->set_output_logits(n.output_logits);
    n.layer->set_relu_masked_by_next(n.relu_masked_by_next);
    n.layer->set_mask_nonpositive_input(n.mask_nonpositive_input);
  }
}

const Tensor& Graph::forward(const std::vector<const Tensor*>& inputs, bool training) {
  apply_plan();
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

void Graph::gather_shared_gradients(Node& first) {
  // The first call runs backward last of all the calls (it comes first in the order): its layer's
  // gradients then take the later calls' in.
  if (!first.ran_backward)
    for (const auto& [mine, theirs] : nodes_[size_t(first.later_calls[0])].shared_grads) mine->fill(0.0f);
  for (int c : first.later_calls) {
    const Node& call = nodes_[size_t(c)];
    if (!call.ran_backward) continue;
    for (const auto& [mine, theirs] : call.shared_grads) kernels::accumulate(theirs->data(), mine->data(), mine->size());
  }
}

void Graph::backward(const std::vector<const Tensor*>& output_grads, NodeDone on_node_done, void* context) {
  for (auto& n : nodes_) {
    n.grad = nullptr;
    n.ran_backward = false;
  }
  for (size_t k = 0; k < outputs_.size(); ++k) receive_grad(nodes_[size_t(outputs_[k])], *output_grads[k]);
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node& n = nodes_[i];
    if (n.runs_backward && n.grad) {
      n.ran_backward = true;
      if (n.inputs.size() == 1) {
        const Tensor& dx = n.layer->backward(*n.grad);
        Node& in = nodes_[size_t(n.inputs[0])];
        if (in.runs_backward) receive_grad(in, dx);
      } else {
        n.layer->backward_inputs(*n.grad, n.in_grads);
        for (size_t j = 0; j < n.inputs.size(); ++j) {
          Node& in = nodes_[size_t(n.inputs[j])];
          if (in.runs_backward && n.in_grads[j]) receive_grad(in, *n.in_grads[j]);
        }
      }
    }
    if (n.first_call >= 0) continue;  // a later call: its gradients join the first call's below
    if (!n.later_calls.empty()) gather_shared_gradients(n);
    if (on_node_done && (n.ran_backward || !n.later_calls.empty())) on_node_done(context, int(i));
  }
}

}  // namespace myelin::graph
