#include "kernels/cpu/attention.hpp"

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// Keras's large negative for float32 masks: exp of it relative to any real score is exactly 0.
constexpr float kMasked = -1e9f;
}  // namespace

// Each (b, h) is one GEMM over strided blocks; gemm() threads large products itself, so the loop
// over heads stays on the calling thread.
void attention_probs(const AttentionDims& d, const float* q, const float* k, float scale, const float* allowed,
                     bool causal, float* p) {
  const int64_t qs = d.H * d.dk;  // row stride of q and k
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      float* ph = p + (b * d.H + h) * d.Tq * d.Tv;
      gemm(false, true, d.Tq, d.Tv, d.dk, scale, q + b * d.Tq * qs + h * d.dk, qs, k + b * d.Tv * qs + h * d.dk, qs,
           0.f, ph, d.Tv);
    }
  const int64_t rows = d.B * d.H * d.Tq;
  parallel_for(rows, rows * d.Tv, [&](int64_t r) {
    float* row = p + r * d.Tv;
    const int64_t i = r % d.Tq, b = r / (d.H * d.Tq);
    const float* a = allowed ? allowed + (b * d.Tq + i) * d.Tv : nullptr;
    for (int64_t j = 0; j < d.Tv; ++j)
      if ((causal && j > i) || (a && a[j] == 0.f)) row[j] = kMasked;
    softmax_row(row, row, d.Tv);
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
  const int64_t vs = d.H * d.dv;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      gemm(false, false, d.Tq, d.dv, d.Tv, 1.f, p + (b * d.H + h) * d.Tq * d.Tv, d.Tv, v + b * d.Tv * vs + h * d.dv,
           vs, 0.f, out + b * d.Tq * vs + h * d.dv, vs);
}

void attention_backward(const AttentionDims& d, const float* q, const float* k, const float* v, const float* p,
                        const float* pd, const float* drop, float scale, const float* dout, float* dp, float* dq,
                        float* dk, float* dv, const float* allowed, bool causal, const float* dp_direct) {
  const int64_t qs = d.H * d.dk, vs = d.H * d.dv, block = d.Tq * d.Tv;
  // d(pd) = dout v^T and dv = pd^T dout, per (b, h).
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      const float* dob = dout + b * d.Tq * vs + h * d.dv;
      const float* vb = v + b * d.Tv * vs + h * d.dv;
      const int64_t at = (b * d.H + h) * block;
      gemm(false, true, d.Tq, d.Tv, d.dv, 1.f, dob, vs, vb, vs, 0.f, dp + at, d.Tv);
      gemm(true, false, d.Tv, d.dv, d.Tq, 1.f, pd + at, d.Tv, dob, vs, 0.f, dv + b * d.Tv * vs + h * d.dv, vs);
    }
  // Through the dropout mask, then the library's softmax backward (masked positions have p = 0 and
  // so no gradient).
  const int64_t rows = d.B * d.H * d.Tq;
  if (drop)
    parallel_for(rows, rows * d.Tv, [&](int64_t r) {
      for (int64_t j = 0; j < d.Tv; ++j) dp[r * d.Tv + j] *= drop[r * d.Tv + j];
    });
  if (dp_direct)
    parallel_for(rows, rows * d.Tv, [&](int64_t r) {
      for (int64_t j = 0; j < d.Tv; ++j) dp[r * d.Tv + j] += dp_direct[r * d.Tv + j];
    });
  activation_backward(ActivationKind::Softmax, dp, p, nullptr, dp, rows, d.Tv);
  if (allowed || causal)
    parallel_for(rows, rows * d.Tv, [&](int64_t r) {
      const int64_t i = r % d.Tq, b = r / (d.H * d.Tq);
      const float* a = allowed ? allowed + (b * d.Tq + i) * d.Tv : nullptr;
      for (int64_t j = 0; j < d.Tv; ++j)
        if ((causal && j > i) || (a && a[j] == 0.f)) dp[r * d.Tv + j] = 0.f;
    });
  // dq = scale * ds k, dk = scale * ds^T q.
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t at = (b * d.H + h) * block;
      gemm(false, false, d.Tq, d.dk, d.Tv, scale, dp + at, d.Tv, k + b * d.Tv * qs + h * d.dk, qs, 0.f,
           dq + b * d.Tq * qs + h * d.dk, qs);
      gemm(true, false, d.Tv, d.dk, d.Tq, scale, dp + at, d.Tv, q + b * d.Tq * qs + h * d.dk, qs, 0.f,
           dk + b * d.Tv * qs + h * d.dk, qs);
    }
}

}  // namespace myelin::kernels
