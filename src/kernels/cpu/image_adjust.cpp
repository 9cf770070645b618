#include "kernels/cpu/image_adjust.hpp"

#include <algorithm>
#include <vector>

namespace myelin::kernels {

namespace {
inline float clip(float v, float lo, float hi, float* pass) {
  const bool inside = v >= lo && v <= hi;
  *pass = inside ? 1.f : 0.f;
  return inside ? v : (v < lo ? lo : hi);
}
}  // namespace

void contrast_forward(int64_t batch, int64_t pixels, int64_t channels, const float* factors, float lo, float hi,
                      const float* x, float* y, float* pass) {
  const int64_t C = channels, plane = pixels * C;
  std::vector<double> mean(static_cast<size_t>(C));
  for (int64_t n = 0; n < batch; ++n) {
    const float* img = x + n * plane;
    std::fill(mean.begin(), mean.end(), 0.0);
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < C; ++c) mean[size_t(c)] += img[p * C + c];
    for (auto& m : mean) m /= double(pixels);
    const float f = factors[n];
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = n * plane + p * C + c;
        const float m = float(mean[size_t(c)]);
        y[i] = clip((x[i] - m) * f + m, lo, hi, &pass[i]);
      }
  }
}

void contrast_backward(int64_t batch, int64_t pixels, int64_t channels, const float* factors, const float* pass,
                       const float* dy, float* dx) {
  const int64_t C = channels, plane = pixels * C;
  std::vector<double> sum(static_cast<size_t>(C));
  for (int64_t n = 0; n < batch; ++n) {
    const int64_t base = n * plane;
    std::fill(sum.begin(), sum.end(), 0.0);
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < C; ++c) sum[size_t(c)] += pass[base + p * C + c] * dy[base + p * C + c];
    const float f = factors[n];
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = base + p * C + c;
        dx[i] = f * pass[i] * dy[i] + float((1.0 - f) * sum[size_t(c)] / double(pixels));
      }
  }
}

void brightness_forward(int64_t batch, int64_t size, const float* deltas, float lo, float hi, const float* x, float* y,
                        float* pass) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t i = n * size; i < (n + 1) * size; ++i) y[i] = clip(x[i] + deltas[n], lo, hi, &pass[i]);
}

void masked_gradient(int64_t n, const float* pass, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * pass[i];
}

}  // namespace myelin::kernels
