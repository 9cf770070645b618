#include "kernels/cpu/conv_weight_gradient_bf16.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "myelin/error.hpp"

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace myelin::kernels {

#if defined(__AVX512BF16__)
namespace {

// Image pairs per block of the sums: the block's x and dy (about 200 KB for the seed CNN's second
// convolution) stay in the core's L2 through the taps' passes over them.
constexpr int64_t kPairsPerBlock = 4;

// The input rows (or columns) the windows read, padding included: (out - 1) * stride + the dilated kernel.
int64_t padded_extent(int64_t out, int64_t kernel, int64_t stride, int64_t dilation) {
  return (out - 1) * stride + (kernel - 1) * dilation + 1;
}

// n values of image a and of image b (null: zeros) as n bfloat16 pairs, a's in the low half. `sums`,
// when not null, gets a[i] + b[i] added into sums[i] (n a multiple of 16 then).
void pack_pairs(const float* a, const float* b, uint32_t* out, int64_t n, float* sums) {
  // cvtne2ps writes b's 16 values above a's; this puts the i-th of each side by side.
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 va = _mm512_maskz_loadu_ps(m, a + i);
    const __m512 vb = b ? _mm512_maskz_loadu_ps(m, b + i) : _mm512_setzero_ps();
    const __m512i pairs = _mm512_permutexvar_epi16(interleave, __m512i(_mm512_cvtne2ps_pbh(vb, va)));
    _mm512_mask_storeu_epi32(out + i, m, pairs);
    if (sums) _mm512_storeu_ps(sums + i, _mm512_add_ps(_mm512_loadu_ps(sums + i), _mm512_add_ps(va, vb)));
  }
}

// dw[ci0 + i][co0 + 16 b + lane] += the sums over pairs [p0, p1) and every output position of
// x(ci0 + i) * dy(co0 + 16 b + lane), for one tap (kh, kw): CIT * COB accumulators, each
// vdpbf16ps summing one position of both images of a pair.
template <int CIT, int COB>
void tap_tile(const Conv2DGeometry& g, const uint32_t* x_pairs, const uint32_t* dy_pairs, int64_t hp, int64_t wp,
              int64_t p0, int64_t p1, int64_t kh, int64_t kw, int64_t ci0, int64_t co0, float* dw) {
  __m512 acc[CIT][COB];
  for (int i = 0; i < CIT; ++i)
    for (int b = 0; b < COB; ++b) acc[i][b] = _mm512_loadu_ps(dw + (ci0 + i) * g.out_c + co0 + 16 * b);
  const int64_t x_step = g.stride_w * g.in_c;
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const uint32_t* xr =
          x_pairs + ((p * hp + oh * g.stride_h + kh * g.dilation_h) * wp + kw * g.dilation_w) * g.in_c + ci0;
      const uint32_t* dr = dy_pairs + (p * g.out_h + oh) * g.out_w * g.out_c + co0;
      for (int64_t ow = 0; ow < g.out_w; ++ow, xr += x_step, dr += g.out_c) {
        __m512bh d[COB];
        for (int b = 0; b < COB; ++b) d[b] = __m512bh(_mm512_loadu_si512(dr + 16 * b));
        for (int i = 0; i < CIT; ++i) {
          const __m512bh xi = __m512bh(_mm512_set1_epi32(int(xr[i])));
          for (int b = 0; b < COB; ++b) acc[i][b] = _mm512_dpbf16_ps(acc[i][b], xi, d[b]);
        }
      }
    }
  for (int i = 0; i < CIT; ++i)
    for (int b = 0; b < COB; ++b) _mm512_storeu_ps(dw + (ci0 + i) * g.out_c + co0 + 16 * b, acc[i][b]);
}

template <int CIT>
void tap_tile_co(int64_t co_blocks, const Conv2DGeometry& g, const uint32_t* xp, const uint32_t* dp, int64_t hp,
                 int64_t wp, int64_t p0, int64_t p1, int64_t kh, int64_t kw, int64_t ci0, int64_t co0, float* dw) {
  switch (co_blocks) {
    case 1: return tap_tile<CIT, 1>(g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw);
    case 2: return tap_tile<CIT, 2>(g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw);
    case 3: return tap_tile<CIT, 3>(g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw);
    default: return tap_tile<CIT, 4>(g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw);
  }
}

// One tap's sums for pairs [p0, p1): input channels 8 at a time, output channels 64 at a time (32
// accumulators of the 32 registers), the remainders in smaller tiles.
void tap_sums(const Conv2DGeometry& g, const uint32_t* xp, const uint32_t* dp, int64_t hp, int64_t wp, int64_t p0,
              int64_t p1, int64_t kh, int64_t kw, float* dw) {
  for (int64_t ci0 = 0; ci0 < g.in_c; ci0 += 8)
    for (int64_t co0 = 0; co0 < g.out_c; co0 += 64) {
      const int64_t co_blocks = std::min<int64_t>(4, (g.out_c - co0) / 16);
      switch (std::min<int64_t>(8, g.in_c - ci0)) {
        case 1: tap_tile_co<1>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        case 2: tap_tile_co<2>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        case 3: tap_tile_co<3>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        case 4: tap_tile_co<4>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        case 5: tap_tile_co<5>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        case 6: tap_tile_co<6>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        case 7: tap_tile_co<7>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
        default: tap_tile_co<8>(co_blocks, g, xp, dp, hp, wp, p0, p1, kh, kw, ci0, co0, dw); break;
      }
    }
}

}  // namespace

bool image_pairs_weight_gradient_fits(const Conv2DGeometry& g) { return g.out_c > 0 && g.out_c % 16 == 0; }

void bf16_weight_gradient_by_image_pairs(const Conv2DGeometry& g, const float* x, const float* dy, float* dkernel,
                                         float* dbias, ImagePairsScratch& scratch) {
  if (!image_pairs_weight_gradient_fits(g)) throw Error("bf16_weight_gradient_by_image_pairs: out_c not a multiple of 16");
  const int64_t pairs = (g.batch + 1) / 2;
  const int64_t hp = padded_extent(g.out_h, g.kernel_h, g.stride_h, g.dilation_h);
  const int64_t wp = padded_extent(g.out_w, g.kernel_w, g.stride_w, g.dilation_w);
  const int64_t x_image = g.in_h * g.in_w * g.in_c, x_pair = hp * wp * g.in_c;
  const int64_t dy_image = g.out_h * g.out_w * g.out_c;
  const int64_t weights = g.kernel_h * g.kernel_w * g.in_c * g.out_c;
  const int nt = int(std::clamp<int64_t>(pairs, 1, omp_get_max_threads()));
  scratch.x_pairs.resize(size_t(pairs * x_pair));  // within capacity after the first batch
  scratch.dy_pairs.resize(size_t(pairs * dy_image));
  // Thread 0 sums into dkernel (and dbias); thread t > 0 into its part of `partial`.
  scratch.partial.resize(size_t((nt - 1) * (weights + g.out_c)));
  // Each pair's padded x: `top` rows of zeros, the copied rows (zeros left and right of the copied
  // columns), zeros below; only the padding is cleared.
  const int64_t top = std::min(g.pad_top, hp), copied_rows = std::clamp<int64_t>(hp - g.pad_top, 0, g.in_h);
  const int64_t bottom = hp - top - copied_rows;
  const int64_t left = std::min(g.pad_left, wp), copied_cols = std::clamp<int64_t>(wp - g.pad_left, 0, g.in_w);
  const int64_t right = wp - left - copied_cols;
  auto zero = [](uint32_t* p, int64_t n) { std::fill(p, p + n, 0u); };
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int64_t first = pairs * t / nt, last = pairs * (t + 1) / nt;
    float* dw = t == 0 ? dkernel : scratch.partial.data() + (t - 1) * (weights + g.out_c);
    float* db = !dbias ? nullptr : t == 0 ? dbias : dw + weights;
    std::fill(dw, dw + weights, 0.f);
    if (db) std::fill(db, db + g.out_c, 0.f);
    // This thread's pairs only: it alone reads them, so no barrier before the sums.
    for (int64_t p = first; p < last; ++p) {
      const float* a = x + 2 * p * x_image;
      const float* b = 2 * p + 1 < g.batch ? a + x_image : nullptr;
      uint32_t* xp = scratch.x_pairs.data() + p * x_pair;
      zero(xp, top * wp * g.in_c);
      for (int64_t ih = 0; ih < copied_rows; ++ih) {
        uint32_t* row = xp + (ih + top) * wp * g.in_c;
        zero(row, left * g.in_c);
        pack_pairs(a + ih * g.in_w * g.in_c, b ? b + ih * g.in_w * g.in_c : nullptr, row + left * g.in_c,
                   copied_cols * g.in_c, nullptr);
        zero(row + (left + copied_cols) * g.in_c, right * g.in_c);
      }
      zero(xp + (top + copied_rows) * wp * g.in_c, bottom * wp * g.in_c);
      const float* da = dy + 2 * p * dy_image;
      const float* dbp = b ? da + dy_image : nullptr;
      uint32_t* dp = scratch.dy_pairs.data() + p * dy_image;
      for (int64_t pos = 0; pos < g.out_h * g.out_w; ++pos)
        pack_pairs(da + pos * g.out_c, dbp ? dbp + pos * g.out_c : nullptr, dp + pos * g.out_c, g.out_c, db);
    }
    for (int64_t p0 = first; p0 < last; p0 += kPairsPerBlock) {
      const int64_t p1 = std::min(last, p0 + kPairsPerBlock);
      for (int64_t kh = 0; kh < g.kernel_h; ++kh)
        for (int64_t kw = 0; kw < g.kernel_w; ++kw)
          tap_sums(g, scratch.x_pairs.data(), scratch.dy_pairs.data(), hp, wp, p0, p1, kh, kw,
                   dw + (kh * g.kernel_w + kw) * g.in_c * g.out_c);
    }
#pragma omp barrier
    // The threads' sums added in thread order, each thread over its own range of the weights.
    const int64_t begin = weights * t / nt, end = weights * (t + 1) / nt;
    for (int u = 1; u < nt; ++u) {
      const float* part = scratch.partial.data() + (u - 1) * (weights + g.out_c);
      for (int64_t i = begin; i < end; ++i) dkernel[i] += part[i];
    }
    if (dbias && t == 0)
      for (int u = 1; u < nt; ++u) {
        const float* part = scratch.partial.data() + (u - 1) * (weights + g.out_c) + weights;
        for (int64_t c = 0; c < g.out_c; ++c) dbias[c] += part[c];
      }
  }
}

#else  // not built for AVX512_BF16

bool image_pairs_weight_gradient_fits(const Conv2DGeometry&) { return false; }

void bf16_weight_gradient_by_image_pairs(const Conv2DGeometry&, const float*, const float*, float*, float*,
                                         ImagePairsScratch&) {
  throw Error("bf16_weight_gradient_by_image_pairs: the library was built without AVX512_BF16");
}

#endif

}  // namespace myelin::kernels
