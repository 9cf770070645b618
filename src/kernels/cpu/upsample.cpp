#include "kernels/cpu/upsample.hpp"

#include <algorithm>

#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

// One item per (sample, input step): each writes its own `size` output steps, or its own dx step.
void repeat_steps_forward(int64_t batch, int64_t steps, int64_t channels, int64_t size, const float* x, float* y) {
  parallel_for(batch * steps, batch * steps * channels * size, [&](int64_t i) {
    const float* src = x + i * channels;
    float* dst = y + i * size * channels;
    for (int64_t r = 0; r < size; ++r) std::copy(src, src + channels, dst + r * channels);
  });
}

void repeat_steps_backward(int64_t batch, int64_t steps, int64_t channels, int64_t size, const float* dy, float* dx) {
  parallel_for(batch * steps, batch * steps * channels * size, [&](int64_t i) {
    const float* src = dy + i * size * channels;
    float* dst = dx + i * channels;
    std::copy(src, src + channels, dst);
    for (int64_t r = 1; r < size; ++r) {
      const float* s = src + r * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) dst[c] += s[c];
    }
  });
}

}  // namespace myelin::kernels
