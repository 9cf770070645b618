// Attention: Keras 3's layers.Attention, Luong's dot-product attention without projections.
//
// `Attention()({query, value})` or `({query, value, key})` on query (batch, Tq, d), value
// (batch, Tv, dv) and key (batch, Tv, d) (key defaults to value): softmax(query key^T) over the
// value steps weights the values, giving (batch, Tq, dv). dropout applies to the attention weights
// while training. use_causal_mask, a call argument in Keras, is an option of the layer here and is
// saved in its config. return_attention_scores, also a call argument in Keras, is an option here
// too: the layer then has a second output, the attention weights (batch, Tq, Tv) as Keras 3 returns
// them: after the softmax and, while training with dropout, after dropout, the weights that did
// weight the values. Their gradient flows back like the output's. Masks the inputs carry
// (Embedding's mask_zero, Masking) act as Keras's: the value's mask keeps padded value steps from
// being attended (their weights are 0), the output is 0 at padded query steps, and it carries the
// query's mask (the weights output carries none). Under the dtype policy "mixed_bfloat16"
// (myelin/mixed_precision.hpp) its products (scores, weighted sum and their backward) multiply in
// bfloat16 with float32 sums, as MultiHeadAttention's heads do; the softmax stays float32. Not
// supported: use_scale=True, score_mode="concat".
#pragma once
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

/// Keras's keyword arguments of Attention that myelin takes.
struct AttentionOptions {
  float dropout = 0.f;
  bool use_causal_mask = false;
  bool return_attention_scores = false;  ///< a second output, the weights (see above)
  std::string name;
  std::string dtype;  ///< dtype policy (myelin/mixed_precision.hpp); empty: the global policy
};

class Attention : public Layer {
  MYELIN_LAYER_MOVABLE(Attention)
  bool writes_lent_output() const override { return true; }
  explicit Attention(AttentionOptions options = {});

  std::string class_name() const override { return "Attention"; }
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
  int64_t flops_per_sample() const override { return 2 * tq_ * tv_ * (d_ + dv_); }
  void reseed(Rng& rng) override { rng_ = rng.split(); }
  bool uses_input_masks() const override { return true; }
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // the query's mask

  const AttentionOptions& options() const { return options_; }
  /// The dtype policy the layer was made with: "float32" or "mixed_bfloat16".
  const std::string& dtype_policy() const { return options_.dtype; }

 private:
  AttentionOptions options_;
  bool bf16_ = false;  // its products in bfloat16 (mixed_bfloat16 where kernels::pair_products_pay())
  int64_t tq_ = 0, tv_ = 0, d_ = 0, dv_ = 0;
  size_t n_inputs_ = 0;
  Rng rng_{0};
  bool dropped_ = false;
  Tensor q_, k_, v_;  // views of the last forward's inputs
  Tensor p_, pd_, drop_, y_, gq_, gk_, gv_;  // gradients of query, key, value
  Tensor scores_, dscores_, dy_zero_;  // the weights as (batch, Tq, Tv); their gradient through dropout
  void backward_impl(const Tensor& dy, const Tensor* dscores, std::vector<const Tensor*>& input_grads);
  Tensor allowed_, qmask_, dy_masked_;  // masks: the value's as allowed steps, a view of the query's
  bool query_masked_ = false, value_masked_ = false;
};

}  // namespace myelin::layers
