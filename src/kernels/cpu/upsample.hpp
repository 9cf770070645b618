// Nearest-neighbour upsampling of sequences by repetition (Keras's UpSampling1D).
//
// Shapes: x {N, T, C}, y {N, T * size, C}: y[n, t * size + r, c] = x[n, t, c] for r in [0, size).
#pragma once
#include <cstdint>

namespace myelin::kernels {

void repeat_steps_forward(int64_t batch, int64_t steps, int64_t channels, int64_t size, const float* x, float* y);
/// dx[n, t, c] = sum over r of dy[n, t * size + r, c]: each input step receives its copies' gradients.
void repeat_steps_backward(int64_t batch, int64_t steps, int64_t channels, int64_t size, const float* dy, float* dx);

}  // namespace myelin::kernels
