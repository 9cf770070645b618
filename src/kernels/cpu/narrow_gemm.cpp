#include "kernels/cpu/narrow_gemm.hpp"

#include <algorithm>

#include "kernels/cpu/lanes.hpp"

namespace myelin::kernels {

namespace {
// Vectors a product may be wide, and the accumulators a tile keeps in registers: 24 of AVX-512's 32,
// 12 of AVX's 16, leaving room for op(B)'s row and the broadcast element.
constexpr int kMaxVectors = 2;
constexpr int kAccumulators = kLanes == 16 ? 24 : 12;
// op(B) transposed on the stack when stored as N rows of K (a layer's input gradient): 16 KB.
constexpr int64_t kTransposedFloats = 4096;

// R rows of C, NV vectors wide (the last holding `tail` columns), summed over all K.
template <int NV, int R, bool TransA>
inline void tile(int64_t tail, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                 float beta, float* C, int64_t ldc) {
  Floats acc[R][NV];
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = Floats{};
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    Floats b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV - 1; ++v) b[v] = load(bk + v * kLanes);
    b[NV - 1] = tail == kLanes ? load(bk + (NV - 1) * kLanes) : load_first(bk + (NV - 1) * kLanes, tail, 0.f);
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
      const float a = TransA ? A[k * lda + r] : A[r * lda + k];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const int64_t count = v == NV - 1 ? tail : kLanes;
      float* c = C + r * ldc + v * kLanes;
      Floats out = alpha * acc[r][v];
      if (beta != 0.f) out += beta * load_first(c, count, 0.f);
      store_first(c, count, out);
    }
}

// All M rows: tiles of as many rows as the accumulators allow, then of 4, then single rows.
template <int NV, bool TransA>
void rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
          float beta, float* C, int64_t ldc) {
  constexpr int R = kAccumulators / NV;
  const int64_t tail = N - (NV - 1) * kLanes;
  auto a_at = [&](int64_t i) { return TransA ? A + i : A + i * lda; };
  int64_t i = 0;
  for (; i + R <= M; i += R) tile<NV, R, TransA>(tail, K, alpha, a_at(i), lda, B, ldb, beta, C + i * ldc, ldc);
  if constexpr (R > 4)
    for (; i + 4 <= M; i += 4) tile<NV, 4, TransA>(tail, K, alpha, a_at(i), lda, B, ldb, beta, C + i * ldc, ldc);
  for (; i < M; ++i) tile<NV, 1, TransA>(tail, K, alpha, a_at(i), lda, B, ldb, beta, C + i * ldc, ldc);
}
}  // namespace

bool narrow_gemm_fits(bool trans_b, int64_t N, int64_t K) {
  return N >= 1 && N <= kMaxVectors * kLanes && (!trans_b || N * K <= kTransposedFloats);
}

void narrow_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  float transposed[kTransposedFloats];
  if (trans_b) {
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) transposed[k * N + j] = B[j * ldb + k];
    B = transposed;
    ldb = N;
  }
  const bool one_vector = N <= kLanes;
  if (trans_a) {
    if (one_vector) return rows<1, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return rows<2, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if (one_vector) return rows<1, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return rows<2, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace myelin::kernels
