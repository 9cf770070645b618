// MultiHeadAttention: Keras 3's layers.MultiHeadAttention over sequences (batch, steps, features).
//
// `auto y = MultiHeadAttention(4, 32)({query, value});` cross-attends query (batch, Tq, dq) over
// value (batch, Tv, dv_in); `({x, x})` is self-attention; `({query, value, key})` takes the keys from
// a third input (batch, Tv, dk_in), else from value. Each head h projects query, key and value
// (Keras's EinsumDense: query/kernel (dq, heads, key_dim), query/bias (heads, key_dim), the same for
// key/ and value/ with value_dim), attends with softmax(q k^T / sqrt(key_dim)), dropout on those
// probabilities while training, and attention_output/kernel (heads, value_dim, out) with
// attention_output/bias (out) joins the heads; out is output_shape, or dq when not given.
//
// Masks. use_causal_mask is a call argument in Keras; here it is an option of the layer, saved in its
// config, so that a model file keeps it (query step i attends value steps j <= i). An explicit
// attention_mask (batch, Tq, Tv), 1 where a query step may attend a value step and 0 where not, is a
// fourth input, after an explicit key: `({query, value, value, mask})`. It combines with the causal
// mask; masked scores are set to -1e9 before the softmax, as Keras does, so they get weight 0 and a
// row with nothing allowed is uniform. The mask gets no gradient. Masks the inputs carry (Embedding's
// mask_zero, Masking; Layer::MaskFlow) join in as Keras's _compute_attention_mask joins them: a
// value (or key) step that is padding gets no attention, and a padded query step attends nothing
// (its row is uniform); the output carries the query's mask.
//
// return_attention_scores: a call argument in Keras (`output, scores = mha(q, v,
// return_attention_scores=True)`); here an option of the layer, saved in its config, that gives the
// layer a second output: the attention probabilities (batch, heads, Tq, Tv), after the softmax and
// before dropout, as Keras returns them. Call it through call_outputs:
// `auto [y, scores] = ...call_outputs({q, v})`. The scores are an ordinary output: a loss or a later
// layer may read them, and their gradient flows back through the softmax to the projections (a
// masked score, being a constant, gets none). With masks, padded keys get probability 0; the scores
// output carries no mask.
//
// Under the dtype policy "mixed_bfloat16" (myelin/mixed_precision.hpp) the four projections multiply
// in bfloat16 as Dense does (forward, weight gradients and input gradients), and so do the heads'
// scores q k^T, the weighted sums of the values and their backward products, each accumulating in
// float32; the softmax, its backward and the masks stay float32. On a CPU with AMX the heads'
// products stay float32 (kernels::pair_products_pay()).
//
// Not supported: attention_axes other than the steps axis, inputs of other ranks than (batch, steps,
// features).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::kernels {
struct RoundedInput;
}

namespace myelin::layers {

/// Keras's keyword arguments of MultiHeadAttention, with its defaults.
struct MultiHeadAttentionOptions {
  std::optional<int64_t> value_dim;     ///< default key_dim
  float dropout = 0.f;                  ///< on the attention probabilities, while training
  bool use_bias = true;
  std::optional<int64_t> output_shape;  ///< last axis of the output; default the query's
  bool use_causal_mask = false;         ///< Keras's call argument, kept as an option (see above)
  bool return_attention_scores = false;  ///< Keras's call argument: a second output, the scores (see above)
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer;
  std::optional<Regularizer> bias_regularizer;
  std::string name;
  std::string dtype;  ///< dtype policy (myelin/mixed_precision.hpp); empty: the global policy
};

class MultiHeadAttention : public Layer {
  MYELIN_LAYER_MOVABLE(MultiHeadAttention)
  bool writes_lent_output() const override { return true; }
  /// `MultiHeadAttention(4, 32)`; `MultiHeadAttention(2, 16, {.dropout = 0.1f, .use_causal_mask = true})`.
  MultiHeadAttention(int64_t num_heads, int64_t key_dim, MultiHeadAttentionOptions options = {});

  std::string class_name() const override { return "MultiHeadAttention"; }
  int num_inputs() const override { return -1; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  Shape build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) override;
  std::optional<LayerPlan> plan_inputs(const std::vector<Shape>& input_shapes) const override;
  const Tensor& forward_inputs(const std::vector<const Tensor*>& inputs, bool training) override;
  void backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) override;
  int num_outputs() const override { return options_.return_attention_scores ? 2 : 1; }
  Shape extra_output_shape(int k) const override;
  const Tensor& extra_output(int k) const override;
  void backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& input_grads) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override { return flops_; }
  void reseed(Rng& rng) override { rng_ = rng.split(); }
  bool uses_input_masks() const override { return true; }
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // the query's mask

  int64_t num_heads() const { return heads_; }
  int64_t key_dim() const { return key_dim_; }
  int64_t value_dim() const { return value_dim_; }
  const MultiHeadAttentionOptions& options() const { return options_; }
  /// The dtype policy the layer was made with: "float32" or "mixed_bfloat16".
  const std::string& dtype_policy() const { return options_.dtype; }
  /// The probabilities of the last forward batch, (batch, heads, Tq, Tv), before dropout: of a training
  /// pass, or of any pass with return_attention_scores (an inference pass without the scores output
  /// keeps none: each head's stay in the cache of the core that computes them).
  const Tensor& attention_probs() const { return p_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  // One of the four projections: a kernel (in, heads * width) and a bias (heads * width). Under
  // mixed_bfloat16 also the kernel rounded to bfloat16 (kernels::dense_bf16's layout), the float32
  // values it was rounded from after an inference call, and the input as the forward rounded it.
  struct Projection {
    Tensor kernel, bias, kernel_grad, bias_grad;
    std::vector<float> rounded_from;
    std::vector<uint16_t> kernel_bf16;
    std::shared_ptr<kernels::RoundedInput> x_bf16;
  };
  void backward_impl(const Tensor& dy, const Tensor* dscores, std::vector<const Tensor*>& input_grads);
  // out [rows, cols] = x w.kernel + w.bias, out already sized.
  void project(Projection& w, const Tensor& x, Tensor& out, int64_t cols, bool training);
  void project_backward(Projection& w, const Tensor& x, const Tensor& dout, int64_t cols, Tensor* dx,
                        bool add_to_dx);

  int64_t heads_, key_dim_, value_dim_;
  MultiHeadAttentionOptions options_;
  bool bf16_ = false;  // the projections multiply in bfloat16 (mixed_bfloat16 on a CPU that has it)
  bool attention_bf16_ = false;  // and the heads' products too (kernels::pair_products_pay())
  int64_t tq_ = 0, tv_ = 0, dq_in_ = 0, dk_in_ = 0, dv_in_ = 0, out_dim_ = 0, flops_ = 0;
  size_t n_inputs_ = 0;
  Projection query_, key_, value_, output_;
  Rng rng_{0};
  bool dropped_ = false;  // the last forward applied dropout
  // Views of the last inputs; the projections, probabilities (before and after dropout), the dropout
  // mask and the joined heads of the last forward.
  Tensor xq_, xk_, xv_, mask_;
  Tensor allowed_;  // the explicit mask joined with the inputs' masks
  const float* allowed_used_ = nullptr;  // the mask the last forward applied (explicit, allowed_ or none)
  Tensor q_, k_, v_, p_, pd_, drop_, o_, y_;
  Tensor do_, dq_, dk_, dv_, dxq_, dxk_, dxv_;
  Tensor dy_zero_;  // d(output) when only the scores output has a gradient
  Tensor dx_path_;  // under mixed_bfloat16, value's gradient through the keys before it joins dxv_
  Shape shape_buf_;
};

}  // namespace myelin::layers
