#include "kernels/cpu/block_product.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/cpu/lanes.hpp"

namespace myelin::kernels {

namespace {

// Vectors of columns per block, and rows per block: their sums, the block's row of B and one
// value of A stay in registers (AVX-512: 6 x 4 + 4 + 1 of 32; with 16 registers, 6 x 2 + 2 + 1).
// The seed CNN's second convolution at batch 1 took 16.3 / 9.6-10.0 us (one / two threads) so on
// AVX-512, against 16.4-16.7 / 10.5-11.0 with 6 x 2; built for AVX2, 18.1 / 11.2 us with 6 x 2
// against 27.9 / 21.7 with 3 x 4 and 21.7 / 13.2 with 2 x 4 (bench/README.md, "Our own Winograd
// forward"). The Dense layers' narrow_gemm (narrow_gemm.hpp) has the same shape of loop, but at most
// two vectors wide and in blocks of 12, 4 and 1 rows: in their place that convolution took 29.9 /
// 16.7 us against 15.7 / 9.6 with these blocks.
constexpr int kBlockVectors = kLanes == 16 ? 4 : 2;
constexpr int kBlockRows = int(kBlockProductRows);

// c[r][0..nv) (+)= sum over k of a[r][k] * b[k][0..nv), for R rows and NV vectors of columns.
template <int R, int NV, bool Accumulate>
void block(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t K, float* c, int64_t ldc) {
  Floats acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[r][j] = Accumulate ? load(c + r * ldc + j * kLanes) : Floats{};
  for (int64_t k = 0; k < K; ++k) {
    Floats w[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      w[j] = load(b + k * ldb + j * kLanes);
      // In a register: left to itself GCC reads it again from memory for each row of some blocks
      // (4 rows: one load per multiply-add, 1.4 times slower than the 5-row block).
      asm("" : "+v"(w[j]));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float x = a[r * lda + k];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j] += x * w[j];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) store(c + r * ldc + j * kLanes, acc[r][j]);
}

using Block = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);

template <bool Accumulate, int R, int... NV>
constexpr std::array<Block, sizeof...(NV)> blocks_of_rows(std::integer_sequence<int, NV...>) {
  return {&block<R, NV + 1, Accumulate>...};
}
template <bool Accumulate, int... R>
constexpr std::array<std::array<Block, kBlockVectors>, sizeof...(R)> blocks(std::integer_sequence<int, R...>) {
  return {blocks_of_rows<Accumulate, R + 1>(std::make_integer_sequence<int, kBlockVectors>{})...};
}
// kBlocks[accumulate][r - 1][nv - 1]: the block of r rows and nv vectors.
constexpr std::array<std::array<std::array<Block, kBlockVectors>, kBlockRows>, 2> kBlocks = {
    blocks<false>(std::make_integer_sequence<int, kBlockRows>{}),
    blocks<true>(std::make_integer_sequence<int, kBlockRows>{})};

}  // namespace

bool block_product_fits(int64_t N) { return N > 0 && N % kLanes == 0; }

int64_t block_product_columns() { return kBlockVectors * kLanes; }

void block_product(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate) {
  const auto& by_rows = kBlocks[accumulate ? 1 : 0];
  for (int64_t f = 0; f < N; f += kBlockVectors * kLanes) {
    const int64_t nv = std::min<int64_t>(kBlockVectors, (N - f) / kLanes);
    for (int64_t r = 0; r < M;) {  // blocks as even as they can be: 9 rows as 5 and 4, not 6 and 3
      const int64_t blocks_left = (M - r + kBlockRows - 1) / kBlockRows;
      const int64_t rows = (M - r + blocks_left - 1) / blocks_left;
      by_rows[size_t(rows - 1)][size_t(nv - 1)](A + r * lda, lda, B + f, ldb, K, C + r * ldc + f, ldc);
      r += rows;
    }
  }
}

}  // namespace myelin::kernels
