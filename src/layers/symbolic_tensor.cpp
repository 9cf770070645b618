#include "myelin/layers/symbolic_tensor.hpp"

#include "myelin/error.hpp"

namespace myelin {

SymbolicTensor::SymbolicTensor(std::shared_ptr<const SymbolicNode> node) : node_(std::move(node)) {
  if (!node_) throw ValueError("SymbolicTensor: null node");
}

SymbolicTensor::SymbolicTensor(const layers::Input& input) : SymbolicTensor(input.node()) {}

SymbolicTensor Layer::output() const {
  if (called_instance_) return called_instance_->output();  // this object moved into its calls
  const std::string label = "layer '" + name() + "' (" + class_name() + ")";
  if (calls_ > 1)
    throw ValueError(label + " is called " + std::to_string(calls_) + " times, so it has no single output");
  auto node = output_node_.lock();
  if (!node) throw ValueError(label + " is not part of a model's graph (it was never called, or its model is gone)");
  return SymbolicTensor(std::move(node));
}

SymbolicTensor call_layer(std::shared_ptr<Layer> layer, const std::vector<SymbolicTensor>& inputs) {
  if (!layer) throw ValueError("call_layer: null layer");
  const std::string label = "layer '" + layer->name() + "' (" + layer->class_name() + ")";
  if (layer->class_name() == "InputLayer") throw ValueError(label + " cannot be called; it starts a graph");
  const int n = layer->num_inputs();
  if (n == 1 && inputs.size() != 1)
    throw ValueError(label + " takes one input, got a list of " + std::to_string(inputs.size()));
  if (n < 0 && inputs.size() < 2)
    throw ValueError(label + " takes a list of at least 2 inputs, got " + std::to_string(inputs.size()));
  auto node = std::make_shared<SymbolicNode>();
  node->layer = std::move(layer);
  for (const auto& x : inputs) node->inputs.push_back(x.node());
  node->layer->output_node_ = node;
  ++node->layer->calls_;
  return SymbolicTensor(std::move(node));
}

}  // namespace myelin
