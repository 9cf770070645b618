#include "kernels/cpu/masking.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

void mask_nonzero_ids(const float* ids, int64_t n, float* mask) {
  for (int64_t i = 0; i < n; ++i) mask[i] = ids[i] != 0.f ? 1.f : 0.f;
}

void masking_forward(int64_t steps, int64_t features, float mask_value, const float* x, float* y, float* mask) {
  parallel_for(steps, steps * features, [&](int64_t s) {
    const float* xs = x + s * features;
    float* ys = y + s * features;
    bool data = false;
    for (int64_t k = 0; k < features; ++k) data = data || xs[k] != mask_value;
    mask[s] = data ? 1.f : 0.f;
    if (data)
      std::memcpy(ys, xs, size_t(features) * sizeof(float));
    else
      std::fill(ys, ys + features, 0.f);
  });
}

void masking_backward(int64_t steps, int64_t features, const float* mask, const float* dy, float* dx) {
  parallel_for(steps, steps * features, [&](int64_t s) {
    const float m = mask[s];
    for (int64_t k = 0; k < features; ++k) dx[s * features + k] = dy[s * features + k] * m;
  });
}

}  // namespace myelin::kernels
