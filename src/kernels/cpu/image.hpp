// Image preprocessing on NHWC tensors: Keras's Rescaling, CenterCrop, Resizing and RandomFlip, forward
// and backward.
//
// Resizing follows TensorFlow's tf.image.resize (what Keras calls) without antialiasing: half-pixel
// centres, output pixel i samples the source at (i + 0.5) * in / out - 0.5 (bilinear) or at row
// floor((i + 0.5) * in / out) (nearest). Bilinear equals PyTorch's interpolate(mode="bilinear",
// align_corners=False); nearest equals PyTorch's "nearest-exact".
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// y[i] = x[i] * scale + offset (y may alias x).
void rescale(const float* x, int64_t n, float scale, float offset, float* y);

enum class ResizeInterpolation { bilinear, nearest };

/// A resize of the window [top, top + window_h) x [left, left + window_w) of each {in_h, in_w, C}
/// image to {out_h, out_w, C}. A window the size of the output is a plain crop (CenterCrop).
struct ResizeWindow {
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
  int64_t top = 0, left = 0, window_h = 0, window_w = 0;
  int64_t out_h = 0, out_w = 0;
  ResizeInterpolation interpolation = ResizeInterpolation::bilinear;
};

/// The largest centred window of an in_h x in_w image with the aspect ratio out_h : out_w (Keras's
/// crop_to_aspect_ratio): its size is at least 1 x 1 and its offset (in - window) / 2 rounded down.
/// Sets top, left, window_h and window_w of `r` from r.in_h, r.in_w, r.out_h and r.out_w.
void set_aspect_ratio_window(ResizeWindow& r);

/// y {batch, out_h, out_w, C} = the window of x {batch, in_h, in_w, C}, resized.
void resize_forward(const ResizeWindow& r, const float* x, float* y);
/// dx {batch, in_h, in_w, C} = the transpose of resize_forward applied to dy: each output pixel's
/// gradient goes back to the source pixels it was interpolated from, with the same weights; pixels
/// outside the window get zero.
void resize_backward(const ResizeWindow& r, const float* dy, float* dx);

/// y {batch, height, width, C} = x with image n mirrored left-right (horizontal) and/or top-bottom
/// (vertical) where flips[n] is nonzero, copied as is elsewhere. Its own transpose, so it is also
/// the backward. y must not alias x.
void flip_images(int64_t batch, int64_t height, int64_t width, int64_t channels, const unsigned char* flips,
                 bool horizontal, bool vertical, const float* x, float* y);

}  // namespace myelin::kernels
