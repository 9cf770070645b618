// im2col for 2-D convolutions over NHWC batches: each output position's window copied into a row,
// so that a convolution becomes one matrix product with the {KH, KW, C, F} kernel read as a
// [KH * KW * C, F] matrix.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/conv.hpp"

namespace myelin::kernels {

/// For the batch's output rows [first, end) (row r: image r / out_h, output row r % out_h), on the
/// calling thread: cols[p, (i * kw + j) * in_c + c] = x at position p's window element (i, j, c),
/// zero in the padding, p counted from row `first`'s first position. Rows of cols are `ld` floats
/// apart; with ld = patch + 1 the extra last column holds ones, so that one GEMM also sums dy for
/// the bias's gradient. T is float, or uint16_t for bfloat16 (whose 1 is 0x3f80).
// One output row per iteration, window offsets outermost: no division per position and, for one
// channel, a plain store instead of a copy call (1.57 ms -> 0.3 ms for the CNN's first layer at
// batch 128, bench/README.md).
template <class T>
void im2col_rows(const Conv2DGeometry& g, const T* x, T* cols, int64_t ld, int64_t first, int64_t end) {
  const T one = sizeof(T) == 4 ? T(1) : T(0x3f80);
  const int64_t patch = g.kernel_h * g.kernel_w * g.in_c;
  for (int64_t r = first; r < end; ++r) {
    const int64_t b = r / g.out_h, oh = r % g.out_h;
    T* row_cols = cols + (r - first) * g.out_w * ld;
    if (ld > patch)
      for (int64_t ow = 0; ow < g.out_w; ++ow) row_cols[ow * ld + patch] = one;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
      const bool row_inside = ih >= 0 && ih < g.in_h;
      const T* x_row = row_inside ? x + (b * g.in_h + ih) * g.in_w * g.in_c : nullptr;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        T* dst = row_cols + (i * g.kernel_w + j) * g.in_c;
        for (int64_t ow = 0; ow < g.out_w; ++ow, dst += ld) {
          const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
          if (!row_inside || iw < 0 || iw >= g.in_w) {
            std::fill(dst, dst + g.in_c, T(0));
          } else if (g.in_c == 1) {
            *dst = x_row[iw];
          } else {
            std::copy(x_row + iw * g.in_c, x_row + (iw + 1) * g.in_c, dst);
          }
        }
      }
    }
  }
}

/// im2col_rows over the whole batch, the threads sharing its output rows.
template <class T>
void im2col(const Conv2DGeometry& g, const T* x, T* cols, int64_t ld) {
  const int64_t rows = g.batch * g.out_h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) im2col_rows(g, x, cols + r * g.out_w * ld, ld, r, r + 1);
}

}  // namespace myelin::kernels
