// The kernels' vector types (GCC/Clang vector extensions): one register of the widest vectors the
// build targets, sixteen floats with AVX-512, eight with AVX, four otherwise. One register rather
// than a fixed sixteen: on AVX2 GCC lowers a sixteen-lane type's selects and conversions lane by
// lane and its kernels spill (the fused convolution-pooling pass took 6.4 ms a batch with sixteen
// lanes there and 0.61 ms with eight; bench/README.md, "The kernels' vectors one register wide").
// The one home of the kernels' vector types and their loads and stores. The functions here and in
// exp.hpp are static: a file built for another processor (a test) gets its own copy, never the
// library's, whose vector arguments pass in other registers.
#pragma once
#include <cstdint>
#include <cstring>

#ifdef __AVX__
#include <immintrin.h>
#endif

namespace myelin::kernels {

#if defined(__AVX512F__)
inline constexpr int64_t kLanes = 16;
#elif defined(__AVX__)
inline constexpr int64_t kLanes = 8;
#else
inline constexpr int64_t kLanes = 4;
#endif
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
#elif defined(__AVX__)
  // A masked load rather than memcpy: a copy of a variable count is a `rep movs`, slower than the
  // arithmetic on what it loads.
  const Ints in_range = Ints{0, 1, 2, 3, 4, 5, 6, 7} < int32_t(count);
  return in_range ? Floats(_mm256_maskload_ps(p, __m256i(in_range))) : fill;
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
#elif defined(__AVX__)
  // A whole vector as one store, the rest in 4, 2 and 1 floats: AMD's cores run vmaskmovps to memory
  // as microcode, dozens of operations (bench/README.md, "Partial stores without vmaskmovps").
  if (count == kLanes) return store(p, v);
  __m128 part = _mm256_castps256_ps128(__m256(v));
  if (count & 4) {
    _mm_storeu_ps(p, part);
    part = _mm256_extractf128_ps(__m256(v), 1);
    p += 4;
  }
  if (count & 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
    part = _mm_movehl_ps(part, part);
    p += 2;
  }
  if (count & 1) _mm_store_ss(p, part);
#else
  std::memcpy(p, &v, size_t(count) * sizeof(float));
#endif
}

/// {0, 1, ..., kLanes - 1}: each lane's index, to compare with a position in a row.
static inline Ints lane_indices() {
  Ints v{};
  for (int32_t i = 0; i < int32_t(kLanes); ++i) v[i] = i;
  return v;
}

// v folded to four lanes by op over its halves, then quarters: the tree steps of sum_lanes and
// max_lanes, as shuffles (a loop over an array of lanes compiles to stores and scalar reloads).
using FourFloats = float __attribute__((vector_size(4 * sizeof(float))));
template <class Op>
static inline FourFloats fold_to_four(Floats v, [[maybe_unused]] Op op) {  // unused with four lanes
#if defined(__AVX512F__)
  using EightFloats = float __attribute__((vector_size(8 * sizeof(float))));
  const EightFloats h = op(EightFloats(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)),
                           EightFloats(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)));
  return op(FourFloats(__builtin_shufflevector(h, h, 0, 1, 2, 3)),
            FourFloats(__builtin_shufflevector(h, h, 4, 5, 6, 7)));
#elif defined(__AVX__)
  return op(FourFloats(__builtin_shufflevector(v, v, 0, 1, 2, 3)),
            FourFloats(__builtin_shufflevector(v, v, 4, 5, 6, 7)));
#else
  return v;
#endif
}

/// The sum of the lanes, added as a tree (halves, then quarters, ...).
static inline float sum_lanes(Floats v) {
  const FourFloats q = fold_to_four(v, [](auto a, auto b) { return a + b; });
  return (q[0] + q[2]) + (q[1] + q[3]);
}

/// Half as many doubles as Floats has floats, in as many bytes: float values summed in double lanes.
using Doubles = double __attribute__((vector_size(kLanes * sizeof(float))));

/// v's lanes in double, its first half's added to its second half's.
static inline Doubles widened_pairs(Floats v) {
  // Intrinsics: GCC 12 converts a generic half vector two floats at a time.
#if defined(__AVX512F__)
  const __m512 w = __m512(v);
  const __m256 second = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1));
  return Doubles(_mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(w)), _mm512_cvtps_pd(second)));
#elif defined(__AVX__)
  const __m256 w = __m256(v);
  const __m256d first = _mm256_cvtps_pd(_mm256_castps256_ps128(w));
  return Doubles(_mm256_add_pd(first, _mm256_cvtps_pd(_mm256_extractf128_ps(w, 1))));
#else
  return Doubles{double(v[0]) + double(v[2]), double(v[1]) + double(v[3])};
#endif
}

/// The sum of double lanes, in order.
static inline double sum_lanes(Doubles v) {
  double s = 0;
  for (int64_t i = 0; i < kLanes / 2; ++i) s += v[i];
  return s;
}

/// The largest lane, compared as a tree like sum_lanes; a NaN lane may or may not win.
static inline float max_lanes(Floats v) {
  const FourFloats q = fold_to_four(v, [](auto a, auto b) { return a > b ? a : b; });
  const float x = q[0] > q[2] ? q[0] : q[2], y = q[1] > q[3] ? q[1] : q[3];
  return x > y ? x : y;
}

}  // namespace myelin::kernels
