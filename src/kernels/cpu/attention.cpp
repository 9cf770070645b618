#include "kernels/cpu/attention.hpp"

#include <vector>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/bf16.hpp"
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

int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

// One thread's buffers for a head's operands in bfloat16 pairs; they only grow.
struct PairBuffers {
  std::vector<uint32_t> left, right, scratch;
  PairBuffers& fit(int64_t l, int64_t r, int64_t s = 0) {
    if (left.size() < size_t(l)) left.resize(size_t(l));
    if (right.size() < size_t(r)) right.resize(size_t(r));
    if (scratch.size() < size_t(s)) scratch.resize(size_t(s));
    return *this;
  }
};
PairBuffers& pair_buffers() {
  thread_local PairBuffers buffers;
  return buffers;
}

// One thread's block for a head's probabilities or their gradient (Tq * Tv floats), kept in that
// core's cache instead of a batch-sized buffer that passes through memory; it only grows.
float* head_block(int64_t size) {
  thread_local std::vector<float> block;
  if (block.size() < size_t(size)) block.resize(size_t(size));
  return block.data();
}

// C [M, N] = A B^T in bfloat16 pairs, for A [M, K] and B [N, K] (row strides lda, ldb).
void product_nt_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                     float* C, int64_t ldc) {
  const int64_t pairs = (K + 1) / 2, n16 = round16(N);
  PairBuffers& buf = pair_buffers().fit(M * pairs, pairs * n16, N * pairs);
  pair_columns(A, lda, M, K, buf.left.data());
  pair_columns_transposed(B, ldb, N, K, n16, buf.right.data(), buf.scratch.data());
  pair_product(M, N, pairs, {buf.left.data(), pairs, 1}, buf.right.data(), C, ldc);
}

// C [M, N] = A B in bfloat16 pairs, for A [M, K] and B [K, N].
void product_nn_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                     float* C, int64_t ldc) {
  const int64_t pairs = (K + 1) / 2, n16 = round16(N);
  PairBuffers& buf = pair_buffers().fit(M * pairs, pairs * n16);
  pair_columns(A, lda, M, K, buf.left.data());
  pair_rows(B, ldb, K, N, n16, buf.right.data());
  pair_product(M, N, pairs, {buf.left.data(), pairs, 1}, buf.right.data(), C, ldc);
}

// C [M, N] = A^T B in bfloat16 pairs, for A [K, M] and B [K, N]: both paired along K.
void product_tn_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                     float* C, int64_t ldc) {
  const int64_t pairs = (K + 1) / 2, n16 = round16(N);
  PairBuffers& buf = pair_buffers().fit(pairs * M, pairs * n16);
  pair_rows(A, lda, K, M, M, buf.left.data());
  pair_rows(B, ldb, K, N, n16, buf.right.data());
  pair_product(M, N, pairs, {buf.left.data(), 1, M}, buf.right.data(), C, ldc);
}

// C = op(A) op(B) of one head, in float32 (scaled by alpha) or in bfloat16 pairs (alpha 1).
void head_product(bool bf16, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (!bf16) return gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.f, C, ldc);
  if (ta) return product_tn_bf16(M, N, K, A, lda, B, ldb, C, ldc);
  if (tb) return product_nt_bf16(M, N, K, A, lda, B, ldb, C, ldc);
  product_nn_bf16(M, N, K, A, lda, B, ldb, C, ldc);
}

// Scores, mask and softmax of head (b, h) into ph [Tq, Tv].
void head_probs(const AttentionDims& d, int64_t b, int64_t h, const float* q, const float* k, float scale,
                const float* allowed, bool causal, float* ph) {
  const int64_t qs = d.H * d.dk;  // row stride of q and k
  head_product(d.bf16, false, true, d.Tq, d.Tv, d.dk, scale, q + b * d.Tq * qs + h * d.dk, qs,
               k + b * d.Tv * qs + h * d.dk, qs, ph, d.Tv);
  for (int64_t i = 0; i < d.Tq; ++i) {
    float* row = ph + i * d.Tv;
    if (d.bf16)  // the scale the float32 product applies
      for (int64_t j = 0; j < d.Tv; ++j) row[j] *= scale;
    const float* a = allowed ? allowed + (b * d.Tq + i) * d.Tv : nullptr;
    if (causal || a)
      for (int64_t j = 0; j < d.Tv; ++j)
        if ((causal && j > i) || (a && a[j] == 0.f)) row[j] = kMasked;
    softmax_row(row, row, d.Tv);
  }
}

// out[b, :, h, :] = ph v[b, :, h, :] for head (b, h)'s probabilities ph [Tq, Tv].
void head_context(const AttentionDims& d, int64_t b, int64_t h, const float* ph, const float* v, float* out) {
  const int64_t vs = d.H * d.dv;
  head_product(d.bf16, false, false, d.Tq, d.dv, d.Tv, 1.f, ph, d.Tv, v + b * d.Tv * vs + h * d.dv, vs,
               out + b * d.Tq * vs + h * d.dv, vs);
}
}  // namespace

void attention_probs(const AttentionDims& d, const float* q, const float* k, float scale, const float* allowed,
                     bool causal, float* p, const float* v, float* out) {
  const int64_t block = d.Tq * d.Tv;
  parallel_for_2d(d.B, d.H, d.B * d.H * head_work(d), [&](int64_t b, int64_t h) {
    float* ph = p ? p + (b * d.H + h) * block : head_block(block);
    head_probs(d, b, h, q, k, scale, allowed, causal, ph);
    if (v && out) head_context(d, b, h, ph, v, out);
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
                  [&](int64_t b, int64_t h) { head_context(d, b, h, p + (b * d.H + h) * d.Tq * d.Tv, v, out); });
}

void attention_backward(const AttentionDims& d, const float* q, const float* k, const float* v, const float* p,
                        const float* pd, const float* drop, float scale, const float* dout, float* dq, float* dk,
                        float* dv, const float* allowed, bool causal, const float* dp_direct) {
  const int64_t qs = d.H * d.dk, vs = d.H * d.dv, block = d.Tq * d.Tv;
  // Each head on one thread, its d(probabilities) used while in that core's cache (as forward).
  parallel_for_2d(d.B, d.H, 2 * d.B * d.H * head_work(d), [&](int64_t b, int64_t h) {
    const float* dob = dout + b * d.Tq * vs + h * d.dv;
    const float* vb = v + b * d.Tv * vs + h * d.dv;
    const int64_t at = (b * d.H + h) * block;
    float* ds = head_block(block);
    // d(pd) = dout v^T and dv = pd^T dout.
    head_product(d.bf16, false, true, d.Tq, d.Tv, d.dv, 1.f, dob, vs, vb, vs, ds, d.Tv);
    head_product(d.bf16, true, false, d.Tv, d.dv, d.Tq, 1.f, pd + at, d.Tv, dob, vs, dv + b * d.Tv * vs + h * d.dv, vs);
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
      if (d.bf16)  // the scale the float32 products apply, before the rounding
        for (int64_t j = 0; j < d.Tv; ++j) row[j] *= scale;
    }
    // dq = scale * ds k, dk = scale * ds^T q.
    head_product(d.bf16, false, false, d.Tq, d.dk, d.Tv, scale, ds, d.Tv, k + b * d.Tv * qs + h * d.dk, qs,
                 dq + b * d.Tq * qs + h * d.dk, qs);
    head_product(d.bf16, true, false, d.Tv, d.dk, d.Tq, scale, ds, d.Tv, q + b * d.Tq * qs + h * d.dk, qs,
                 dk + b * d.Tv * qs + h * d.dk, qs);
  });
}

}  // namespace myelin::kernels
