#include "kernels/cpu/optimizer.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/side_core.hpp"
#include "kernels/cpu/subnormals.hpp"

namespace myelin::kernels {

// The update loops are element-wise and independent: `omp simd` vectorises them, sqrt included
// (the library builds with -fno-math-errno). They run on the calling thread; those that take a square
// root and a division a value share a large tensor with the side core lent during fit, if any.

namespace {

// From this many values a square root and a division a value repay a side core's hand-over (a
// microsecond or two): Adam took 10.5 us over the seed MLP's first kernel, 25,088 values, on one Zen 3
// core, so half of 8,192 saves about what the hand-over costs (bench/README.md, "The optimizer's update
// on the side core").
constexpr int64_t kSideCoreValues = 8192;

// Runs update(begin, end) over [0, n): the second half on the side core lent to this thread, if it
// serves it in time (side_core.hpp), in this thread's subnormal mode. The halves meet at a multiple of
// 16 values, a cache line's boundary in a Tensor (64-byte aligned). Each value's update is the same
// whichever thread runs it.
template <class Update>
void update_sharing_side_core(int64_t n, Update&& update) {
  SideCore* side = n >= kSideCoreValues && omp_get_max_threads() == 1 ? lent_side_core() : nullptr;
  if (!side) return update(int64_t(0), n);
  constexpr int64_t kLine = 64 / sizeof(float);
  const int64_t half = n / 2 / kLine * kLine;
  const unsigned mode = subnormal_mode();
  side->split([&] { update(int64_t(0), half); },
              [&] {
                const SubnormalsAs same(mode);
                update(half, n);
              });
}

}  // namespace

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
  update_sharing_side_core(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      m[i] = b1 * m[i] + c1 * g[i];
      v[i] = b2 * v[i] + c2 * g[i] * g[i];
      w[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
    }
  });
}

void rmsprop_update(float* w, const float* g, float* v, int64_t n, float lr, float rho, float epsilon) {
  const float c = 1.f - rho;
  update_sharing_side_core(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      v[i] = rho * v[i] + c * g[i] * g[i];
      w[i] -= lr * g[i] / std::sqrt(v[i] + epsilon);
    }
  });
}

void adagrad_update(float* w, const float* g, float* accumulator, int64_t n, float lr, float epsilon) {
  float* a = accumulator;
  update_sharing_side_core(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      a[i] += g[i] * g[i];
      w[i] -= lr * g[i] / std::sqrt(a[i] + epsilon);
    }
  });
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
