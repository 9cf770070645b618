// Matrix product for every layer: C = alpha * op(A) * op(B) + beta * C, all row-major.
//
// op(A) is [M, K], op(B) is [K, N], C is [M, N]; lda/ldb/ldc are row strides of the stored matrices.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Products of at most this many multiply-adds run on the calling thread alone: below it a second
/// thread's fork and join cost more than its share.
inline constexpr int64_t kGemmOneThreadWork = int64_t(1) << 16;

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace myelin::kernels
