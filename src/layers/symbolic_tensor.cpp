#include "myelin/layers/symbolic_tensor.hpp"

#include "myelin/error.hpp"

namespace myelin {

SymbolicTensor::SymbolicTensor(std::shared_ptr<const SymbolicNode> node, int index)
    : node_(std::move(node)), index_(index) {
  if (!node_) throw ValueError("SymbolicTensor: null node");
  if (index_ < 0 || index_ >= node_->layer->num_outputs())
    throw ValueError("SymbolicTensor: layer '" + node_->layer->name() + "' has no output " + std::to_string(index_));
}

Layer& SymbolicTensor::layer() const { return *node_->layer; }

SymbolicTensor::SymbolicTensor(const layers::Input& input) : SymbolicTensor(input.node()) {}

SymbolicTensor Layer::output() const {
  if (called_instance_) return called_instance_->output();  // this object moved into its calls
  const std::string label = "layer '" + name() + "' (" + class_name() + ")";
  if (calls_ > 1)
    throw ValueError(label + " is called " + std::to_string(calls_) + " times, so it has no single output");
  auto node = output_node_.lock();
  if (!node) throw ValueError(label + " is not part of a model's graph (it was never called, or its model is gone)");
  if (num_outputs() > 1)
    throw ValueError(label + " returns " + std::to_string(num_outputs()) + " tensors, so it has no single output");
  return SymbolicTensor(std::move(node));
}

SymbolicTensor call_layer(std::shared_ptr<Layer> layer, const std::vector<SymbolicTensor>& inputs) {
  if (layer && layer->num_outputs() > 1)
    throw ValueError("layer '" + layer->name() + "' (" + layer->class_name() + ") returns " +
                     std::to_string(layer->num_outputs()) + " tensors: call it through call_outputs");
  return call_layer_outputs(std::move(layer), inputs)[0];
}

std::vector<SymbolicTensor> call_layer_outputs(std::shared_ptr<Layer> layer, const std::vector<SymbolicTensor>& inputs) {
  if (!layer) throw ValueError("call_layer: null layer");
  const std::string label = "layer '" + layer->name() + "' (" + layer->class_name() + ")";
  if (layer->class_name() == "InputLayer") throw ValueError(label + " cannot be called; it starts a graph");
  const std::string why = layer->check_input_count(inputs.size());
  if (!why.empty()) throw ValueError(label + " " + why);
  auto node = std::make_shared<SymbolicNode>();
  node->layer = std::move(layer);
  node->inputs = inputs;
  node->layer->output_node_ = node;
  ++node->layer->calls_;
  std::vector<SymbolicTensor> out;
  for (int k = 0; k < node->layer->num_outputs(); ++k) out.emplace_back(node, k);
  return out;
}

}  // namespace myelin
