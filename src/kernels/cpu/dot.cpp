#include "kernels/cpu/dot.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

void batched_dot(const DotGeometry& g, const float* a, const float* b, float* y) {
  for (int64_t s = 0; s < g.batch; ++s)
    gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.f, a + s * g.a_size, g.lda, b + s * g.b_size, g.ldb, 0.f,
         y + s * g.M * g.N, g.N);
}

void batched_dot_backward(const DotGeometry& g, const float* a, const float* b, const float* dy, float* da, float* db) {
  for (int64_t s = 0; s < g.batch; ++s) {
    const float* as = a + s * g.a_size;
    const float* bs = b + s * g.b_size;
    const float* dys = dy + s * g.M * g.N;
    // d(op(a)) = dy op(b)^T (M, K); stored transposed when trans_a: op(b) dy^T (K, M).
    if (da) {
      if (!g.trans_a) gemm(false, !g.trans_b, g.M, g.K, g.N, 1.f, dys, g.N, bs, g.ldb, 0.f, da + s * g.a_size, g.lda);
      else gemm(g.trans_b, true, g.K, g.M, g.N, 1.f, bs, g.ldb, dys, g.N, 0.f, da + s * g.a_size, g.lda);
    }
    // d(op(b)) = op(a)^T dy (K, N); stored transposed when trans_b: dy^T op(a) (N, K).
    if (db) {
      if (!g.trans_b) gemm(!g.trans_a, false, g.K, g.N, g.M, 1.f, as, g.lda, dys, g.N, 0.f, db + s * g.b_size, g.ldb);
      else gemm(true, g.trans_a, g.N, g.K, g.M, 1.f, dys, g.N, as, g.lda, 0.f, db + s * g.b_size, g.ldb);
    }
  }
}

void l2_normalize(const float* x, float* y, float* inv_norm, int64_t outer, int64_t n, int64_t inner, float eps) {
  parallel_for(outer, outer * n * inner, [&](int64_t o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* xs = x + o * n * inner + i;
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += double(xs[j * inner]) * xs[j * inner];
      const float scale = float(1.0 / std::max(std::sqrt(sum), double(eps)));
      inv_norm[o * inner + i] = scale;
      float* ys = y + o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) ys[j * inner] = xs[j * inner] * scale;
    }
  });
}

void l2_normalize_backward(const float* y, const float* inv_norm, const float* dy, float* dx, int64_t outer, int64_t n,
                           int64_t inner, float eps) {
  parallel_for(outer, outer * n * inner, [&](int64_t o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t at = o * n * inner + i;
      const float scale = inv_norm[o * inner + i];
      // Clamped: y = x / eps, a constant scale.
      const bool clamped = scale >= float(1.0 / double(eps));
      double dot = 0;
      if (!clamped)
        for (int64_t j = 0; j < n; ++j) dot += double(y[at + j * inner]) * dy[at + j * inner];
      for (int64_t j = 0; j < n; ++j)
        dx[at + j * inner] = scale * (dy[at + j * inner] - float(dot) * y[at + j * inner]);
    }
  });
}

}  // namespace myelin::kernels
