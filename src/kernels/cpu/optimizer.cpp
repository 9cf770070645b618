#include "kernels/cpu/optimizer.hpp"

#include <algorithm>
#include <cmath>

namespace myelin::kernels {

// The update loops are element-wise and independent: `omp simd` vectorises them, sqrt included
// (the library builds with -fno-math-errno). They run on the calling thread, as they did inside
// the optimizer classes; threading them would be a change to measure in bench/, not part of a move.

void sgd_update(float* w, const float* g, int64_t n, float lr) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
}

void sgd_momentum_update(float* w, const float* g, float* velocity, int64_t n, float lr, float momentum,
                         bool nesterov) {
  float* m = velocity;
  const float mu = momentum;
  if (nesterov) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      m[i] = mu * m[i] - lr * g[i];
      w[i] += mu * m[i] - lr * g[i];
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      m[i] = mu * m[i] - lr * g[i];
      w[i] += m[i];
    }
  }
}

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, float alpha, float beta_1, float beta_2,
                 float epsilon) {
  const float b1 = beta_1, b2 = beta_2, c1 = 1.f - beta_1, c2 = 1.f - beta_2, eps = epsilon;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + c1 * g[i];
    v[i] = b2 * v[i] + c2 * g[i] * g[i];
    w[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
  }
}

void rmsprop_update(float* w, const float* g, float* v, int64_t n, float lr, float rho, float epsilon) {
  const float c = 1.f - rho;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    v[i] = rho * v[i] + c * g[i] * g[i];
    w[i] -= lr * g[i] / std::sqrt(v[i] + epsilon);
  }
}

void adagrad_update(float* w, const float* g, float* accumulator, int64_t n, float lr, float epsilon) {
  float* a = accumulator;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    a[i] += g[i] * g[i];
    w[i] -= lr * g[i] / std::sqrt(a[i] + epsilon);
  }
}

void scale_weights(float* w, int64_t n, float factor) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] *= factor;
}

void clip_by_value(float* g, int64_t n, float limit) {
  for (int64_t i = 0; i < n; ++i) g[i] = std::clamp(g[i], -limit, limit);
}

double squared_norm(const float* g, int64_t n) {
  // No simd reduction: a fixed left-to-right order keeps the clipped gradients bit-identical
  // whatever the vector width.
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(g[i]) * g[i];
  return s;
}

void scale_gradient(float* g, int64_t n, double factor) {
  for (int64_t i = 0; i < n; ++i) g[i] = float(g[i] * factor);
}

}  // namespace myelin::kernels
