// Keras's colour augmentations on NHWC images, forward and backward: RandomContrast and
// RandomBrightness, each an affine map of every value followed by a clip to the value range.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Images {batch, pixels = height * width, channels}. For each image n and channel c, with m the
/// mean of that channel over the image: y = clip((x - m) * factors[n] + m, lo, hi). pass (same size
/// as x) receives 1 where the value was inside [lo, hi] before the clip, else 0.
void contrast_forward(int64_t batch, int64_t pixels, int64_t channels, const float* factors, float lo, float hi,
                      const float* x, float* y, float* pass);
/// dx for dy through contrast_forward with the same factors and pass: the clip's mask, then the
/// transpose of x -> (x - m) * f + m (each value's own f, plus (1 - f) / pixels times the channel's
/// masked sum, through the mean).
void contrast_backward(int64_t batch, int64_t pixels, int64_t channels, const float* factors, const float* pass,
                       const float* dy, float* dx);

/// Images of `size` values each: y = clip(x + deltas[n], lo, hi); pass as in contrast_forward.
void brightness_forward(int64_t batch, int64_t size, const float* deltas, float lo, float hi, const float* x, float* y,
                        float* pass);
/// dx = dy * pass (any number of values).
void masked_gradient(int64_t n, const float* pass, const float* dy, float* dx);

}  // namespace myelin::kernels
