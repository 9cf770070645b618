#include "myelin/layers/layer.hpp"

#include <nlohmann/json.hpp>

#include "myelin/error.hpp"
#include "myelin/layers/symbolic_tensor.hpp"

namespace myelin {

std::vector<Param> Layer::params() {
  std::vector<Param> p = own_params();
  if (!trainable_)
    for (auto& w : p) {
      w.trainable = false;
      w.grad = nullptr;
    }
  return p;
}

int64_t Layer::count_params(bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : params())
    if (p.trainable || !trainable_only) n += p.value->size();
  return n;
}

nlohmann::json Layer::get_config() const {
  nlohmann::json c = {{"name", name_}, {"trainable", trainable_}};
  if (input_shape_) {
    nlohmann::json shape = nlohmann::json::array({nullptr});
    for (int64_t d : *input_shape_) shape.push_back(d);
    c["batch_input_shape"] = shape;
  }
  return c;
}

namespace {
std::string label(const Layer& l) {
  return "layer '" + l.name() + "' (" + l.class_name() + ")";
}
}  // namespace

Shape Layer::build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) {
  if (input_shapes.size() != 1)
    throw ValueError(label(*this) + " takes one input, got " + std::to_string(input_shapes.size()));
  return build(input_shapes[0], rng);
}

const Tensor& Layer::forward_inputs(const std::vector<const Tensor*>& inputs, bool training) {
  return forward(*inputs[0], training);
}

void Layer::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) {
  const Tensor& dx = backward(dy);
  input_grads[0] = needs_input_grad_ ? &dx : nullptr;
}

std::optional<LayerPlan> Layer::plan_inputs(const std::vector<Shape>& input_shapes) const {
  if (input_shapes.size() != 1)
    throw ValueError(label(*this) + " takes one input, got " + std::to_string(input_shapes.size()));
  return plan(input_shapes[0]);
}

Shape Layer::build_once(const std::vector<Shape>& input_shapes, Rng& rng) {
  if (built_ && !built_input_shapes_.empty()) {
    if (input_shapes != built_input_shapes_) {
      auto text = [](const std::vector<Shape>& shapes) {
        std::string s;
        for (const auto& x : shapes) s += (s.empty() ? "" : " and ") + shape_to_string(with_batch(-1, x), true);
        return s;
      };
      throw ShapeError(label(*this) + " was built for input shape " + text(built_input_shapes_) +
                       " and cannot take " + text(input_shapes));
    }
    return built_output_shape_;
  }
  built_output_shape_ = build_inputs(input_shapes, rng);
  built_input_shapes_ = input_shapes;
  return built_output_shape_;
}

std::shared_ptr<Layer> Layer::move_to_shared() {
  throw ValueError(label(*this) + " cannot be called by value: hold it in a std::shared_ptr and call "
                   "call_layer(layer, inputs)");
}

SymbolicTensor Layer::operator()(const SymbolicTensor& x) { return (*this)(std::vector<SymbolicTensor>{x}); }

std::shared_ptr<Layer> Layer::self_for_call() {
  // Held by a shared_ptr (Python, make_shared): that is the layer. Passed by value: the object moves
  // into the graph once, and later calls on the same variable reach the same layer.
  std::shared_ptr<Layer> self = weak_from_this().lock();
  if (!self) {
    if (!called_instance_) called_instance_ = move_to_shared();
    self = called_instance_;
  }
  return self;
}

SymbolicTensor Layer::operator()(const std::vector<SymbolicTensor>& inputs) {
  return call_layer(self_for_call(), inputs);
}

std::vector<SymbolicTensor> Layer::call_outputs(const std::vector<SymbolicTensor>& inputs) {
  return call_layer_outputs(self_for_call(), inputs);
}

std::string Layer::check_input_count(size_t count) const {
  const int n = num_inputs();
  if (n == 1 && count != 1) return "takes one input, got a list of " + std::to_string(count);
  if (n < 0 && count < 2) return "takes a list of at least 2 inputs, got " + std::to_string(count);
  return "";
}

Shape Layer::extra_output_shape(int k) const {
  throw ValueError(label(*this) + " has no output " + std::to_string(k));
}

const Tensor& Layer::extra_output(int k) const {
  throw ValueError(label(*this) + " has no output " + std::to_string(k));
}

void Layer::backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& input_grads) {
  backward_inputs(*output_grads[0], input_grads);
}

}  // namespace myelin
