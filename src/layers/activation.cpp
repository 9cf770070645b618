#include "myelin/layers/activation.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/activation.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

Activation::Activation(const std::string& activation, std::optional<Shape> input_shape)
    : kind_(activation_from_name(activation)) {
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Activation::plan(const Shape& input_shape) const {
  if (input_shape.empty()) throw ShapeError("Activation '" + name_ + "' needs a non-scalar input");
  return LayerPlan{input_shape};
}

Shape Activation::build(const Shape& input_shape, Rng&) {
  plan(input_shape);
  cols_ = input_shape.back();
  built_ = true;
  return input_shape;
}

const Tensor& Activation::forward(const Tensor& x, bool) {
  if (takes_fused_input_) return x;  // the layer before applied the relu (Layer::can_fuse_next)
  Tensor& y = output_buffer(y_);
  const int64_t rows = x.size() / cols_;
  y.resize(x.shape());
  act_ = output_logits_ ? ActivationKind::Linear : kind_;
  const bool keep_z = kernels::activation_needs_preactivation(act_);
  if (keep_z) z_.resize(x.shape());
  kernels::bias_activation_forward(act_, x.data(), nullptr, keep_z ? z_.data() : nullptr, y.data(), rows, cols_);
  return y;
}

const Tensor& Activation::backward(const Tensor& dy) {
  if (takes_fused_input_) return dy;
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(dy.shape());
  kernels::activation_backward(act_, dy.data(), y_.data(), z_.data(), dx.data(), dy.size() / cols_, cols_);
  return dx;
}

nlohmann::json Activation::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["activation"] = activation_name(kind_);
  return c;
}

}  // namespace myelin::layers
