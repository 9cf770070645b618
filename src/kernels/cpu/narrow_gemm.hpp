// Products at most two vectors wide (a narrow Dense layer's forward product and its weight gradient),
// C = alpha * op(A) * op(B) + beta * C on the calling thread, without packing, row-major.
//
// A step of the seed MLP (Dense 32, Dense 10) called oneDNN's sgemm for its narrow products, and the
// first call of each step cost 8-10 us whatever its size, an 8 x 8 x 8 product included, against 2
// for the same call right after (bench/README.md, "Narrow products off sgemm"). This kernel keeps
// the accumulators of a tile of rows in registers across the whole sum and reads op(B)'s rows, at
// most two vectors, as they lie: as fast as sgemm on the seed MLP's shapes when both are warm.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Whether narrow_gemm() computes op(A) op(B) of N columns, K terms: N up to two vectors (32 floats
/// with AVX-512, 16 with AVX), and op(B) stored as rows of N, or as N rows of K (trans_b) small
/// enough to transpose on the stack.
bool narrow_gemm_fits(bool trans_b, int64_t N, int64_t K);

/// C = alpha * op(A) * op(B) + beta * C, with op(A) [M, K], op(B) [K, N], C [M, N] and row strides
/// lda, ldb, ldc; beta 0 overwrites C (NaNs in it included). Requires narrow_gemm_fits(trans_b, N, K).
/// Each sum runs over k in order, in float32 fused multiply-adds: the result depends on the shapes
/// and operands alone.
void narrow_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace myelin::kernels
