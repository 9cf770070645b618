#include "myelin/layers/multi_head_attention.hpp"

#include <cmath>
#include <tuple>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/dropout.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/merge.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/mixed_precision.hpp"

namespace myelin::layers {

namespace {
std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (const auto& x : shapes) s += (s.empty() ? "" : ", ") + shape_to_string(with_batch(-1, x), true);
  return s;
}
}  // namespace

MultiHeadAttention::MultiHeadAttention(int64_t num_heads, int64_t key_dim, MultiHeadAttentionOptions options)
    : heads_(num_heads), key_dim_(key_dim), value_dim_(options.value_dim.value_or(key_dim)), options_(std::move(options)) {
  if (num_heads <= 0) throw ValueError("MultiHeadAttention: num_heads must be positive, got " + std::to_string(num_heads));
  if (key_dim <= 0) throw ValueError("MultiHeadAttention: key_dim must be positive, got " + std::to_string(key_dim));
  if (value_dim_ <= 0)
    throw ValueError("MultiHeadAttention: value_dim must be positive, got " + std::to_string(value_dim_));
  if (options_.output_shape && *options_.output_shape <= 0)
    throw ValueError("MultiHeadAttention: output_shape must be positive, got " + std::to_string(*options_.output_shape));
  if (!(options_.dropout >= 0.f && options_.dropout < 1.f))
    throw ValueError("MultiHeadAttention: dropout must be in [0, 1), got " + std::to_string(options_.dropout));
  name_ = options_.name;
  options_.dtype = mixed_precision::layer_policy(options_.dtype, "MultiHeadAttention");
  bf16_ = options_.dtype == "mixed_bfloat16" && kernels::bf16_supported();
  attention_bf16_ = bf16_ && kernels::pair_products_pay();
}

std::optional<LayerPlan> MultiHeadAttention::plan_inputs(const std::vector<Shape>& s) const {
  const std::string who = "MultiHeadAttention '" + name_ + "'";
  if (s.size() < 2 || s.size() > 4)
    throw ValueError(who + " takes [query, value], [query, value, key] or [query, value, key, attention_mask], got " +
                     std::to_string(s.size()) + " inputs: " + shapes_text(s));
  for (size_t j = 0; j < std::min<size_t>(s.size(), 3); ++j)
    if (s[j].size() != 2 || s[j][0] <= 0 || s[j][1] <= 0)
      throw ShapeError(who + " needs query, value and key of shape (batch, steps, features), got " + shapes_text(s));
  if (s.size() >= 3 && s[2][0] != s[1][0])
    throw ShapeError(who + ": key and value must have the same number of steps, got value " +
                     shape_to_string(with_batch(-1, s[1]), true) + " and key " + shape_to_string(with_batch(-1, s[2]), true));
  if (s.size() == 4 && s[3] != Shape{s[0][0], s[1][0]})
    throw ShapeError(who + ": attention_mask must have shape (batch, " + std::to_string(s[0][0]) + ", " +
                     std::to_string(s[1][0]) + ") for query " + shape_to_string(with_batch(-1, s[0]), true) +
                     " and value " + shape_to_string(with_batch(-1, s[1]), true) + ", got " +
                     shape_to_string(with_batch(-1, s[3]), true));
  const int64_t dq = s[0][1], dv = s[1][1], dk = s.size() >= 3 ? s[2][1] : dv;
  const int64_t out = options_.output_shape.value_or(dq);
  LayerPlan p{Shape{s[0][0], out}};
  const int64_t b = options_.use_bias ? 1 : 0;
  p.trainable_values = (dq + b) * heads_ * key_dim_ + (dk + b) * heads_ * key_dim_ + (dv + b) * heads_ * value_dim_ +
                       heads_ * value_dim_ * out + b * out;
  return p;
}

Shape MultiHeadAttention::build_inputs(const std::vector<Shape>& s, Rng& rng) {
  const LayerPlan plan = *plan_inputs(s);
  n_inputs_ = s.size();
  tq_ = s[0][0];
  tv_ = s[1][0];
  dq_in_ = s[0][1];
  dv_in_ = s[1][1];
  dk_in_ = s.size() >= 3 ? s[2][1] : dv_in_;
  out_dim_ = plan.output_shape[1];
  const int64_t hk = heads_ * key_dim_, hv = heads_ * value_dim_;
  // Keras's fans for an EinsumDense kernel (in, heads, width): the leading axis counts as the
  // receptive field, so fan_in = in * heads and fan_out = in * width; for (heads, value_dim, out)
  // fan_in = heads * value_dim and fan_out = heads * out.
  // Shapes as Keras's: kernels (in, heads, width) and biases (heads, width), the output's
  // (heads, value_dim, out) and (out); row-major, they are the (in, heads * width) matrices the GEMMs use.
  auto make = [&](Projection& w, Shape kernel, Shape bias, int64_t fan_in, int64_t fan_out) {
    w.kernel = Tensor(kernel);
    w.kernel_grad = Tensor(kernel);
    initializers::fill(options_.kernel_initializer, w.kernel, fan_in, fan_out, rng);
    if (options_.use_bias) {
      w.bias = Tensor(bias);
      w.bias_grad = Tensor(bias);
      initializers::fill(options_.bias_initializer, w.bias, fan_in, fan_out, rng);
    }
  };
  make(query_, {dq_in_, heads_, key_dim_}, {heads_, key_dim_}, dq_in_ * heads_, dq_in_ * key_dim_);
  make(key_, {dk_in_, heads_, key_dim_}, {heads_, key_dim_}, dk_in_ * heads_, dk_in_ * key_dim_);
  make(value_, {dv_in_, heads_, value_dim_}, {heads_, value_dim_}, dv_in_ * heads_, dv_in_ * value_dim_);
  make(output_, {heads_, value_dim_, out_dim_}, {out_dim_}, hv, heads_ * out_dim_);
  flops_ = 2 * (tq_ * dq_in_ * hk + tv_ * dk_in_ * hk + tv_ * dv_in_ * hv + heads_ * tq_ * tv_ * (key_dim_ + value_dim_) +
                tq_ * hv * out_dim_);
  reseed(rng);
  built_ = true;
  return plan.output_shape;
}

Shape MultiHeadAttention::build(const Shape& input_shape, Rng&) {
  throw ValueError("MultiHeadAttention '" + name_ + "' takes [query, value] (the same tensor twice for self-attention), got one input " +
                   shape_to_string(with_batch(-1, input_shape), true));
}
const Tensor& MultiHeadAttention::forward(const Tensor&, bool) {
  throw ValueError("MultiHeadAttention '" + name_ + "' takes [query, value], got one input");
}
const Tensor& MultiHeadAttention::backward(const Tensor&) {
  throw ValueError("MultiHeadAttention '" + name_ + "' takes [query, value], got one input");
}

void MultiHeadAttention::project(Projection& w, const Tensor& x, Tensor& out, int64_t cols, bool training) {
  const int64_t in = x.shape().back(), rows = x.size() / in;
  if (bf16_) {
    // As Dense: inference keeps the rounded kernel while the weights stay the same bit for bit;
    // training rounds them every call and keeps the rounded input for the weight gradient.
    if (training) w.rounded_from.clear();
    const bool keep_x = training && trainable_;
    if (keep_x && !w.x_bf16) w.x_bf16 = std::make_shared<kernels::RoundedInput>();
    kernels::dense_bf16(rows, cols, in, x.data(), in, w.kernel.data(), training ? nullptr : &w.rounded_from,
                        w.kernel_bf16, out.data(), cols, {}, keep_x ? w.x_bf16.get() : nullptr);
    if (!keep_x && w.x_bf16) w.x_bf16->clear();
  } else {
    kernels::gemm(false, false, rows, cols, in, 1.f, x.data(), in, w.kernel.data(), cols, 0.f, out.data(), cols);
  }
  if (options_.use_bias)
    kernels::bias_activation_forward(ActivationKind::Linear, out.data(), w.bias.data(), nullptr, out.data(), rows, cols);
}

void MultiHeadAttention::project_backward(Projection& w, const Tensor& x, const Tensor& dout, int64_t cols, Tensor* dx,
                                          bool add_to_dx) {
  const int64_t in = x.shape().back(), rows = x.size() / in;
  if (trainable_) {  // a frozen layer has no weight gradients
    if (bf16_)
      kernels::weight_gradient_bf16(rows, in, cols, x.data(), in, dout.data(), cols, w.kernel_grad.data(), cols,
                                    w.x_bf16.get());
    else
      kernels::gemm(true, false, in, cols, rows, 1.f, x.data(), in, dout.data(), cols, 0.f, w.kernel_grad.data(), cols);
    if (options_.use_bias) kernels::column_sums(dout.data(), w.bias_grad.data(), rows, cols);
  }
  if (!dx) return;
  if (!add_to_dx) dx->resize(x.shape());
  if (!bf16_) {
    kernels::gemm(false, true, rows, in, cols, 1.f, dout.data(), cols, w.kernel.data(), cols, add_to_dx ? 1.f : 0.f,
                  dx->data(), in);
    return;
  }
  if (!add_to_dx) {
    kernels::gemm_bf16(false, true, rows, in, cols, dout.data(), cols, w.kernel.data(), cols, dx->data(), in);
    return;
  }
  // gemm_bf16 overwrites: the second path's gradient goes through a scratch added to dx.
  dx_path_.resize(x.shape());
  kernels::gemm_bf16(false, true, rows, in, cols, dout.data(), cols, w.kernel.data(), cols, dx_path_.data(), in);
  kernels::add(dx->data(), dx_path_.data(), dx->data(), dx->size());
}

const Tensor& MultiHeadAttention::forward_inputs(const std::vector<const Tensor*>& in, bool training) {
  const Tensor& query = *in[0];
  const Tensor& value = *in[1];
  const Tensor& key = in.size() >= 3 ? *in[2] : value;
  const int64_t B = query.rows();
  xq_.alias(query, query.shape());
  xv_.alias(value, value.shape());
  xk_.alias(key, key.shape());
  if (in.size() == 4) mask_.alias(*in[3], in[3]->shape());
  const kernels::AttentionDims d{B, tq_, tv_, heads_, key_dim_, value_dim_, attention_bf16_};
  q_.resize({B * tq_, heads_ * key_dim_});
  k_.resize({B * tv_, heads_ * key_dim_});
  v_.resize({B * tv_, heads_ * value_dim_});
  project(query_, query, q_, heads_ * key_dim_, training);
  project(key_, key, k_, heads_ * key_dim_, training);
  project(value_, value, v_, heads_ * value_dim_, training);
  p_.resize({B, heads_, tq_, tv_});
  const float* allowed = in.size() == 4 ? mask_.data() : nullptr;
  // Keras's masks of query, value and key (key: value's when no key is given) join the explicit one.
  const Tensor* qm = input_mask(0);
  const Tensor* vm = input_mask(1);
  const Tensor* km = in.size() >= 3 ? input_mask(2) : vm;
  if (qm || vm || km) {
    const std::string who = "MultiHeadAttention '" + name_ + "'";
    for (auto [m, steps, what] : {std::tuple{qm, tq_, "query"}, std::tuple{vm, tv_, "value"}, std::tuple{km, tv_, "key"}})
      if (m && m->shape() != Shape{B, steps})
        throw ShapeError(who + ": the " + what + "'s mask " + shape_to_string(m->shape()) + " does not fit (" +
                         std::to_string(B) + ", " + std::to_string(steps) + ")");
    allowed_.resize({B, tq_, tv_});
    kernels::attention_allowed(d, allowed, qm ? qm->data() : nullptr, vm ? vm->data() : nullptr,
                               km ? km->data() : nullptr, allowed_.data());
    allowed = allowed_.data();
  }
  allowed_used_ = allowed;
  dropped_ = training && options_.dropout > 0.f;
  o_.resize({B * tq_, heads_ * value_dim_});
  const float scale = float(1.0 / std::sqrt(double(key_dim_)));
  if (!dropped_) {  // each head's weighted sum as soon as its probabilities are written
    // Kept for backward and the scores output; otherwise each head's stay in its core's cache.
    float* kept = training || options_.return_attention_scores ? p_.data() : nullptr;
    kernels::attention_probs(d, q_.data(), k_.data(), scale, allowed, options_.use_causal_mask, kept, v_.data(),
                             o_.data());
  } else {
    kernels::attention_probs(d, q_.data(), k_.data(), scale, allowed, options_.use_causal_mask, p_.data());
    drop_.resize(p_.shape());
    pd_.resize(p_.shape());
    kernels::dropout_forward(rng_, options_.dropout, p_.data(), drop_.data(), pd_.data(), B, 1, p_.size() / B);
    kernels::attention_context(d, pd_.data(), v_.data(), o_.data());
  }
  Tensor& y = output_buffer(y_);
  shape_buf_ = {B, tq_, out_dim_};
  y.resize(shape_buf_);
  project(output_, o_, y, out_dim_, training);
  return y;
}

Shape MultiHeadAttention::extra_output_shape(int k) const {
  if (k != 1 || !options_.return_attention_scores) return Layer::extra_output_shape(k);
  return Shape{heads_, tq_, tv_};
}

const Tensor& MultiHeadAttention::extra_output(int k) const {
  if (k != 1 || !options_.return_attention_scores) return Layer::extra_output(k);
  return p_;
}

void MultiHeadAttention::backward_outputs(const std::vector<const Tensor*>& output_grads,
                                          std::vector<const Tensor*>& grads) {
  const Tensor* dscores = output_grads.size() > 1 ? output_grads[1] : nullptr;
  if (dscores && dscores->shape() != p_.shape())
    throw ShapeError("MultiHeadAttention '" + name_ + "': scores gradient " + shape_to_string(dscores->shape()) +
                     " does not match the scores " + shape_to_string(p_.shape()));
  const Tensor* dy = output_grads[0];
  if (!dy) {  // only the scores are read: the output's gradient is zero
    dy_zero_.resize({p_.dim(0), tq_, out_dim_});
    dy_zero_.fill(0.f);
    dy = &dy_zero_;
  }
  backward_impl(*dy, dscores, grads);
}

void MultiHeadAttention::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& grads) {
  backward_impl(dy, nullptr, grads);
}

void MultiHeadAttention::backward_impl(const Tensor& dy, const Tensor* dscores, std::vector<const Tensor*>& grads) {
  const int64_t B = dy.rows(), hk = heads_ * key_dim_, hv = heads_ * value_dim_;
  const kernels::AttentionDims d{B, tq_, tv_, heads_, key_dim_, value_dim_, attention_bf16_};
  // The output projection: its weights' gradients, and d(joined heads).
  do_.resize(o_.shape());
  project_backward(output_, o_, dy, out_dim_, &do_, false);
  dq_.resize(q_.shape());
  dk_.resize(k_.shape());
  dv_.resize(v_.shape());
  kernels::attention_backward(d, q_.data(), k_.data(), v_.data(), p_.data(), dropped_ ? pd_.data() : p_.data(),
                              dropped_ ? drop_.data() : nullptr, float(1.0 / std::sqrt(double(key_dim_))), do_.data(),
                              dq_.data(), dk_.data(), dv_.data(), allowed_used_, options_.use_causal_mask,
                              dscores ? dscores->data() : nullptr);
  const bool dx = needs_input_grad_;
  const bool own_key = n_inputs_ >= 3;
  project_backward(query_, xq_, dq_, hk, dx ? &dxq_ : nullptr, false);
  project_backward(value_, xv_, dv_, hv, dx ? &dxv_ : nullptr, false);
  // Without a key input the keys come from value, whose gradient then takes both paths.
  project_backward(key_, xk_, dk_, hk, dx ? (own_key ? &dxk_ : &dxv_) : nullptr, !own_key);
  for (auto& g : grads) g = nullptr;
  if (!dx) return;
  grads[0] = &dxq_;
  grads[1] = &dxv_;
  if (own_key) grads[2] = &dxk_;
}

std::vector<Param> MultiHeadAttention::own_params() {
  std::vector<Param> p;
  const Regularizer* kr = options_.kernel_regularizer ? &*options_.kernel_regularizer : nullptr;
  const Regularizer* br = options_.bias_regularizer ? &*options_.bias_regularizer : nullptr;
  for (auto [name, w] : {std::pair<const char*, Projection*>{"query", &query_}, {"key", &key_}, {"value", &value_},
                         {"attention_output", &output_}}) {
    p.push_back({std::string(name) + "/kernel", &w->kernel, &w->kernel_grad, kr});
    if (options_.use_bias) p.push_back({std::string(name) + "/bias", &w->bias, &w->bias_grad, br});
  }
  return p;
}

nlohmann::json MultiHeadAttention::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["num_heads"] = heads_;
  c["key_dim"] = key_dim_;
  c["value_dim"] = value_dim_;
  c["dropout"] = options_.dropout;
  c["use_bias"] = options_.use_bias;
  c["output_shape"] = options_.output_shape ? nlohmann::json(*options_.output_shape) : nlohmann::json(nullptr);
  c["attention_axes"] = nullptr;
  c["use_causal_mask"] = options_.use_causal_mask;  // a call argument in Keras (see the header)
  if (options_.return_attention_scores) c["return_attention_scores"] = true;  // likewise
  c["kernel_initializer"] = io::initializer_to_json(options_.kernel_initializer);
  c["bias_initializer"] = io::initializer_to_json(options_.bias_initializer);
  c["kernel_regularizer"] = io::regularizer_to_json(options_.kernel_regularizer);
  c["bias_regularizer"] = io::regularizer_to_json(options_.bias_regularizer);
  c["activity_regularizer"] = nullptr;
  c["kernel_constraint"] = nullptr;
  c["bias_constraint"] = nullptr;
  if (options_.dtype != "float32") c["dtype"] = mixed_precision::policy_to_config(options_.dtype);
  return c;
}

}  // namespace myelin::layers
