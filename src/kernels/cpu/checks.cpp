#include "kernels/cpu/checks.hpp"

#include <algorithm>
#include <cmath>

namespace myelin::kernels {

int64_t first_non_finite(const float* x, int64_t n) {
  // x*0 is 0 for finite x and NaN otherwise, so one vectorised sum per block tells whether the
  // block holds a bad value; only then is the block searched element by element.
  constexpr int64_t kBlock = 1 << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  auto block_is_bad = [&](int64_t b) {
    const float* p = x + b * kBlock;
    const int64_t m = std::min(kBlock, n - b * kBlock);
    float acc = 0.f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < m; ++i) acc += p[i] * 0.f;
    return acc != 0.f;  // NaN compares unequal
  };
  int64_t first_bad_block = blocks;
  if (blocks <= 8) {  // a plain branch: a false OpenMP if() clause still allocates a team
    for (int64_t b = 0; b < blocks && first_bad_block == blocks; ++b)
      if (block_is_bad(b)) first_bad_block = b;
  } else {
#pragma omp parallel for schedule(static) reduction(min : first_bad_block)
    for (int64_t b = 0; b < blocks; ++b)
      if (block_is_bad(b)) first_bad_block = std::min(first_bad_block, b);
  }
  if (first_bad_block == blocks) return -1;
  for (int64_t i = first_bad_block * kBlock; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return -1;
}

int64_t first_outside(const float* x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i)
    if (!(x[i] >= lo && x[i] <= hi)) return i;
  return -1;
}

int64_t first_non_class_index(const float* x, int64_t n, int64_t classes) {
  for (int64_t i = 0; i < n; ++i)
    if (!(x[i] >= 0.f && x[i] < float(classes)) || x[i] != std::floor(x[i])) return i;
  return -1;
}

int64_t first_label_outside(const float* labels, int64_t n, int64_t classes) {
  // trunc(v) lies in [0, classes) exactly when -1 < v < classes; comparing before any conversion to
  // an integer keeps NaN and huge values well defined.
  for (int64_t i = 0; i < n; ++i)
    if (!(labels[i] > -1.f && double(labels[i]) < double(classes))) return i;
  return -1;
}

}  // namespace myelin::kernels
