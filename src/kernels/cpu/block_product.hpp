// Products of a few rows in register blocks: C = A B, or C += A B, for row-major A [M, K] and B
// [K, N] read in place, N in whole vectors. Each block of rows and vectors keeps its sums in
// registers over the whole of K, so B needs no packing: a product repeated with the same B (a
// recurrent kernel at every step of a sequence, a Winograd position's weights) reads it where it
// lies. Each row's sums run in the same order whatever the block, so a row's values do not depend
// on M or on which rows share its block.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Rows per register block: a caller that splits rows into chunks keeps whole blocks in each.
inline constexpr int64_t kBlockProductRows = 6;

/// Whether block_product takes products of N columns: N a multiple of the build's vector width.
bool block_product_fits(int64_t N);

/// Columns per register block (a multiple of the vector width): B's columns are read in panels this
/// wide, which a caller that repeats products with the same B may store contiguously.
int64_t block_product_columns();

/// C = A B (`accumulate` false) or C += A B, with row strides lda, ldb and ldc. Needs
/// block_product_fits(N). Runs on the calling thread.
void block_product(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate);

}  // namespace myelin::kernels
