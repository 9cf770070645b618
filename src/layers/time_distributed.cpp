#include "myelin/layers/time_distributed.hpp"

#include <nlohmann/json.hpp>

#include "myelin/error.hpp"

namespace myelin::layers {

TimeDistributed::TimeDistributed(std::shared_ptr<Layer> layer, std::optional<Shape> input_shape)
    : layer_(std::move(layer)) {
  if (!layer_) throw ValueError("TimeDistributed: null layer");
  if (layer_->num_inputs() != 1)
    throw ValueError("TimeDistributed wraps a layer of one input, got " + layer_->class_name());
  if (layer_->class_name() == "InputLayer") throw ValueError("TimeDistributed cannot wrap an InputLayer");
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> TimeDistributed::plan(const Shape& input_shape) const {
  if (input_shape.size() < 2)
    throw ShapeError("TimeDistributed '" + name_ + "' needs an input of shape (batch, steps, ...), got " +
                     shape_to_string(with_batch(-1, input_shape), true));
  const Shape step(input_shape.begin() + 1, input_shape.end());
  auto inner = layer_->plan(step);
  if (!inner) return std::nullopt;
  Shape out{input_shape[0]};
  out.insert(out.end(), inner->output_shape.begin(), inner->output_shape.end());
  inner->output_shape = out;
  return inner;
}

Shape TimeDistributed::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  steps_ = input_shape[0];
  step_in_.assign(input_shape.begin() + 1, input_shape.end());
  step_out_ = layer_->build_once({step_in_}, rng);
  built_ = true;
  Shape out{steps_};
  out.insert(out.end(), step_out_.begin(), step_out_.end());
  return out;
}

void TimeDistributed::sync_flags() {
  layer_->set_trainable(trainable_);
  layer_->set_needs_input_grad(needs_input_grad_);
  layer_->set_backward_follows(backward_follows_);
}

const Tensor& TimeDistributed::forward(const Tensor& x, bool training) {
  sync_flags();
  const int64_t rows = x.rows() * steps_;
  shape_buf_ = with_batch(rows, step_in_);
  x_fold_.alias(x, shape_buf_);  // (batch, steps, ...) read as (batch * steps, ...): no copy
  const Tensor& y = layer_->forward(x_fold_, training);
  shape_buf_ = {x.rows(), steps_};
  shape_buf_.insert(shape_buf_.end(), step_out_.begin(), step_out_.end());
  y_.alias(y, shape_buf_);
  return y_;
}

const Tensor& TimeDistributed::backward(const Tensor& dy) {
  sync_flags();
  const int64_t batch = dy.rows();
  dy_fold_.alias(dy, with_batch(batch * steps_, step_out_));
  const Tensor& dx = layer_->backward(dy_fold_);
  if (!needs_input_grad_ || dx.empty()) return no_grad_;
  shape_buf_ = {batch, steps_};
  shape_buf_.insert(shape_buf_.end(), step_in_.begin(), step_in_.end());
  dx_.alias(dx, shape_buf_);
  return dx_;
}

std::vector<Param> TimeDistributed::own_params() {
  sync_flags();
  return layer_->params();
}

nlohmann::json TimeDistributed::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["layer"] = {{"class_name", layer_->class_name()}, {"config", layer_->get_config()}};
  return c;
}

}  // namespace myelin::layers
