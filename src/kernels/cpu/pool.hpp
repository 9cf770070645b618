// 2-D max and average pooling over NHWC batches.
//
// Shapes: x {N, H, W, C}, y {N, OH, OW, C}. Windows are pool_h x pool_w, moved by stride_h/stride_w,
// with pad_top/pad_left virtual rows/columns before the image (Keras's 'same' padding). Padding
// never takes part: a max is over the window's pixels inside the image, an average divides by
// their count (as Keras, unlike a zero-padded average).
#pragma once
#include <cstdint>

namespace myelin::kernels {

struct Pool2DGeometry {
  int64_t batch = 0;
  int64_t in_h = 0, in_w = 0, channels = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t pool_h = 1, pool_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
};

/// y = max over each window; argmax[i] = offset of the winning input within its sample (for
/// backward), skipped when argmax is null (inference).
void max_pool_forward(const Pool2DGeometry& g, const float* x, float* y, int32_t* argmax);
/// dx = 0, then dx[argmax] += dy (ties go to the first maximum, as TensorFlow). With `y` (the
/// forward's output), a window whose maximum is not positive passes nothing: the gradient a relu
/// below would let through.
void max_pool_backward(const Pool2DGeometry& g, const float* dy, const int32_t* argmax, float* dx,
                       const float* y = nullptr);
void avg_pool_forward(const Pool2DGeometry& g, const float* x, float* y);
void avg_pool_backward(const Pool2DGeometry& g, const float* dy, float* dx);

/// Mean or max over H and W of each sample and channel: y {N, C}; argmax as above.
void global_avg_pool_forward(int64_t batch, int64_t hw, int64_t channels, const float* x, float* y);
void global_avg_pool_backward(int64_t batch, int64_t hw, int64_t channels, const float* dy, float* dx);
/// The masked forms (Keras's GlobalAveragePooling1D with a mask): the mean over the positions whose
/// mask ([batch, hw], 1 or 0) is 1; a sample with every position masked gives 0 (Keras: 0/0).
void global_avg_pool_masked_forward(int64_t batch, int64_t hw, int64_t channels, const float* x, const float* mask,
                                    float* y);
void global_avg_pool_masked_backward(int64_t batch, int64_t hw, int64_t channels, const float* dy, const float* mask,
                                     float* dx);
void global_max_pool_forward(int64_t batch, int64_t hw, int64_t channels, const float* x, float* y, int32_t* argmax);
void global_max_pool_backward(int64_t batch, int64_t hw, int64_t channels, const float* dy, const int32_t* argmax,
                              float* dx);

}  // namespace myelin::kernels
