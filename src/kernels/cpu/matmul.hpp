// oneDNN's matmul primitive for row-major products C = op(A) op(B), C in float32.
//
// op(A) is [M, K], op(B) is [K, N], C is [M, N]; lda/ldb/ldc are row strides of the stored matrices,
// and A and B are both float32 or both bfloat16 (as uint16_t bit patterns). C is overwritten. Each
// thread keeps the primitives of the shapes it has run (a layer repeats a handful: its batch, the
// last short one), at most a fixed number of them. Throws Error when oneDNN fails.
#pragma once
#include <cstdint>

namespace myelin::kernels {

enum class MatmulInputs { Float32, Bfloat16 };

void onednn_matmul(MatmulInputs inputs, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const void* A,
                   int64_t lda, const void* B, int64_t ldb, float* C, int64_t ldc);

// How many products' primitives the calling thread keeps now (at most the fixed bound).
int64_t onednn_matmul_kept_products();

}  // namespace myelin::kernels
