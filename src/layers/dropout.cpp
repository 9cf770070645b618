#include "myelin/layers/dropout.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/dropout.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

Dropout::Dropout(float rate, std::optional<Shape> input_shape) : rate_(rate) {
  if (!(rate >= 0.f && rate < 1.f)) throw ValueError("Dropout: rate must be in [0, 1), got " + std::to_string(rate));
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Dropout::plan(const Shape& input_shape) const { return LayerPlan{input_shape}; }

Shape Dropout::build(const Shape& input_shape, Rng& rng) {
  reseed(rng);
  built_ = true;
  return input_shape;
}

const Tensor& Dropout::forward(const Tensor& x, bool training) {
  last_training_ = training && rate_ > 0.f;
  if (!last_training_) return x;
  mask_.resize(x.shape());
  y_.resize(x.shape());
  // A mask value per input value: positions 1 in the kernels' [batch, positions, channels] view.
  kernels::dropout_forward(rng_, rate_, x.data(), mask_.data(), y_.data(), x.rows(), 1, x.row_size());
  return y_;
}

const Tensor& Dropout::backward(const Tensor& dy) {
  if (!last_training_) return dy;
  dx_.resize(dy.shape());
  kernels::dropout_apply(dy.data(), mask_.data(), dx_.data(), dy.rows(), 1, dy.row_size());
  return dx_;
}

nlohmann::json Dropout::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["rate"] = rate_;
  return c;
}

}  // namespace myelin::layers
