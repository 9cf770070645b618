#include "kernels/cpu/conv_few_positions.hpp"

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/block_product.hpp"
#include "kernels/cpu/im2col.hpp"
#include "kernels/cpu/lanes.hpp"

namespace myelin::kernels {

namespace {
// Two threads on a Zen 3 (AVX2), against the library's choice before it (bench/README.md): 9 positions
// (5x5x64 -> 3x3x64) 9.0-11.8 us against 14.9-21.4, 18 (batch 2) 13.1-18.5 against 23.8-29.0, 49
// (14x14x32 -> 7x7x64 of stride 2) 16.7-30.0 against 23.7-32.8 (3x3) and 3.2-7.9 against 5.6-11.7
// (1x1); 36 and 98 were even, 72 and 196 slower. Two threads on an Intel core with AVX-512, against
// oneDNN's brgconv: 9 positions 4.1-4.5 us against 6.6-9.4, 18 6.5-7.8 against 8.5-12.3, the 49 of
// stride 2 8.5-9.3 against 9.0-10.5 (3x3) and 2.2-2.3 against 2.6-2.9 (1x1).
constexpr int64_t kMaxPositions = 64;
// Measured with AVX2's and AVX-512's vectors; a build with four-float vectors keeps oneDNN's kernels.
constexpr bool kMeasuredOnThisBuild = kLanes >= 8;
}  // namespace

bool few_positions_suit(const Conv2DGeometry& g) {
  return kMeasuredOnThisBuild && g.batch * g.out_h * g.out_w <= kMaxPositions && block_product_fits(g.out_c);
}

void conv_few_positions_forward(const Conv2DGeometry& g, const float* x, const float* kernel, const float* bias,
                                bool relu, const float* addend, float* y, std::vector<float>& cols) {
  const int64_t patch = g.kernel_h * g.kernel_w * g.in_c, F = g.out_c;
  const int64_t rows = g.batch * g.out_h;  // output rows of the batch, shared by the threads
  if (int64_t(cols.size()) < rows * g.out_w * patch) cols.resize(size_t(rows * g.out_w * patch));
  const int threads = int(std::clamp<int64_t>(rows, 1, omp_get_max_threads()));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t first = rows * t / n, end = rows * (t + 1) / n;
    const int64_t from = first * g.out_w, positions = (end - first) * g.out_w;
    if (positions > 0) {
      float* c = cols.data() + from * patch;
      im2col_rows(g, x, c, patch, first, end);
      float* yt = y + from * F;
      block_product(positions, F, patch, c, patch, kernel, F, yt, F, false);
      const float* at = addend ? addend + from * F : nullptr;
      for (int64_t i = 0; i < positions * F; i += kLanes) {  // F is whole vectors
        Floats v = load(yt + i);
        if (bias) v += load(bias + i % F);
        if (at) v += load(at + i);
        if (relu) v = v > 0.f ? v : Floats{};
        store(yt + i, v);
      }
    }
  }
}

}  // namespace myelin::kernels
