#include "kernels/cpu/attention.hpp"

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// Keras's large negative for float32 masks: exp of it relative to any real score is exactly 0.
constexpr float kMasked = -1e9f;
}  // namespace

// The heads run in parallel, each on one thread from its scores to its softmax (and its weighted
// sum of the values, when asked), so that its probabilities are used while they are in that core's
// cache: one head's block is Tq * Tv floats (64 KB for 128 steps), the batch's, B * H of them, is
// far larger than the cache. Each head's products are single-thread GEMMs over strided blocks.
namespace {
// Work of one head's products, for the threads' threshold.
int64_t head_work(const AttentionDims& d) { return d.Tq * d.Tv * (d.dk + d.dv); }

// Scores, mask and softmax of head (b, h) into its block of p.
void head_probs(const AttentionDims& d, int64_t b, int64_t h, const float* q, const float* k, float scale,
                const float* allowed, bool causal, float* p) {
  const int64_t qs = d.H * d.dk;  // row stride of q and k
  float* ph = p + (b * d.H + h) * d.Tq * d.Tv;
  gemm(false, true, d.Tq, d.Tv, d.dk, scale, q + b * d.Tq * qs + h * d.dk, qs, k + b * d.Tv * qs + h * d.dk, qs, 0.f,
       ph, d.Tv);
  for (int64_t i = 0; i < d.Tq; ++i) {
    float* row = ph + i * d.Tv;
    const float* a = allowed ? allowed + (b * d.Tq + i) * d.Tv : nullptr;
    if (causal || a)
      for (int64_t j = 0; j < d.Tv; ++j)
        if ((causal && j > i) || (a && a[j] == 0.f)) row[j] = kMasked;
    softmax_row(row, row, d.Tv);
  }
}

// out[b, :, h, :] = p[b, h] v[b, :, h, :].
void head_context(const AttentionDims& d, int64_t b, int64_t h, const float* p, const float* v, float* out) {
  const int64_t vs = d.H * d.dv;
  gemm(false, false, d.Tq, d.dv, d.Tv, 1.f, p + (b * d.H + h) * d.Tq * d.Tv, d.Tv, v + b * d.Tv * vs + h * d.dv, vs,
       0.f, out + b * d.Tq * vs + h * d.dv, vs);
}
}  // namespace

void attention_probs(const AttentionDims& d, const float* q, const float* k, float scale, const float* allowed,
                     bool causal, float* p, const float* v, float* out) {
  parallel_for_2d(d.B, d.H, d.B * d.H * head_work(d), [&](int64_t b, int64_t h) {
    head_probs(d, b, h, q, k, scale, allowed, causal, p);
    if (v && out) head_context(d, b, h, p, v, out);
  });
}

void attention_allowed(const AttentionDims& d, const float* explicit_mask, const float* query_mask,
                       const float* value_mask, const float* key_mask, float* allowed) {
  parallel_for(d.B * d.Tq, d.B * d.Tq * d.Tv, [&](int64_t r) {
    const int64_t b = r / d.Tq;
    float* row = allowed + r * d.Tv;
    const float q = query_mask ? query_mask[r] : 1.f;
    for (int64_t j = 0; j < d.Tv; ++j) {
      bool ok = q != 0.f;
      if (explicit_mask) ok = ok && explicit_mask[r * d.Tv + j] != 0.f;
      if (value_mask) ok = ok && value_mask[b * d.Tv + j] != 0.f;
      if (key_mask) ok = ok && key_mask[b * d.Tv + j] != 0.f;
      row[j] = ok ? 1.f : 0.f;
    }
  });
}

void mask_steps(int64_t batch, int64_t steps, int64_t width, const float* mask, const float* y, float* out) {
  parallel_for(batch * steps, batch * steps * width, [&](int64_t r) {
    for (int64_t k = 0; k < width; ++k) out[r * width + k] = y[r * width + k] * mask[r];
  });
}

void attention_context(const AttentionDims& d, const float* p, const float* v, float* out) {
  parallel_for_2d(d.B, d.H, d.B * d.H * d.Tq * d.Tv * d.dv,
                  [&](int64_t b, int64_t h) { head_context(d, b, h, p, v, out); });
}

void attention_backward(const AttentionDims& d, const float* q, const float* k, const float* v, const float* p,
                        const float* pd, const float* drop, float scale, const float* dout, float* dp, float* dq,
                        float* dk, float* dv, const float* allowed, bool causal, const float* dp_direct) {
  const int64_t qs = d.H * d.dk, vs = d.H * d.dv, block = d.Tq * d.Tv;
  // Each head on one thread, its d(probabilities) used while in that core's cache (as forward).
  parallel_for_2d(d.B, d.H, 2 * d.B * d.H * head_work(d), [&](int64_t b, int64_t h) {
    const float* dob = dout + b * d.Tq * vs + h * d.dv;
    const float* vb = v + b * d.Tv * vs + h * d.dv;
    const int64_t at = (b * d.H + h) * block;
    float* ds = dp + at;
    // d(pd) = dout v^T and dv = pd^T dout.
    gemm(false, true, d.Tq, d.Tv, d.dv, 1.f, dob, vs, vb, vs, 0.f, ds, d.Tv);
    gemm(true, false, d.Tv, d.dv, d.Tq, 1.f, pd + at, d.Tv, dob, vs, 0.f, dv + b * d.Tv * vs + h * d.dv, vs);
    // Through the dropout mask, then the softmax: ds = p (dp - <dp, p>) per row; a masked position
    // has p = 0 and so no gradient, but a row with nothing allowed is uniform and its masked scores,
    // being constants, get none either.
    for (int64_t i = 0; i < d.Tq; ++i) {
      float* row = ds + i * d.Tv;
      const float* pr = p + at + i * d.Tv;
      if (drop)
        for (int64_t j = 0; j < d.Tv; ++j) row[j] *= drop[at + i * d.Tv + j];
      if (dp_direct)
        for (int64_t j = 0; j < d.Tv; ++j) row[j] += dp_direct[at + i * d.Tv + j];
      activation_backward(ActivationKind::Softmax, row, pr, nullptr, row, 1, d.Tv);
      const float* a = allowed ? allowed + (b * d.Tq + i) * d.Tv : nullptr;
      if (causal || a)
        for (int64_t j = 0; j < d.Tv; ++j)
          if ((causal && j > i) || (a && a[j] == 0.f)) row[j] = 0.f;
    }
    // dq = scale * ds k, dk = scale * ds^T q.
    gemm(false, false, d.Tq, d.dk, d.Tv, scale, ds, d.Tv, k + b * d.Tv * qs + h * d.dk, qs, 0.f,
         dq + b * d.Tq * qs + h * d.dk, qs);
    gemm(true, false, d.Tv, d.dk, d.Tq, scale, ds, d.Tv, q + b * d.Tq * qs + h * d.dk, qs, 0.f,
         dk + b * d.Tv * qs + h * d.dk, qs);
  });
}

}  // namespace myelin::kernels
