// Zero padding of NHWC images (Keras's ZeroPadding2D) and its backward pass, the inverse crop.
//
// Shapes: x {N, H, W, C}; padded {N, top + H + bottom, left + W + right, C}.
#pragma once
#include <cstdint>

namespace myelin::kernels {

struct Padding2D {
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
  int64_t top = 0, bottom = 0, left = 0, right = 0;
  int64_t out_h() const { return top + in_h + bottom; }
  int64_t out_w() const { return left + in_w + right; }
};

/// y = x surrounded by zeros.
void zero_pad2d_forward(const Padding2D& p, const float* x, float* y);
/// dx = the inner H x W window of dy (the border's gradient goes nowhere).
void zero_pad2d_backward(const Padding2D& p, const float* dy, float* dx);

}  // namespace myelin::kernels
