// A convolution's weight gradient in bfloat16 by pairs of images, with AVX512_BF16's dot product of
// pairs (vdpbf16ps): x and dy are rounded to bfloat16 with two images interleaved, so the pair each
// instruction sums over is the same position in two images, and no im2col is written.
// Measurements against oneDNN's primitive: bench/README.md, "The bfloat16 weight gradient by pairs
// of images".
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/conv.hpp"

namespace myelin::kernels {

/// Whether this build has the kernel (compiled for AVX512_BF16) and it takes the shape: out_c a
/// multiple of 16.
bool image_pairs_weight_gradient_fits(const Conv2DGeometry& g);

/// The buffers the kernel reuses from call to call: x and dy as bfloat16 image pairs, and each
/// thread's partial sums.
struct ImagePairsScratch {
  std::vector<uint32_t> x_pairs, dy_pairs;
  std::vector<float> partial;
};

/// dkernel {KH, KW, in_c, out_c} = the sum over images and output positions of x * dy, with x and dy
/// (NHWC float32) rounded to bfloat16 (to nearest, ties to even) and the products summed in float32;
/// dbias {out_c}, when not null, = the float32 sum of dy over images and positions. Requires
/// image_pairs_weight_gradient_fits(g). The sums' order depends only on g and the thread count.
void bf16_weight_gradient_by_image_pairs(const Conv2DGeometry& g, const float* x, const float* dy, float* dkernel,
                                         float* dbias, ImagePairsScratch& scratch);

}  // namespace myelin::kernels
