// The geometric augmentations' one sampling kernel: a projective (affine when c0 = c1 = 0) map of
// each NHWC image, as Keras's ops.image.affine_transform, forward and its adjoint.
//
// Coordinates are pixel indices (pixel (x, y) sits at x, y; no half-pixel shift): output pixel (x, y)
// of image n samples the input at
//   x' = (a0 x + a1 y + a2) / k,  y' = (b0 x + b1 y + b2) / k,  k = c0 x + c1 y + 1,
// with transform n = {a0, a1, a2, b0, b1, b2, c0, c1}. The input is read as if extended beyond its
// edges by the fill mode, then interpolated:
//   reflect  d c b a | a b c d | d c b a   (mirrored about the edge, edge pixels repeated)
//   wrap     a b c d | a b c d | a b c d
//   nearest  a a a a | a b c d | d d d d
//   constant k k k k | a b c d | k k k k   (k = fill_value; bilinear blends it in at the edge)
// This is scipy.ndimage's map_coordinates on the extended image, what Keras's numpy and JAX backends
// compute; TensorFlow's kernel agrees for reflect, nearest and constant (its wrap differs between
// the last and first pixel). Nearest interpolation rounds half away from zero, as TensorFlow.
#pragma once
#include <cstdint>

#include "kernels/cpu/image.hpp"

namespace myelin::kernels {

enum class FillMode { reflect, wrap, constant, nearest };

/// Images {batch, height, width, channels} in and out (the output has the input's size).
struct ImageTransform {
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  ResizeInterpolation interpolation = ResizeInterpolation::bilinear;
  FillMode fill_mode = FillMode::reflect;
  float fill_value = 0.f;
};

/// The number of floats per image in `transforms`.
inline constexpr int64_t kTransformSize = 8;

/// y = x sampled through transforms[n * 8 .. n * 8 + 8) for each image n. A point where k is 0
/// (or any coordinate is not finite) gets fill_value whatever the fill mode, as TensorFlow.
void image_transform_forward(const ImageTransform& t, const float* transforms, const float* x, float* y);
/// dx = the adjoint of image_transform_forward with the same transforms applied to dy: each output
/// pixel's gradient goes back to the input pixels it read, with the interpolation's weights (taps
/// that read fill_value carry none). dx is overwritten.
void image_transform_backward(const ImageTransform& t, const float* transforms, const float* dy, float* dx);

}  // namespace myelin::kernels
