#include "myelin/model.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

#include "global_seed.hpp"
#include "graph/graph.hpp"
#include "model_memory.hpp"
#include "myelin/error.hpp"

namespace myelin {
namespace {
// "BatchNormalization" -> "batch_normalization", as Keras names layers.
std::string snake_case(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0 && (std::islower(static_cast<unsigned char>(s[i - 1])) ||
                    (i + 1 < s.size() && std::islower(static_cast<unsigned char>(s[i + 1])))))
        out += '_';
      out += char(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int64_t Model::forward_flops_per_sample() const {
  int64_t total = 0;
  for (const auto& l : layers_) total += l->flops_per_sample();
  return total;
}

Model::Model(std::string name, bool sequential)
    : name_(std::move(name)), sequential_(sequential), rng_(next_global_seed()) {}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

std::string Model::kind() const { return (sequential_ ? "Sequential '" : "Model '") + name_ + "'"; }

void Model::name_layer(Layer& layer) const {
  if (!layer.name().empty()) return;
  // Keras numbers layers per class: dense, dense_1, dense_2...
  const std::string base = layer.class_name() == "InputLayer" ? (sequential_ ? "input" : "input_layer")
                                                              : snake_case(layer.class_name());
  auto taken = [&](const std::string& n) {
    return std::any_of(layers_.begin(), layers_.end(), [&](const auto& l) { return l->name() == n; });
  };
  std::string name = base;
  for (int i = 1; taken(name); ++i) name = base + "_" + std::to_string(i);
  layer.set_name(name);
}

Model::Model(const SymbolicTensor& inputs, const SymbolicTensor& outputs, std::string name)
    : Model(std::vector<SymbolicTensor>{inputs}, std::vector<SymbolicTensor>{outputs}, std::move(name)) {}

Model::Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs, std::string name)
    : Model(std::move(name), /*sequential=*/false) {
  if (inputs.empty() || outputs.empty())
    throw ValueError(kind() + ": a model needs at least one input and one output (got " +
                     std::to_string(inputs.size()) + " inputs and " + std::to_string(outputs.size()) + " outputs)");
  using NodePtr = std::shared_ptr<const SymbolicNode>;
  for (const auto& x : inputs)
    if (x.layer().class_name() != "InputLayer")
      throw ValueError(kind() + ": inputs must come from layers::Input, got the output of layer '" +
                       x.layer().name() + "' (" + x.layer().class_name() + ")");
  // Depth-first from the outputs: every node after the nodes it reads, each layer once.
  std::map<const SymbolicNode*, int> index;
  std::vector<NodePtr> order;
  for (const auto& out : outputs) {
    std::vector<std::pair<NodePtr, size_t>> stack{{out.node(), 0}};
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == 0 && index.count(node.get())) {
        stack.pop_back();
        continue;
      }
      if (next < node->inputs.size()) {
        const NodePtr in = node->inputs[next++].node();
        stack.push_back({in, 0});
        continue;
      }
      index[node.get()] = int(order.size());
      order.push_back(node);
      stack.pop_back();
    }
  }
  for (const auto& n : order) {
    // A layer called several times (shared) is one layer of the model.
    if (std::any_of(layers_.begin(), layers_.end(), [&](const auto& l) { return l == n->layer; })) continue;
    name_layer(*n->layer);
    for (const auto& l : layers_)
      if (l->name() == n->layer->name()) throw ValueError(kind() + ": two layers named '" + l->name() + "'");
    layers_.push_back(n->layer);
  }
  for (const auto& n : order)
    if (n->layer->class_name() == "InputLayer" &&
        std::none_of(inputs.begin(), inputs.end(), [&](const auto& x) { return x.node() == n; }))
      throw ValueError(kind() + ": the outputs depend on an input (layer '" + n->layer->name() +
                       "') that is not among the model's inputs");
  std::vector<int> input_ids, output_ids;
  for (const auto& x : inputs) {
    auto it = index.find(x.node().get());
    if (it == index.end()) {
      name_layer(x.layer());
      throw ValueError(kind() + ": input '" + x.layer().name() + "' does not lead to any output");
    }
    input_ids.push_back(it->second);
  }
  // Graph nodes: one per call, and a tap for each other output read (an LSTM's h and c), placed
  // before its first reader.
  std::vector<graph::Node> nodes;
  std::map<const SymbolicNode*, int> at;
  std::map<std::pair<const SymbolicNode*, int>, int> taps;
  auto node_of = [&](const SymbolicTensor& t) {
    const int source = at.at(t.node().get());
    if (t.index() == 0) return source;
    auto [it, fresh] = taps.emplace(std::make_pair(t.node().get(), t.index()), int(nodes.size()));
    if (fresh) {
      graph::Node tap;
      tap.tap_of = source;
      tap.tap_output = t.index();
      nodes.push_back(std::move(tap));
    }
    return it->second;
  };
  for (const auto& sym : order) {
    graph::Node n;
    n.layer = sym->layer;
    for (const auto& in : sym->inputs) n.inputs.push_back(node_of(in));
    at[sym.get()] = int(nodes.size());
    nodes.push_back(std::move(n));
  }
  for (int& id : input_ids) id = at.at(order[size_t(id)].get());
  for (const auto& y : outputs) output_ids.push_back(node_of(y));
  graph_ = std::make_unique<graph::Graph>(std::move(nodes), std::move(input_ids), std::move(output_ids));
  symbolic_inputs_ = inputs;
  symbolic_outputs_ = outputs;
}

void Model::add_to_chain(std::shared_ptr<Layer> layer) {
  if (built_) throw Error(kind() + ": cannot add layers after the model is built");
  if (!layer) throw ValueError(kind() + ": add: null layer");
  name_layer(*layer);
  for (const auto& l : layers_)
    if (l->name() == layer->name()) throw ValueError(kind() + ": two layers named '" + layer->name() + "'");
  layers_.push_back(std::move(layer));
}

void Model::make_chain_graph() {
  // Node 0 is the model input: the first layer when it is an InputLayer, otherwise a node of its own.
  std::vector<graph::Node> nodes;
  size_t first = 0;
  graph::Node input;
  if (layers_[0]->class_name() == "InputLayer") {
    input.layer = layers_[0];
    first = 1;
  }
  nodes.push_back(input);
  for (size_t i = first; i < layers_.size(); ++i) {
    graph::Node n;
    n.layer = layers_[i];
    n.inputs = {int(nodes.size()) - 1};
    nodes.push_back(std::move(n));
  }
  const int last = int(nodes.size()) - 1;
  graph_ = std::make_unique<graph::Graph>(std::move(nodes), std::vector<int>{0}, std::vector<int>{last});
}

Sequential::Sequential(std::string name) : Model(std::move(name), /*sequential=*/true) {}

Sequential::Sequential(std::initializer_list<LayerHandle> layers, std::string name) : Sequential(std::move(name)) {
  for (const auto& l : layers) add(l);
}

Sequential::Sequential(Model&& model) : Model(std::move(model)) {
  if (!is_sequential()) throw ValueError("Model '" + name() + "' is a functional model, not a Sequential");
}

void Sequential::add(LayerHandle handle) { add_to_chain(handle.get()); }

void Model::build(std::optional<Shape> input_shape) {
  if (built_) return;
  if (layers_.empty()) throw Error(kind() + " has no layers");
  if (sequential_) make_chain_graph();
  const auto& inputs = graph_->inputs();
  if (input_shape && inputs.size() != 1)
    throw ShapeError(kind() + ": build(shape) takes one shape but the model has " + std::to_string(inputs.size()) +
                     " inputs; each layers::Input declares its own");
  std::vector<Shape> shapes;
  for (int i : inputs) {
    const graph::Node& in = graph_->nodes()[size_t(i)];
    std::optional<Shape> shape = input_shape;
    if (!shape) shape = in.layer ? in.layer->declared_input_shape() : layers_[0]->declared_input_shape();
    if (!shape)
      throw ShapeError(kind() + ": the input shape is unknown; give the first layer an input_shape " +
                       "(or start with layers::Input), or call build(shape), or fit on data");
    shapes.push_back(*shape);
  }
  build_inputs(shapes);
}

void Model::build_inputs(const std::vector<Shape>& input_shapes) {
  input_shapes_ = input_shapes;
  // What the layers will allocate, added up before any of them does.
  memory_ = std::make_shared<const ModelMemory>(plan_memory(*graph_, input_shapes_));
  check_weights_fit(*memory_, optimizer_.get(), kind());
  graph_->build(input_shapes_, rng_, kind());
  layer_trainable_.clear();
  if (sequential_) {
    // The chain as symbolic tensors too (model.input, layer.output()), from its InputLayer or a new one.
    // (An InputLayer taken from a symbolic tensor is that tensor's own layer, without a node.)
    auto* declared = dynamic_cast<layers::Input*>(layers_[0].get());
    SymbolicTensor x = declared && declared->node() ? SymbolicTensor(*declared)
                                                    : SymbolicTensor(layers::Input(input_shapes_[0], "input_layer"));
    symbolic_inputs_ = {x};
    for (size_t i = declared ? 1 : 0; i < layers_.size(); ++i) x = call_layer(layers_[i], {x});
    symbolic_outputs_ = {x};
  }
  update_trainable();
  built_ = true;
  prepare_outputs();
}

void Model::update_trainable() {
  bool changed = layer_trainable_.size() != layers_.size();
  for (size_t i = 0; i < layers_.size() && !changed; ++i) changed = layer_trainable_[i] != layers_[i]->trainable();
  if (!changed) return;  // the usual case, and allocation-free: train_on_batch calls this every step
  layer_trainable_.clear();
  for (const auto& l : layers_) layer_trainable_.push_back(l->trainable());
  collect_weights();
  // Backward stops below the lowest trainable layer; a frozen layer above it still passes gradients.
  graph_->plan_backward();
}

void Model::collect_weights() {
  params_.clear();
  weights_.clear();
  has_regularizers_ = false;
  for (auto& l : layers_)
    for (auto p : l->params()) {
      p.name = l->name() + "/" + p.name;
      weights_.push_back(p);
      if (!p.trainable) continue;
      if (p.regularizer && p.regularizer->active()) has_regularizers_ = true;
      params_.push_back(p);
    }
  // Each node's trainable gradients, for summing them over ranks as soon as its backward is done.
  const auto& nodes = graph_->nodes();
  node_grads_.assign(nodes.size(), {});
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].layer && !nodes[i].is_input && nodes[i].first_call < 0)
      for (const auto& p : nodes[i].layer->params())
        if (p.trainable && p.grad) node_grads_[i].push_back(p.grad);
}

std::vector<std::vector<std::vector<TensorRef>>> Model::layer_calls() const {
  if (!graph_) throw Error(kind() + " is not built yet");
  std::vector<std::vector<std::vector<TensorRef>>> out(layers_.size());
  const auto& nodes = graph_->nodes();
  for (const auto& n : nodes) {
    if (!n.layer) continue;
    std::vector<TensorRef> reads;
    for (int in : n.inputs)
      if (nodes[size_t(in)].layer || nodes[size_t(in)].tap_of >= 0) reads.push_back(tensor_ref(in));
    out[size_t(n.layer_index)].push_back(std::move(reads));
  }
  return out;
}

TensorRef Model::tensor_ref(int node) const {
  const auto& n = graph_->nodes()[size_t(node)];
  if (n.tap_of >= 0) {
    const auto& source = graph_->nodes()[size_t(n.tap_of)];
    return {source.layer->name(), source.call_index, n.tap_output};
  }
  return {n.layer ? n.layer->name() : "input", n.call_index, 0};
}

std::vector<std::string> Model::input_names() const {
  if (!graph_) throw Error(kind() + " is not built yet");
  std::vector<std::string> out;
  for (int i : graph_->inputs()) {
    const auto& n = graph_->nodes()[size_t(i)];
    out.push_back(n.layer ? n.layer->name() : "input");
  }
  return out;
}

std::vector<TensorRef> Model::output_refs() const {
  if (!graph_) throw Error(kind() + " is not built yet");
  std::vector<TensorRef> out;
  for (int i : graph_->outputs()) out.push_back(tensor_ref(i));
  return out;
}

const std::vector<SymbolicTensor>& Model::inputs() const {
  if (symbolic_inputs_.empty()) throw Error(kind() + " is not built yet: its input is not known");
  return symbolic_inputs_;
}

const std::vector<SymbolicTensor>& Model::outputs() const {
  if (symbolic_outputs_.empty()) throw Error(kind() + " is not built yet: its output is not known");
  return symbolic_outputs_;
}

SymbolicTensor Model::input() const {
  if (inputs().size() != 1) throw ValueError(kind() + " has " + std::to_string(inputs().size()) + " inputs; use inputs()");
  return inputs()[0];
}

SymbolicTensor Model::output() const {
  if (outputs().size() != 1) throw ValueError(kind() + " has " + std::to_string(outputs().size()) + " outputs; use outputs()");
  return outputs()[0];
}

SymbolicTensor Model::operator()(const SymbolicTensor& x) {
  if (!built_) build();
  // Each node of this model's graph re-made in the caller's graph, the model's input replaced by x.
  std::map<const SymbolicNode*, std::vector<SymbolicTensor>> made;
  made.emplace(input().node().get(), std::vector<SymbolicTensor>{x});
  std::function<SymbolicTensor(const SymbolicTensor&)> remake = [&](const SymbolicTensor& t) -> SymbolicTensor {
    const SymbolicNode* n = t.node().get();
    if (auto it = made.find(n); it != made.end()) return it->second[size_t(t.index())];
    std::vector<SymbolicTensor> in;
    for (const auto& i : n->inputs) in.push_back(remake(i));
    auto outs = call_layer_outputs(n->layer, in);
    return made.emplace(n, std::move(outs)).first->second[size_t(t.index())];
  };
  return remake(output());
}

std::vector<std::string> Model::output_names() const {
  if (!graph_) throw Error(kind() + " is not built yet");
  std::vector<std::string> out;
  for (int i : graph_->outputs()) out.push_back(tensor_ref(i).layer);
  return out;
}

std::shared_ptr<Layer> Model::get_layer(const std::string& name) const {
  for (const auto& l : layers_)
    if (l->name() == name) return l;
  throw ValueError(kind() + " has no layer named '" + name + "'");
}

std::vector<Param> Model::parameters() {
  if (!built_) build();
  update_trainable();
  return params_;
}

std::vector<Param> Model::weights() {
  if (!built_) build();
  update_trainable();
  return weights_;
}

std::vector<Tensor> Model::get_weights() {
  std::vector<Tensor> w;
  for (const auto& p : weights()) w.push_back(p.value->clone());
  return w;
}

void Model::set_weights(const std::vector<Tensor>& weights) {
  auto ps = this->weights();
  if (weights.size() != ps.size())
    throw ValueError("set_weights: model '" + name_ + "' has " + std::to_string(ps.size()) + " weights, got " +
                     std::to_string(weights.size()));
  for (size_t i = 0; i < ps.size(); ++i) {
    if (weights[i].shape() != ps[i].value->shape())
      throw ShapeError("set_weights: " + ps[i].name + " has shape " + shape_to_string(ps[i].value->shape()) +
                       ", got " + shape_to_string(weights[i].shape()));
    ps[i].value->copy_from(weights[i]);
  }
}

int64_t Model::count_params() {
  int64_t n = 0;
  for (const auto& p : weights()) n += p.value->size();
  return n;
}

const Shape& Model::input_shape() const {
  if (!built_) throw Error(kind() + " is not built yet");
  return input_shapes_[0];
}

const std::vector<Shape>& Model::input_shapes() const {
  if (!built_) throw Error(kind() + " is not built yet");
  return input_shapes_;
}

const Shape& Model::output_shape() const {
  if (!built_) throw Error(kind() + " is not built yet");
  return graph_->nodes()[size_t(graph_->outputs()[0])].shape;
}

std::vector<Shape> Model::output_shapes() const {
  if (!built_) throw Error(kind() + " is not built yet");
  std::vector<Shape> out;
  for (int i : graph_->outputs()) out.push_back(graph_->nodes()[size_t(i)].shape);
  return out;
}

Optimizer& Model::optimizer() {
  check_compiled("optimizer");
  return *optimizer_;
}

const Loss& Model::loss() const {
  check_compiled("loss");
  if (!outputs_.empty()) return *outputs_[0].loss;
  if (loss_arg_.is_list() || loss_arg_.is_map())
    throw Error(kind() + ": loss(): the losses are given per output; build the model to resolve them");
  return *loss_arg_.one().get();
}

std::vector<std::shared_ptr<Loss>> Model::losses() const {
  check_compiled("losses");
  if (!built_) throw Error(kind() + " is not built yet");
  std::vector<std::shared_ptr<Loss>> out;
  for (const auto& o : outputs_) out.push_back(o.loss);
  return out;
}

std::string Model::summary_string() {
  if (!built_) build();
  std::ostringstream out;
  auto with_commas = [](int64_t v) {
    std::string s = std::to_string(v);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
    return s;
  };
  auto pad = [](std::string s, size_t w) {
    s += std::string(s.size() < w ? w - s.size() : 1, ' ');  // long names still get a separating space
    return s;
  };
  // A functional model's table adds Keras's "Connected to" column: which outputs each layer reads.
  const bool connections = !sequential_;
  const size_t width = connections ? 98 : 65;
  const std::string rule(width, '_'), double_rule(width, '=');
  out << "Model: \"" << name_ << "\"\n" << rule << "\n";
  out << pad(" Layer (type)", 29) << pad("Output Shape", 26) << (connections ? pad("Param #", 12) + "Connected to" : "Param #")
      << "\n" << double_rule << "\n";
  int64_t total = 0, trainable = 0;
  const auto& nodes = graph_->nodes();
  for (const auto& n : nodes) {
    if (!n.layer || n.first_call >= 0) continue;  // a shared layer has one row; a tap none
    Layer& l = *n.layer;
    if (sequential_ && l.class_name() == "InputLayer") continue;  // Keras leaves it out of a Sequential's table
    const int64_t np = l.count_params();
    total += np;
    trainable += l.count_params(/*trainable_only=*/true);
    out << pad(" " + l.name() + " (" + l.class_name() + ")", 29) << pad(shape_to_string(with_batch(-1, n.shape), true), 26);
    if (!connections) {
      out << np << "\n\n";
      continue;
    }
    // Keras's "name[call][0]" for every tensor read, over all calls of a shared layer.
    std::string sources;
    std::vector<int> calls{int(&n - nodes.data())};
    calls.insert(calls.end(), n.later_calls.begin(), n.later_calls.end());
    for (int c : calls)
      for (int in : nodes[size_t(c)].inputs) {
        const TensorRef src = tensor_ref(in);
        sources += (sources.empty() ? "" : ", ") + src.layer + "[" + std::to_string(src.call) + "][" +
                   std::to_string(src.tensor) + "]";
      }
    out << pad(std::to_string(np), 12) << (sources.empty() ? "-" : sources) << "\n\n";
  }
  out << double_rule << "\n";
  out << "Total params: " << with_commas(total) << "\n";
  out << "Trainable params: " << with_commas(trainable) << "\n";
  out << "Non-trainable params: " << with_commas(total - trainable) << "\n" << rule << "\n";
  return out.str();
}

void Model::summary(std::ostream& out) { out << summary_string(); }

}  // namespace myelin
