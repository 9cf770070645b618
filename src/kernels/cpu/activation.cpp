#include "kernels/cpu/activation.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/activation_lanes.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/exp.hpp"
#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/softmax_lanes.hpp"
#include "myelin/error.hpp"

namespace myelin::kernels {

namespace {
constexpr float kLeakySlope = 0.2f;
constexpr float kEluAlpha = 1.0f;

// Runs f(offset, count) over a [rows, cols] block: one call per row where the row matters (softmax
// runs along it, a bias repeats with it), else long spans of the flat block, since an elementwise
// activation ignores rows, and a call per 32-channel row of a convolution's output cost more than
// the row's arithmetic.
// threshold: the values a call needs before it takes the threads (parallel.hpp).
constexpr int64_t kSpan = 1 << 14;
template <class F>
void map_spans(bool by_row, int64_t rows, int64_t cols, F f, int64_t threshold = kParallelThreshold) {
  if (by_row) {
    parallel_for(rows, rows * cols, [&](int64_t r) { f(r * cols, cols); }, threshold);
    return;
  }
  const int64_t n = rows * cols;
  parallel_for(
      (n + kSpan - 1) / kSpan, n, [&](int64_t s) { f(s * kSpan, std::min(kSpan, n - s * kSpan)); }, threshold);
}

// The threads' threshold for an activation's forward pass. Softmax costs 3-5 ns a value against
// relu's 0.3, so it is worth the threads at a sixteenth of the values: the seed MLP's softmax over
// 1024 rows of 10 classes took 50 us on one thread (bench/README.md, "Transcendental activations on
// the threads"). Sigmoid, tanh and swish in vector lanes cost 0.7-1.6 ns: at 2,048 values two
// threads gained nothing, at 4,096 they took 0.8 against 1 (bench/README.md, "Dense's sigmoid, tanh
// and swish in vectors"); GELU, ELU and softplus in lanes cost 1.1-2.2 ns and take the same rule.
int64_t forward_threshold(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::Linear:
    case ActivationKind::ReLU:
    case ActivationKind::LeakyReLU:
      return kParallelThreshold;
    case ActivationKind::Sigmoid:
    case ActivationKind::Tanh:
    case ActivationKind::Swish:
    case ActivationKind::GELU:
    case ActivationKind::ELU:
    case ActivationKind::Softplus:
      return kParallelThreshold / 8;
    default:
      return kParallelThreshold / 16;
  }
}

}  // namespace

namespace {
// The row's maximum m of z + bias and the sum of exp(z + bias - m); y = exp(z + bias - m) / sum
// when y is set. bias may be null. The exps are summed in double lanes, so that the log-sum-exp a
// cross-entropy reports keeps its digits over many classes, and across the lanes once a row: a
// vector's own sum, added to a double a vector at a time, made rows of 128 (the Transformer's
// attention) 9 % slower (bench/README.md, "Partial stores without vmaskmovps, and the softmax's sum
// in double lanes"). A NaN anywhere in the row reaches the sum, so the whole row comes out NaN. The
// lanes past the row's end hold -inf, whose exp is 0.
struct ExpSum {
  float max;
  double sum;
};
ExpSum softmax_parts(const float* z, const float* bias, float* y, int64_t n) {
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
  auto shifted = [&](int64_t i, int64_t count) {
    const Floats v = load_first(z + i, count, kMinusInf);
    return bias ? v + load_first(bias + i, count, 0.f) : v;
  };
  if (n <= kLanes) {  // one vector, held in a register from the load to the scaled store
    const SoftmaxLanes row = softmax_lanes(shifted(0, n));
    if (y) store_first(y, n, row.probabilities);
    return {row.max, row.sum};
  }
  Floats most = Floats{} + kMinusInf;
  for (int64_t i = 0; i < n; i += kLanes) {
    const Floats v = shifted(i, std::min(kLanes, n - i));
    most = v > most ? v : most;
  }
  const float m = max_lanes(most);
  Doubles sums{};
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t count = std::min(kLanes, n - i);
    const Floats e = exp_lanes(shifted(i, count) - m);
    sums += widened_pairs(e);
    if (y) store_first(y + i, count, e);
  }
  const double s = sum_lanes(sums);
  if (y) {
    const float inv = float(1.0 / s);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
  return {m, s};
}
}  // namespace

double softmax_row(const float* z, float* y, int64_t n) {
  const ExpSum parts = softmax_parts(z, nullptr, y, n);
  return double(parts.max) + std::log(parts.sum);
}

bool activation_needs_preactivation(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::ELU:  // y + alpha is exact only for alpha=1; keep z to be safe
    case ActivationKind::GELU:
    case ActivationKind::Softplus:
    case ActivationKind::Swish:
    case ActivationKind::LeakyReLU:
      return true;
    default:
      return false;
  }
}

void bias_activation_forward(ActivationKind kind, const float* x, const float* bias, float* z, float* y,
                             int64_t rows, int64_t cols) {
  map_spans(kind == ActivationKind::Softmax || bias, rows, cols, [&](int64_t o, int64_t count) {
    const float* xr = x + o;
    float* yr = y + o;
    float* zr = z ? z + o : nullptr;
    if (kind == ActivationKind::Softmax && !zr) {
      // The bias is added in the softmax's registers: a row stored by one pass and reloaded whole
      // by the next waits for the store to reach the cache.
      softmax_parts(xr, bias, yr, count);
      return;
    }
    // Pass 1, with a bias: z = x + b (into z if kept, else straight into y). Without one, z is x,
    // copied only when kept, and y is computed from x directly.
    const float* pre = xr;
    if (bias) {
      float* sum = zr ? zr : yr;
#pragma omp simd
      for (int64_t c = 0; c < count; ++c) sum[c] = xr[c] + bias[c];
      pre = sum;
    } else if (zr && zr != xr) {
      std::memcpy(zr, xr, count * sizeof(float));
    }
    // Pass 2: y = act(z), on data still in cache.
    switch (kind) {
      case ActivationKind::Linear:
        if (pre != yr) std::memcpy(yr, pre, count * sizeof(float));
        break;
      case ActivationKind::ReLU:
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) yr[c] = pre[c] > 0.f ? pre[c] : 0.f;
        break;
      case ActivationKind::Sigmoid:
        map_lanes(pre, yr, count, [](Floats x) { return sigmoid_lanes(x); });
        break;
      case ActivationKind::Tanh:
        map_lanes(pre, yr, count, [](Floats x) { return tanh_lanes(x); });
        break;
      case ActivationKind::Softmax:
        softmax_row(pre, yr, count);
        break;
      case ActivationKind::LeakyReLU:
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) yr[c] = pre[c] > 0.f ? pre[c] : kLeakySlope * pre[c];
        break;
      case ActivationKind::ELU:
        map_lanes(pre, yr, count, [](Floats x) { return x > 0.f ? x : kEluAlpha * expm1_lanes(x); });
        break;
      case ActivationKind::GELU:
        map_lanes(pre, yr, count, [](Floats x) { return gelu_lanes(x); });
        break;
      case ActivationKind::Softplus:
        map_lanes(pre, yr, count, [](Floats x) { return softplus_lanes(x); });
        break;
      case ActivationKind::Swish:
        map_lanes(pre, yr, count, [](Floats x) { return x * sigmoid_lanes(x); });
        break;
    }
  }, forward_threshold(kind));
}

void activation_backward(ActivationKind kind, const float* dy, const float* y, const float* z, float* dz,
                         int64_t rows, int64_t cols) {
  if (activation_needs_preactivation(kind) && !z)
    throw Error("activation_backward: " + activation_name(kind) + " needs the pre-activation");
  map_spans(kind == ActivationKind::Softmax, rows, cols, [&](int64_t o, int64_t count) {
    const float* g = dy + o;
    const float* yr = y + o;
    const float* zr = z ? z + o : nullptr;
    float* d = dz + o;
    switch (kind) {
      case ActivationKind::Linear:
        if (d != g) std::memcpy(d, g, count * sizeof(float));
        break;
      case ActivationKind::ReLU:
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) d[c] = yr[c] > 0.f ? g[c] : 0.f;
        break;
      case ActivationKind::Sigmoid:
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) d[c] = g[c] * yr[c] * (1.f - yr[c]);
        break;
      case ActivationKind::Tanh:
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) d[c] = g[c] * (1.f - yr[c] * yr[c]);
        break;
      case ActivationKind::Softmax: {
        // Jacobian-vector product: dz = y * (dy - <dy, y>). The dot product in vector lanes: in order,
        // one value after another, it took a twentieth of the Transformer's training step (each
        // attention head's rows of 128 scores).
        float dot = 0.f;
#pragma omp simd reduction(+ : dot)
        for (int64_t c = 0; c < count; ++c) dot += g[c] * yr[c];
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) d[c] = yr[c] * (g[c] - dot);
        break;
      }
      case ActivationKind::LeakyReLU:
#pragma omp simd
        for (int64_t c = 0; c < count; ++c) d[c] = zr[c] > 0.f ? g[c] : kLeakySlope * g[c];
        break;
      case ActivationKind::ELU:
        map_lanes(g, zr, d, count,
                  [](Floats gv, Floats zv) { return zv > 0.f ? gv : gv * kEluAlpha * exp_lanes(zv); });
        break;
      case ActivationKind::GELU:
        // d/dx x Phi(x) = Phi(x) + x phi(x), phi the normal density e^(-x^2/2) / sqrt(2 pi).
        map_lanes(g, zr, d, count, [](Floats gv, Floats zv) {
          const Floats density = exp_lanes(-0.5f * (zv * zv)) * 0.3989422804014327f;
          return gv * (normal_cdf_lanes(zv) + zv * density);
        });
        break;
      case ActivationKind::Softplus:
        map_lanes(g, zr, d, count, [](Floats gv, Floats zv) { return gv * sigmoid_lanes(zv); });
        break;
      case ActivationKind::Swish:
        map_lanes(g, zr, d, count, [](Floats gv, Floats zv) {
          const Floats s = sigmoid_lanes(zv);
          return gv * (s + zv * s * (1.f - s));
        });
        break;
    }
  });
}

void column_sums(const float* x, float* out, int64_t rows, int64_t cols) {
  std::memset(out, 0, cols * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) out[c] += xr[c];
  }
}

void relu_backward(const float* dy, const uint16_t* y_bf16, float* dx, int64_t n) {
  // In vectors: GCC left the plain loop's select scalar, 4x slower than the float32 mask.
  using Halves = uint16_t __attribute__((vector_size(kLanes * sizeof(uint16_t))));
  using Words = uint32_t __attribute__((vector_size(kLanes * sizeof(uint32_t))));
  parallel_for((n + kSpan - 1) / kSpan, 3 * n, [&](int64_t span) {
    const int64_t begin = span * kSpan, end = std::min(n, begin + kSpan);
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      Halves bits;
      std::memcpy(&bits, y_bf16 + i, sizeof bits);
      const Floats y = Floats(__builtin_convertvector(bits, Words) << 16);
      store(dx + i, y > 0.f ? load(dy + i) : Floats{});
    }
    for (; i < end; ++i) dx[i] = bf16_value(y_bf16[i]) > 0.f ? dy[i] : 0.f;
  });
}

}  // namespace myelin::kernels
