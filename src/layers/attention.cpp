#include "myelin/layers/attention.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/dropout.hpp"
#include "kernels/cpu/elementwise.hpp"
#include "kernels/cpu/merge.hpp"
#include "myelin/error.hpp"
#include "myelin/mixed_precision.hpp"

namespace myelin::layers {

Attention::Attention(AttentionOptions options) : options_(std::move(options)) {
  if (!(options_.dropout >= 0.f && options_.dropout < 1.f))
    throw ValueError("Attention: dropout must be in [0, 1), got " + std::to_string(options_.dropout));
  name_ = options_.name;
  options_.dtype = mixed_precision::layer_policy(options_.dtype, "Attention");
  bf16_ = options_.dtype == "mixed_bfloat16" && kernels::bf16_supported() && kernels::pair_products_pay();
}

std::optional<LayerPlan> Attention::plan_inputs(const std::vector<Shape>& s) const {
  const std::string who = "Attention '" + name_ + "'";
  std::string text;
  for (const auto& x : s) text += (text.empty() ? "" : ", ") + shape_to_string(with_batch(-1, x), true);
  if (s.size() < 2 || s.size() > 3)
    throw ValueError(who + " takes [query, value] or [query, value, key], got " + std::to_string(s.size()) +
                     " inputs: " + text);
  for (const auto& x : s)
    if (x.size() != 2 || x[0] <= 0 || x[1] <= 0)
      throw ShapeError(who + " needs inputs of shape (batch, steps, features), got " + text);
  const Shape& key = s.size() == 3 ? s[2] : s[1];
  if (key[1] != s[0][1] || key[0] != s[1][0])
    throw ShapeError(who + ": the key must have the query's features and the value's steps, got " + text);
  return LayerPlan{Shape{s[0][0], s[1][1]}};
}

Shape Attention::build_inputs(const std::vector<Shape>& s, Rng& rng) {
  const LayerPlan plan = *plan_inputs(s);
  n_inputs_ = s.size();
  tq_ = s[0][0];
  tv_ = s[1][0];
  d_ = s[0][1];
  dv_ = s[1][1];
  reseed(rng);
  built_ = true;
  return plan.output_shape;
}

Shape Attention::build(const Shape& input_shape, Rng&) {
  throw ValueError("Attention '" + name_ + "' takes [query, value], got one input " +
                   shape_to_string(with_batch(-1, input_shape), true));
}
const Tensor& Attention::forward(const Tensor&, bool) {
  throw ValueError("Attention '" + name_ + "' takes [query, value], got one input");
}
const Tensor& Attention::backward(const Tensor&) {
  throw ValueError("Attention '" + name_ + "' takes [query, value], got one input");
}

// One head of width d over the inputs themselves: MultiHeadAttention's kernels with no projection.
const Tensor& Attention::forward_inputs(const std::vector<const Tensor*>& in, bool training) {
  // Views, as the tensors the graph passes may be other objects by the backward pass.
  q_.alias(*in[0], in[0]->shape());
  v_.alias(*in[1], in[1]->shape());
  const Tensor& key = in.size() == 3 ? *in[2] : *in[1];
  k_.alias(key, key.shape());
  const int64_t B = q_.rows();
  const kernels::AttentionDims d{B, tq_, tv_, 1, d_, dv_, bf16_};
  p_.resize({B, 1, tq_, tv_});
  // Keras's Attention reads the query's and the value's masks (not the key's).
  const Tensor* qm = input_mask(0);
  const Tensor* vm = input_mask(1);
  for (auto [m, steps] : {std::pair{qm, tq_}, std::pair{vm, tv_}})
    if (m && m->shape() != Shape{B, steps})
      throw ShapeError("Attention '" + name_ + "': mask " + shape_to_string(m->shape()) + " does not fit (" +
                       std::to_string(B) + ", " + std::to_string(steps) + ")");
  const float* allowed = nullptr;
  if (vm) {
    allowed_.resize({B, tq_, tv_});
    kernels::attention_allowed(d, nullptr, nullptr, vm->data(), nullptr, allowed_.data());
    allowed = allowed_.data();
  }
  query_masked_ = qm != nullptr;
  value_masked_ = vm != nullptr;
  if (qm) qmask_.alias(*qm, qm->shape());
  dropped_ = training && options_.dropout > 0.f;
  Tensor& y = output_buffer(y_);
  y.resize({B, tq_, dv_});
  const Tensor* pd = &p_;
  if (!dropped_) {  // each sample's weighted sum as soon as its probabilities are written
    // Kept for backward and the scores output; otherwise each sample's stay in its core's cache.
    float* kept = training || options_.return_attention_scores ? p_.data() : nullptr;
    kernels::attention_probs(d, q_.data(), k_.data(), 1.f, allowed, options_.use_causal_mask, kept, v_.data(),
                             y.data());
  } else {
    kernels::attention_probs(d, q_.data(), k_.data(), 1.f, allowed, options_.use_causal_mask, p_.data());
    drop_.resize(p_.shape());
    pd_.resize(p_.shape());
    kernels::dropout_forward(rng_, options_.dropout, p_.data(), drop_.data(), pd_.data(), B, 1, p_.size() / B);
    pd = &pd_;
    kernels::attention_context(d, pd->data(), v_.data(), y.data());
  }
  if (query_masked_) kernels::mask_steps(B, tq_, dv_, qmask_.data(), y.data(), y.data());
  // As Keras, the weights returned are not multiplied by the query's mask (only the output is).
  if (options_.return_attention_scores) scores_.alias(*pd, Shape{B, tq_, tv_});
  return y;
}

Shape Attention::extra_output_shape(int k) const {
  if (k != 1 || !options_.return_attention_scores) return Layer::extra_output_shape(k);
  return Shape{tq_, tv_};
}

const Tensor& Attention::extra_output(int k) const {
  if (k != 1 || !options_.return_attention_scores) return Layer::extra_output(k);
  return scores_;
}

void Attention::backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& grads) {
  const Tensor* dscores = output_grads.size() > 1 ? output_grads[1] : nullptr;
  if (dscores && dscores->shape() != scores_.shape())
    throw ShapeError("Attention '" + name_ + "': scores gradient " + shape_to_string(dscores->shape()) +
                     " does not match the scores " + shape_to_string(scores_.shape()));
  const Tensor* dy = output_grads[0];
  if (!dy) {  // only the weights are read: the output's gradient is zero
    dy_zero_.resize({p_.dim(0), tq_, dv_});
    dy_zero_.fill(0.f);
    dy = &dy_zero_;
  }
  if (dscores && dropped_) {
    // The weights returned are after dropout: their gradient goes through the mask to p.
    dscores_.resize(p_.shape());
    kernels::binary(kernels::BinaryOp::Multiply, dscores->data(), drop_.data(), dscores_.data(), dscores_.size());
    dscores = &dscores_;
  }
  backward_impl(*dy, dscores, grads);
}

void Attention::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& grads) { backward_impl(dy, nullptr, grads); }

void Attention::backward_impl(const Tensor& dy, const Tensor* dscores, std::vector<const Tensor*>& grads) {
  const int64_t B = dy.rows();
  const kernels::AttentionDims d{B, tq_, tv_, 1, d_, dv_, bf16_};
  gq_.resize(q_.shape());
  gk_.resize(k_.shape());
  gv_.resize(v_.shape());
  const float* dyp = dy.data();
  if (query_masked_) {  // the output was multiplied by the query's mask
    dy_masked_.resize(dy.shape());
    kernels::mask_steps(B, tq_, dv_, qmask_.data(), dy.data(), dy_masked_.data());
    dyp = dy_masked_.data();
  }
  kernels::attention_backward(d, q_.data(), k_.data(), v_.data(), p_.data(), dropped_ ? pd_.data() : p_.data(),
                              dropped_ ? drop_.data() : nullptr, 1.f, dyp, gq_.data(), gk_.data(),
                              gv_.data(), value_masked_ ? allowed_.data() : nullptr, options_.use_causal_mask,
                              dscores ? dscores->data() : nullptr);
  for (auto& g : grads) g = nullptr;
  if (!needs_input_grad_) return;
  // Without a key input the keys are the values, whose gradient then takes both paths.
  if (n_inputs_ == 2) kernels::accumulate(gk_.data(), gv_.data(), gv_.size());
  grads[0] = &gq_;
  grads[1] = &gv_;
  if (n_inputs_ == 3) grads[2] = &gk_;
}

nlohmann::json Attention::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["use_scale"] = false;
  c["score_mode"] = "dot";
  c["dropout"] = options_.dropout;
  c["seed"] = nullptr;
  c["use_causal_mask"] = options_.use_causal_mask;  // a call argument in Keras (see the header)
  if (options_.return_attention_scores) c["return_attention_scores"] = true;  // likewise
  if (options_.dtype != "float32") c["dtype"] = mixed_precision::policy_to_config(options_.dtype);
  return c;
}

}  // namespace myelin::layers
