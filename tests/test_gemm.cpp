// The GEMM dispatch (oneDNN's sgemm on one or all threads, its matmul primitive, or the narrow kernel)
// against a plain double-precision reference, for every transpose combination and sizes on both sides
// of each rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gemm_reference.hpp"
#include "kernels/cpu/block_product.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/narrow_gemm.hpp"
#include "myelin/random.hpp"

namespace {


TEST(Gemm, MatchesReferenceForAllTransposesAndSizes) {
  myelin::Rng rng(7);
  const int sizes[][3] = {{1, 32, 784}, {3, 5, 7}, {10, 10, 10}, {1, 1, 1}, {64, 48, 40}, {128, 32, 100}, {2, 300, 3}};
  for (auto [M, N, K] : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.f, 1.f, 0.5f}) {
          auto [lda, ldb, ldc, A, B, C, expect] = myelin::test::random_gemm_case(rng, ta, tb, M, N, K, 0.75f, beta);
          myelin::kernels::gemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j)
              ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], 1e-4 * std::sqrt(double(K)) + 1e-5)
                  << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " beta=" << beta;
        }
}

// The narrow kernel on its own, for every transpose, every tile height with a remainder (tiles of
// 24/12, 4 and 1 rows), every column tail within one and two vectors, and beta 0 over a C of NaNs.
TEST(NarrowGemm, MatchesReferenceForEveryTransposeTileAndTail) {
  myelin::Rng rng(13);
  for (int M : {1, 3, 4, 5, 12, 13, 24, 29, 64})
    for (int N : {1, 7, 8, 10, 16, 17, 23, 24, 25, 31, 32})
      for (int K : {0, 1, 9, 64})
        for (int ta = 0; ta < 2; ++ta)
          for (int tb = 0; tb < 2; ++tb)
            for (float beta : {0.f, 0.5f}) {
              if (!myelin::kernels::narrow_gemm_fits(tb, N, K)) continue;
              auto [lda, ldb, ldc, A, B, C, expect] = myelin::test::random_gemm_case(rng, ta, tb, M, N, K, 0.75f, beta);
              if (beta == 0.f) std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
              myelin::kernels::narrow_gemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
              for (int i = 0; i < M; ++i)
                for (int j = 0; j < N; ++j)
                  ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], 1e-5 * (K + 1))
                      << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " beta=" << beta;
            }
}

// The register blocks on their own: every block height (1-6 rows, and rows split into blocks as even
// as they can be), every block width up to a tail of vectors past whole blocks, padded strides, and
// both C = A B over a C of NaNs and C += A B.
TEST(BlockProduct, MatchesReferenceForEveryBlockShape) {
  myelin::Rng rng(17);
  for (int M : {1, 2, 3, 4, 5, 6, 7, 9, 13, 32})
    for (int N : {16, 32, 48, 64, 80, 112, 144})
      for (int K : {0, 1, 7, 33})
        for (bool accumulate : {false, true}) {
          ASSERT_TRUE(myelin::kernels::block_product_fits(N));
          auto [lda, ldb, ldc, A, B, C, expect] =
              myelin::test::random_gemm_case(rng, false, false, M, N, K, 1.f, accumulate ? 1.f : 0.f);
          if (!accumulate) std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
          myelin::kernels::block_product(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, accumulate);
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j)
              ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], 1e-5 * (K + 1))
                  << "M=" << M << " N=" << N << " K=" << K << " accumulate=" << accumulate;
          // Columns past N are not written (C's rows are padded).
          if (!accumulate) {
            for (int i = 0; i < M; ++i) ASSERT_TRUE(std::isnan(C[i * ldc + N])) << "M=" << M << " N=" << N;
          }
        }
  EXPECT_FALSE(myelin::kernels::block_product_fits(0));
  EXPECT_FALSE(myelin::kernels::block_product_fits(10));
}

TEST(NarrowGemm, TakesOnlyNarrowProducts) {
  using myelin::kernels::narrow_gemm_fits;
  EXPECT_TRUE(narrow_gemm_fits(false, 1, 784));
  EXPECT_TRUE(narrow_gemm_fits(false, 8, 100000));
  EXPECT_FALSE(narrow_gemm_fits(false, 33, 784));
  EXPECT_TRUE(narrow_gemm_fits(true, 10, 32));
  EXPECT_FALSE(narrow_gemm_fits(false, 0, 10));
  EXPECT_FALSE(narrow_gemm_fits(false, 64, 10));
  // Stored as N rows of K, op(B) is transposed on the stack: only while it is small.
  EXPECT_FALSE(narrow_gemm_fits(true, 10, 1000));
}

// Plain products (alpha 1, beta 0) from 32 rows, 2^18 multiply-adds and up to 128 columns run on
// oneDNN's matmul primitive; the shapes straddle each of those bounds. C starts as NaN: beta 0 must
// overwrite it, not scale it.
TEST(Gemm, PlainProductsOnEitherSideOfTheMatmulRuleMatchReference) {
  myelin::Rng rng(11);
  const int sizes[][3] = {{32, 64, 128}, {31, 64, 160}, {32, 128, 64}, {32, 129, 64}, {1024, 10, 32}, {40, 100, 60},
                          {96, 64, 576}, {100, 512, 128}};
  for (auto [M, N, K] : sizes)
    for (int padded = 0; padded < 2; ++padded) {
      const int lda = K + 5 * padded, ldb = N + 3 * padded, ldc = N + 2 * padded;
      std::vector<float> A(M * lda), B(K * ldb), C(M * ldc, std::numeric_limits<float>::quiet_NaN());
      for (auto& v : A) v = rng.uniform(-1, 1);
      for (auto& v : B) v = rng.uniform(-1, 1);
      std::vector<double> expect(C.size(), 0.0);
      myelin::test::gemm_reference(false, false, M, N, K, 1.f, A, lda, B, ldb, 0.f, expect, ldc);
      myelin::kernels::gemm(false, false, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), ldc);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j)
          ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], 1e-4 * std::sqrt(double(K)) + 1e-5)
              << "M=" << M << " N=" << N << " K=" << K << " padded=" << padded;
    }
}

// The matmul primitive's own entry, transposed operands included, and its bound on kept shapes: past
// it the thread starts over, and products of shapes seen before are still right.
TEST(Matmul, Float32ProductsMatchReferenceAndKeptShapesStayBounded) {
  myelin::Rng rng(5);
  auto check = [&](bool ta, bool tb, int M, int N, int K) {
    const int lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
    std::vector<float> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc, -7.f);
    for (auto& v : A) v = rng.uniform(-1, 1);
    for (auto& v : B) v = rng.uniform(-1, 1);
    std::vector<double> expect(C.begin(), C.end());
    myelin::test::gemm_reference(ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, expect, ldc);
    myelin::kernels::onednn_matmul(myelin::kernels::MatmulInputs::Float32, ta, tb, M, N, K, A.data(), lda, B.data(),
                                   ldb, C.data(), ldc);
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < N; ++j)
        ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], 1e-4 * std::sqrt(double(K)) + 1e-5)
            << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb;
      for (int j = N; j < ldc; ++j) ASSERT_EQ(C[i * ldc + j], -7.f) << "wrote past row " << i << "'s end";
    }
  };
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) check(ta, tb, 7, 5, 9);
  int64_t most = 0;
  for (int shape = 1; shape <= 150; ++shape) {
    check(false, false, shape, 3, 4);
    most = std::max(most, myelin::kernels::onednn_matmul_kept_products());
  }
  EXPECT_LE(most, 64) << "the thread keeps a primitive for every shape it has seen";
  EXPECT_GE(most, 60) << "the thread does not keep the primitives it has made";
  for (int shape = 1; shape <= 10; ++shape) check(false, false, shape, 3, 4);
}

}  // namespace
