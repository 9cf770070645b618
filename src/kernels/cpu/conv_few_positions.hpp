// The float32 forward of a convolution with few output positions in its batch (the seed CNN's third
// convolution at batch 1 has 9, the residual CNN's strided ones 49) as im2col and one product in
// register blocks (block_product.hpp) reading the {KH, KW, C, F} kernel where it lies, the threads
// sharing the output rows. oneDNN's direct kernels, made for many positions, took up to twice as long
// on such shapes on AVX2 and AVX-512 cores (bench/README.md, "Convolutions with few output positions").
// Each output's sum runs over the window in the same order whatever the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/conv.hpp"

namespace myelin::kernels {

/// Whether conv_few_positions_forward takes g on this build: at most 64 output positions in the
/// batch, out_c a multiple of the vector width, and a build whose vectors are those it was measured
/// faster with (AVX2 or AVX-512).
bool few_positions_suit(const Conv2DGeometry& g);

/// y = conv(x, kernel) + bias + addend, then relu when `relu` (bias and addend may be null; the
/// addend has y's shape and does not overlap it). x and y are float32 NHWC, kernel {KH, KW, C, F}.
/// `cols` is scratch, grown as needed. Needs few_positions_suit(g).
void conv_few_positions_forward(const Conv2DGeometry& g, const float* x, const float* kernel, const float* bias,
                                bool relu, const float* addend, float* y, std::vector<float>& cols);

}  // namespace myelin::kernels
