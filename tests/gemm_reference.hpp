// A plain double-precision C = alpha * op(A) op(B) + beta * C, row-major with row strides, and random
// operands with padded rows checked against it, for the tests of kernels::gemm's every path.
#pragma once
#include <vector>

#include "myelin/random.hpp"

namespace myelin::test {

inline void gemm_reference(bool ta, bool tb, int M, int N, int K, float alpha, const std::vector<float>& A, int lda,
                           const std::vector<float>& B, int ldb, float beta, std::vector<double>& C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += double(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = alpha * s + beta * C[i * ldc + j];
    }
}

/// Operands in [-1, 1] for op(A) [M, K] and op(B) [K, N], a starting C, and the reference's result.
/// Rows are padded past their width: kernels that assume packed rows fail.
struct GemmCase {
  int lda, ldb, ldc;
  std::vector<float> A, B, C;
  std::vector<double> expect;
};

inline GemmCase random_gemm_case(Rng& rng, bool ta, bool tb, int M, int N, int K, float alpha, float beta) {
  GemmCase g{(ta ? M : K) + 3, (tb ? K : N) + 2, N + 1, {}, {}, {}, {}};
  g.A.resize(size_t((ta ? K : M) * g.lda));
  g.B.resize(size_t((tb ? N : K) * g.ldb));
  g.C.resize(size_t(M * g.ldc));
  for (auto* v : {&g.A, &g.B, &g.C})
    for (auto& x : *v) x = rng.uniform(-1, 1);
  g.expect.assign(g.C.begin(), g.C.end());
  gemm_reference(ta, tb, M, N, K, alpha, g.A, g.lda, g.B, g.ldb, beta, g.expect, g.ldc);
  return g;
}

}  // namespace myelin::test
