#include "myelin/layers/bidirectional.hpp"

#include "kernels/cpu/elementwise.hpp"
#include "kernels/cpu/recurrent.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/registry.hpp"

namespace myelin::layers {

namespace {

using kernels::BidirectionalMerge;

BidirectionalMerge merge_from_name(const std::string& mode) {
  if (mode == "concat") return BidirectionalMerge::Concat;
  if (mode == "sum") return BidirectionalMerge::Sum;
  if (mode == "mul") return BidirectionalMerge::Mul;
  if (mode == "ave") return BidirectionalMerge::Ave;
  throw ValueError("Bidirectional: merge_mode '" + mode + "' is not supported (concat, sum, mul, ave)");
}

// The wrapped layer's name without a direction prefix, or Keras's default name for its class.
std::string base_name(const Layer& layer, const std::string& prefix) {
  const std::string& n = layer.name();
  if (n.empty()) return layer.class_name() == "SimpleRNN" ? "simple_rnn" : layer.class_name() == "LSTM" ? "lstm" : "gru";
  return n.rfind(prefix, 0) == 0 ? n.substr(prefix.size()) : n;
}

}  // namespace

Bidirectional::Bidirectional(std::shared_ptr<Recurrent> layer, const std::string& merge_mode,
                             std::shared_ptr<Recurrent> backward, std::optional<Shape> input_shape)
    : forward_(std::move(layer)), backward_(std::move(backward)), merge_mode_(merge_mode) {
  if (!forward_) throw ValueError("Bidirectional: needs a recurrent layer to wrap");
  mode_ = int(merge_from_name(merge_mode));
  const std::string base = base_name(*forward_, "forward_");
  if (!backward_) {
    // Keras makes the backward layer from the wrapped one's config, go_backwards flipped.
    nlohmann::json c = forward_->get_config();
    c["go_backwards"] = !forward_->options().go_backwards;
    c["name"] = "backward_" + base;
    backward_ = std::static_pointer_cast<Recurrent>(from_config(forward_->class_name(), c));
  } else {
    if (backward_->class_name() != forward_->class_name() ||
        backward_->options().return_sequences != forward_->options().return_sequences ||
        backward_->options().return_state != forward_->options().return_state ||
        backward_->options().go_backwards == forward_->options().go_backwards)
      throw ValueError("Bidirectional: backward_layer must be a " + forward_->class_name() +
                       " with the same return_sequences and return_state and go_backwards flipped, got a " +
                       backward_->class_name());
    backward_->set_name("backward_" + base_name(*backward_, "backward_"));
  }
  forward_->set_name("forward_" + base);
  // Keras: with masks, a returned sequence's masked steps are zeros in both directions.
  for (Recurrent* l : {forward_.get(), backward_.get()}) l->set_zero_output_for_mask(l->options().return_sequences);
  input_shape_ = input_shape ? input_shape : forward_->declared_input_shape();
}

std::optional<LayerPlan> Bidirectional::plan(const Shape& input_shape) const {
  LayerPlan p = *forward_->plan(input_shape);
  const LayerPlan b = *backward_->plan(input_shape);
  if (BidirectionalMerge(mode_) == BidirectionalMerge::Concat) p.output_shape.back() *= 2;
  p.trainable_values += b.trainable_values;
  return p;
}

Shape Bidirectional::build(const Shape& input_shape, Rng& rng) {
  LayerPlan p = *plan(input_shape);
  forward_->build(input_shape, rng);
  backward_->build(input_shape, rng);
  built_ = true;
  return p.output_shape;
}

void Bidirectional::sync_flags() {
  for (Recurrent* l : {forward_.get(), backward_.get()}) {
    l->set_trainable(trainable_);
    l->set_needs_input_grad(needs_input_grad_);
    l->set_backward_follows(backward_follows_);
    l->set_input_masks(input_masks_);  // the input's mask, which both directions follow
  }
}

const Tensor& Bidirectional::forward(const Tensor& x, bool training) {
  sync_flags();
  yf_ = &forward_->forward(x, training);
  yb_ = &backward_->forward(x, training);
  const bool seq = forward_->options().return_sequences;
  const int64_t batch = x.dim(0), steps = seq ? x.dim(1) : 1, units = forward_->units();
  const auto mode = BidirectionalMerge(mode_);
  const int64_t out_units = mode == BidirectionalMerge::Concat ? 2 * units : units;
  shape_buf_ = seq ? Shape{batch, steps, out_units} : Shape{batch, out_units};
  Tensor& y = output_buffer(y_);
  y.resize(shape_buf_);
  kernels::bidirectional_merge(mode, batch, steps, units, seq, yf_->data(), yb_->data(), y.data());
  return y;
}

Shape Bidirectional::extra_output_shape(int k) const {
  if (k < 1 || k >= num_outputs()) return Layer::extra_output_shape(k);
  return Shape{forward_->units()};
}

const Tensor& Bidirectional::extra_output(int k) const {
  if (k < 1 || k >= num_outputs()) return Layer::extra_output(k);
  const int n = forward_->num_states();
  return k <= n ? forward_->extra_output(k) : backward_->extra_output(k - n);
}

void Bidirectional::backward_outputs(const std::vector<const Tensor*>& output_grads,
                                     std::vector<const Tensor*>& input_grads) {
  if (!yf_) throw ValueError("Bidirectional '" + name_ + "': backward before forward");
  const int n = forward_->num_states();
  // Each direction gets its share of the merged output's gradient (or none) and its own states'.
  grads_f_.assign(1 + size_t(n), nullptr);
  grads_b_.assign(1 + size_t(n), nullptr);
  for (int k = 1; k <= n; ++k) {
    grads_f_[size_t(k)] = size_t(k) < output_grads.size() ? output_grads[size_t(k)] : nullptr;
    grads_b_[size_t(k)] = size_t(k + n) < output_grads.size() ? output_grads[size_t(k + n)] : nullptr;
  }
  if (output_grads[0]) {
    split_output_grad(*output_grads[0]);
    grads_f_[0] = &dyf_;
    grads_b_[0] = &dyb_;
  }
  sync_flags();
  in_grad_f_.assign(1, nullptr);
  in_grad_b_.assign(1, nullptr);
  forward_->backward_outputs(grads_f_, in_grad_f_);
  backward_->backward_outputs(grads_b_, in_grad_b_);
  input_grads.assign(input_grads.size(), nullptr);
  if (!needs_input_grad_) return;
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_grad_f_[0]->shape());
  kernels::binary(kernels::BinaryOp::Add, in_grad_f_[0]->data(), in_grad_b_[0]->data(), dx.data(), dx.size());
  input_grads[0] = &dx;
}

void Bidirectional::split_output_grad(const Tensor& dy) {
  const bool seq = forward_->options().return_sequences;
  const int64_t batch = yf_->dim(0), steps = seq ? yf_->dim(1) : 1, units = forward_->units();
  const auto mode = BidirectionalMerge(mode_);
  const Shape want = seq ? Shape{batch, steps, mode == BidirectionalMerge::Concat ? 2 * units : units}
                         : Shape{batch, mode == BidirectionalMerge::Concat ? 2 * units : units};
  if (dy.shape() != want)
    throw ShapeError("Bidirectional '" + name_ + "': output gradient " + shape_to_string(dy.shape()) +
                     " does not match the output " + shape_to_string(want));
  dyf_.resize(yf_->shape());
  dyb_.resize(yb_->shape());
  kernels::bidirectional_merge_backward(mode, batch, steps, units, seq, dy.data(), yf_->data(), yb_->data(),
                                        dyf_.data(), dyb_.data());
}

const Tensor& Bidirectional::backward(const Tensor& dy) {
  if (!yf_) throw ValueError("Bidirectional '" + name_ + "': backward before forward");
  split_output_grad(dy);
  sync_flags();
  const Tensor& dxf = forward_->backward(dyf_);
  const Tensor& dxb = backward_->backward(dyb_);
  if (!needs_input_grad_) return no_grad_;
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(dxf.shape());
  kernels::binary(kernels::BinaryOp::Add, dxf.data(), dxb.data(), dx.data(), dx.size());
  return dx;
}

void Bidirectional::reseed(Rng& rng) {
  forward_->reseed(rng);
  backward_->reseed(rng);
}

int64_t Bidirectional::flops_per_sample() const {
  return forward_->flops_per_sample() + backward_->flops_per_sample();
}

std::vector<Param> Bidirectional::own_params() {
  sync_flags();
  std::vector<Param> out;
  for (Recurrent* l : {forward_.get(), backward_.get()})
    for (Param p : l->params()) {
      p.name = l->name() + "/" + p.name;
      out.push_back(p);
    }
  return out;
}

nlohmann::json Bidirectional::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["merge_mode"] = merge_mode_;
  c["layer"] = {{"class_name", forward_->class_name()}, {"config", forward_->get_config()}};
  c["backward_layer"] = {{"class_name", backward_->class_name()}, {"config", backward_->get_config()}};
  return c;
}

}  // namespace myelin::layers
