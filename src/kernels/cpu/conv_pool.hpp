// A convolution with relu followed by a 2x2 max pooling of stride 2, in one pass: the pooled output
// and each output's winning window position, never the convolution's output. For convolutions
// with few weights per filter (a first layer: 3x3 over one or three channels), whose separate
// output is the widest tensor of the network and whose pooling only reads it back: the
// Fashion-MNIST CNN's first convolution and pooling took 4.2 ms of its layers' 14.2 ms a step at
// batch 128 (bench/README.md, "The first convolution fused with its pooling").
//
// Shapes: x {N, H, W, C} (NHWC), kernel {KH, KW, C, F} (Keras's layout), bias {F} or none,
// y and winner {N, PH, PW, F} with PH = (H + pads - KH + 1) / 2, PW likewise (rounded down, as
// Keras's 'valid' pooling drops an odd last row or column). The convolution has stride 1, no
// dilation, and zero padding as given ('valid': none; 'same': KH - 1 rows and KW - 1 columns, the
// smaller half before).
#pragma once
#include <cstdint>
#include <vector>

namespace myelin::kernels {

struct ConvPoolGeometry {
  int64_t batch = 0;
  int64_t in_h = 0, in_w = 0, in_c = 0;
  int64_t kernel_h = 0, kernel_w = 0, filters = 0;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t padded_h() const { return in_h + pad_top + pad_bottom; }
  int64_t padded_w() const { return in_w + pad_left + pad_right; }
  int64_t pooled_h() const { return (padded_h() - kernel_h + 1) / 2; }
  int64_t pooled_w() const { return (padded_w() - kernel_w + 1) / 2; }
};

/// The most weights per filter (KH * KW * C) the fused pass takes.
inline constexpr int64_t kConvPoolMaxReceptive = 32;

class ConvReluMaxPoolKernel {
 public:
  /// y = maxpool2x2(relu(conv(x, kernel) + bias)); bias may be null. winner (may be null in
  /// inference) receives, per output, which position of its window won: 2 * row + column, the
  /// first in scan order on a tie. Needs kernel_h * kernel_w * in_c <= kConvPoolMaxReceptive.
  void forward(const ConvPoolGeometry& g, const float* x, const float* kernel, const float* bias, float* y,
               uint8_t* winner);
  /// Overwrites dkernel {KH, KW, C, F} and dbias {F} (when not null) with the gradients of a loss
  /// whose gradient with respect to y is dy, for the forward that gave y and winner from x. An
  /// output whose window had no positive value passes nothing back (relu's gradient).
  void backward_weights(const ConvPoolGeometry& g, const float* x, const float* y, const uint8_t* winner,
                        const float* dy, float* dkernel, float* dbias);

 private:
  // x with its zero border, where the geometry pads; returns the geometry without padding to use.
  ConvPoolGeometry pad(const ConvPoolGeometry& g, const float*& x);

  std::vector<float> packed_;   // kernel and bias with the filters padded to whole vectors
  std::vector<float> padded_x_;  // x with its zero border (pad)
  std::vector<float> partial_;  // per thread: its share of the weight and bias gradients
};

}  // namespace myelin::kernels
