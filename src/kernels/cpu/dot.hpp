// The batched dot product of the Dot merge layer, and the L2 normalisation its normalize=True uses.
//
// Per sample, y (M, N) = op(a) (M, K) · op(b) (K, N), with a and b stored row-major at strides
// a_size and b_size per sample; trans_a/trans_b say the stored matrices are op's transposes.
#pragma once
#include <cstdint>

namespace myelin::kernels {

struct DotGeometry {
  int64_t batch, M, N, K;
  bool trans_a, trans_b;
  int64_t lda, ldb;            // row strides of the stored matrices
  int64_t a_size, b_size;      // values per sample
};

void batched_dot(const DotGeometry& g, const float* a, const float* b, float* y);
/// da and db (each may be null) receive d(loss)/d(a) and d(loss)/d(b), overwriting, in a's and b's layouts.
void batched_dot_backward(const DotGeometry& g, const float* a, const float* b, const float* dy, float* da, float* db);

/// Over x laid out [outer, n, inner]: y = x / max(||x||, eps) along n (Keras's normalize, order 2);
/// inv_norm [outer, inner] receives 1 / max(||x||, eps).
void l2_normalize(const float* x, float* y, float* inv_norm, int64_t outer, int64_t n, int64_t inner, float eps);
/// dx from dy through l2_normalize, given its y and inv_norm. Where the norm was clamped at eps the
/// scale is a constant, so dx = dy / eps there.
void l2_normalize_backward(const float* y, const float* inv_norm, const float* dy, float* dx, int64_t outer, int64_t n,
                           int64_t inner, float eps);

}  // namespace myelin::kernels
