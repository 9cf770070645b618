// Inverted dropout (Keras's Dropout and SpatialDropout2D): a mask of 0 (dropped, with probability
// `rate`) or 1/(1-rate) (kept), broadcast over the axes the noise shape leaves at 1.
//
// Shapes: x is viewed as [batch, positions, channels] and the mask as [batch, channels], the mask
// shared by every position of a sample. Dropout: positions 1, channels = the sample's size (a mask per
// value); SpatialDropout2D: positions = H*W (noise shape (N, 1, 1, C): whole channels drop together).
#pragma once
#include <cstdint>

#include "myelin/random.hpp"

namespace myelin::kernels {

/// Fills mask[0, n) in order from rng: 0 with probability `rate`, else 1/(1-rate); one draw per value
/// (its top 24 bits), so the same generator state gives the same mask.
void dropout_mask(Rng& rng, float rate, float* mask, int64_t n);

/// The forward pass: dropout_mask then dropout_apply (the same draws, the same mask), one sample at a
/// time so that each sample's mask is applied while it is still in cache.
void dropout_forward(Rng& rng, float rate, const float* x, float* mask, float* y, int64_t batch, int64_t positions,
                     int64_t channels);

/// y[b, p, c] = x[b, p, c] * mask[b, c]: the backward pass with dy and dx, and with dy and dx the backward pass. y may
/// alias x.
void dropout_apply(const float* x, const float* mask, float* y, int64_t batch, int64_t positions, int64_t channels);

}  // namespace myelin::kernels
