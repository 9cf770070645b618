// Scaled dot-product attention over heads, the core of MultiHeadAttention and Attention.
//
// Shapes: B batch, Tq query steps, Tv key/value steps, H heads, dk key width, dv value width.
// q is [B, Tq, H, dk], k is [B, Tv, H, dk], v is [B, Tv, H, dv]: the layouts the projections'
// GEMMs write, so head h of sample b is a strided [T, d] block and no transpose is ever made.
// p (probabilities) is [B, H, Tq, Tv]; out is [B, Tq, H, dv]. allowed, when given, is [B, Tq, Tv]
// with nonzero where a query step may attend a value step.
#pragma once
#include <cstdint>

namespace myelin::kernels {

struct AttentionDims {
  int64_t B, Tq, Tv, H, dk, dv;
  /// The heads' products with operands rounded to bfloat16 and float32 sums (mixed_bfloat16; needs
  /// pair_products_pay() of bf16.hpp); the softmax, its backward and the masks stay float32.
  bool bf16 = false;
};

/// p = softmax(scale * q k^T) per (b, h) over Tv, where positions not allowed (allowed[b, i, j] == 0,
/// or j > i with causal) take -1e9 before the softmax, as Keras's masked softmax: they get weight 0,
/// and a row with nothing allowed is uniform. With v and out (no dropout between), also
/// out = attention_context(p, v), each head's as soon as its p is written; p may then be null (an
/// inference pass that returns no scores): each head's probabilities stay in a block of its thread's.
void attention_probs(const AttentionDims& d, const float* q, const float* k, float scale, const float* allowed,
                     bool causal, float* p, const float* v = nullptr, float* out = nullptr);

/// allowed [B, Tq, Tv] from Keras's masks (each null where absent): explicit [B, Tq, Tv], the
/// query's mask [B, Tq] and the value's and key's [B, Tv], as Keras's _compute_attention_mask
/// combines them: nonzero where every one given is.
void attention_allowed(const AttentionDims& d, const float* explicit_mask, const float* query_mask,
                       const float* value_mask, const float* key_mask, float* allowed);

/// y[b, i, :] *= mask[b, i] over [B, T, width] (Attention's output at masked query steps).
void mask_steps(int64_t batch, int64_t steps, int64_t width, const float* mask, const float* y, float* out);

/// out[b, :, h, :] = p[b, h] v[b, :, h, :].
void attention_context(const AttentionDims& d, const float* p, const float* v, float* out);

/// The backward pass from dout [B, Tq, H, dv]. pd is the probabilities used for the context (after
/// dropout), p those before it, drop the dropout mask (null without dropout: then pd is p). Writes
/// dq, dk, dv (overwriting). allowed and causal as given to
/// attention_probs: a masked score is a constant and gets no gradient (this matters in a row with
/// nothing allowed, whose uniform weights do not depend on the scores). dp_direct, when given, is a
/// gradient reaching p itself [B, H, Tq, Tv] (the probabilities returned as an output), added to the
/// one through the context; masked scores still get none.
void attention_backward(const AttentionDims& d, const float* q, const float* k, const float* v, const float* p,
                        const float* pd, const float* drop, float scale, const float* dout, float* dq, float* dk,
                        float* dv, const float* allowed = nullptr, bool causal = false,
                        const float* dp_direct = nullptr);

}  // namespace myelin::kernels
