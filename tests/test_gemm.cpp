// The GEMM dispatch (own small loops or oneDNN) against a plain double-precision reference,
// for every transpose combination and sizes on both sides of the small/large threshold.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/gemm.hpp"
#include "myelin/random.hpp"

namespace {

void reference(bool ta, bool tb, int M, int N, int K, float alpha, const std::vector<float>& A, int lda,
               const std::vector<float>& B, int ldb, float beta, std::vector<double>& C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += double(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = alpha * s + beta * C[i * ldc + j];
    }
}

TEST(Gemm, MatchesReferenceForAllTransposesAndSizes) {
  myelin::Rng rng(7);
  const int sizes[][3] = {{1, 32, 784}, {3, 5, 7}, {10, 10, 10}, {1, 1, 1}, {64, 48, 40}, {128, 32, 100}, {2, 300, 3}};
  for (auto [M, N, K] : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.f, 1.f, 0.5f}) {
          // Padded leading dimensions catch kernels that assume packed rows.
          const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
          std::vector<float> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc);
          for (auto& v : A) v = rng.uniform(-1, 1);
          for (auto& v : B) v = rng.uniform(-1, 1);
          for (auto& v : C) v = rng.uniform(-1, 1);
          std::vector<double> expect(C.begin(), C.end());
          reference(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, beta, expect, ldc);
          myelin::kernels::gemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j)
              ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], 1e-4 * std::sqrt(double(K)) + 1e-5)
                  << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " beta=" << beta;
        }
}

}  // namespace
