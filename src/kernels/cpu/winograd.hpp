// 3x3 convolutions of stride 1 by Winograd's F(4x4, 3x3) on the caller's NHWC float32 data, for
// Conv2DKernel's float32 forwards: each 6x6 input tile and each filter's 3x3 weights are transformed
// into 36 values, multiplied position by position (36 products of tiles x in_c by in_c x out_c, 4
// times fewer multiply-adds than the direct convolution's 9 x 16 for a 4x4 output tile), and the 36
// products transformed back into the 4x4 outputs. The transformed weights are kept while the
// weights are unchanged, so an inference call only transforms its data; oneDNN's Winograd
// transforms its weights on every call (it lost below batch 16) and converts the data to and from
// its blocked layout (bench/README.md, "Our own Winograd forward").
//
// The threads share the tiles, each tile computed whole by one thread, so the values do not depend
// on the thread count or on the other images of the batch. Rounding differs from the direct
// convolution's, as for any Winograd: the transforms' coefficients (up to 8, and 1/24 on the
// weights) add a few float32 roundings of each product's magnitude.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/weights_seen.hpp"

namespace myelin::kernels {

class WinogradConv3x3 {
 public:
  /// Whether this kernel takes the convolution: 3x3 windows, stride 1, no dilation, and channels in
  /// and out multiples of the build's vector width.
  static bool takes(const Conv2DGeometry& g);
  /// The 4x4 output tiles of the batch, the last row and column of tiles cut at the output's edge.
  static int64_t tiles(const Conv2DGeometry& g) { return g.batch * ((g.out_h + 3) / 4) * ((g.out_w + 3) / 4); }

  /// y = conv(x, kernel) + bias + addend, then relu when `relu` (bias and addend may be null; the
  /// addend has y's shape). x is float32 NHWC, or bfloat16 NHWC (uint16_t bits) with `x_bf16`, whose
  /// values are taken exactly; y is float32. kernel is {3, 3, in_c, out_c} (hwio); `kernel_version`
  /// as Conv2DKernel::forward: 0 compares the values with those last transformed, a nonzero version
  /// promises the same values at the same address. Needs takes(g).
  void forward(const Conv2DGeometry& g, const void* x, bool x_bf16, const float* kernel, uint64_t kernel_version,
               const float* bias, bool relu, const float* addend, float* y);

 private:
  void transform_weights(const Conv2DGeometry& g, const float* kernel, uint64_t kernel_version);

  // [36][out_c / w][in_c][w]: each position's in_c x out_c matrix in panels of w =
  // block_product_columns() columns (the last one narrower), each panel's rows contiguous, so that a
  // register block streams its weights in order (bench/README.md, "Winograd's transformed weights
  // in panels": the 7x7x64 convolution about 12 % faster at batch 1 and 128 on a Zen 3).
  std::vector<float> transformed_;
  WeightsSeen seen_;                // the weights last transformed
  int64_t in_c_ = 0, out_c_ = 0;
  std::vector<std::vector<float>> scratch_;  // per thread: its tiles' transformed inputs and products
};

}  // namespace myelin::kernels
