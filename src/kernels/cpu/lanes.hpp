// Sixteen-lane vector types (GCC/Clang vector extensions): one AVX-512 register, two AVX2 ones, so
// one portable source compiles to whichever the build targets. The one home of the kernels' vector
// types and their loads and stores. The functions here and in exp.hpp are static: a file built for
// another processor (a test) gets its own copy, never the library's, whose vector arguments pass
// in other registers.
#pragma once
#include <cstdint>
#include <cstring>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace myelin::kernels {

inline constexpr int64_t kLanes = 16;
using Floats = float __attribute__((vector_size(kLanes * sizeof(float))));
using Ints = int32_t __attribute__((vector_size(kLanes * sizeof(int32_t))));
using Bytes = uint8_t __attribute__((vector_size(kLanes)));

static inline Floats load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static inline void store(float* p, Floats v) { std::memcpy(p, &v, sizeof v); }

/// The first `count` (0..kLanes) floats at p, the other lanes `fill`; reads nothing past p + count.
static inline Floats load_first(const float* p, int64_t count, float fill) {
#ifdef __AVX512F__
  const auto mask = static_cast<__mmask16>((1u << count) - 1u);
  return Floats(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask, p));
#else
  Floats v = Floats{} + fill;
  std::memcpy(&v, p, size_t(count) * sizeof(float));
  return v;
#endif
}

/// Writes the first `count` (0..kLanes) lanes of v to p; writes nothing past p + count.
static inline void store_first(float* p, int64_t count, Floats v) {
#ifdef __AVX512F__
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << count) - 1u), __m512(v));
#else
  std::memcpy(p, &v, size_t(count) * sizeof(float));
#endif
}

/// The sum of the lanes, added as a tree (halves, then quarters, ...).
static inline float sum_lanes(Floats v) {
  using Half = float __attribute__((vector_size(8 * sizeof(float))));
  using Quarter = float __attribute__((vector_size(4 * sizeof(float))));
  const Half h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Quarter q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

/// The largest lane, compared as a tree like sum_lanes; a NaN lane may or may not win.
static inline float max_lanes(Floats v) {
  using Half = float __attribute__((vector_size(8 * sizeof(float))));
  using Quarter = float __attribute__((vector_size(4 * sizeof(float))));
  const Half a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const Half b = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Half h = a > b ? a : b;
  const Quarter c = __builtin_shufflevector(h, h, 0, 1, 2, 3), d = __builtin_shufflevector(h, h, 4, 5, 6, 7);
  const Quarter q = c > d ? c : d;
  const float x = q[0] > q[2] ? q[0] : q[2], y = q[1] > q[3] ? q[1] : q[3];
  return x > y ? x : y;
}

}  // namespace myelin::kernels
