#include "kernels/cpu/normalization.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// Per-channel sums over the rows of a [rows, C] block: f(begin, end, s1, s2) adds rows [begin, end)
// into s1[C] and s2[C]. Rows are cut into one fixed chunk per thread and the chunks' partial sums are
// added in order into the last 2*C values of `scratch`, whose addresses are returned.
struct Sums {
  const double* s1;
  const double* s2;
};
template <class F>
Sums reduce_rows(int64_t rows, int64_t C, std::vector<double>& scratch, F f) {
  const int nt = rows * C < kParallelThreshold ? 1 : omp_get_max_threads();
  scratch.assign(size_t(nt + 1) * 2 * C, 0.0);  // within capacity after the first batch
  if (nt == 1) {
    f(int64_t(0), rows, scratch.data(), scratch.data() + C);
  } else {
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t begin = rows * t / n, end = rows * (t + 1) / n;
      f(begin, end, scratch.data() + size_t(t) * 2 * C, scratch.data() + size_t(t) * 2 * C + C);
    }
  }
  double* s1 = scratch.data() + size_t(nt) * 2 * C;
  double* s2 = s1 + C;
  for (int t = 0; t < nt; ++t)
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += scratch[size_t(t) * 2 * C + c];
      s2[c] += scratch[size_t(t) * 2 * C + C + c];
    }
  return {s1, s2};
}

// Runs f(r) for every row r of a [rows, C] block.
template <class F>
void for_rows(int64_t rows, int64_t C, F f) {
  parallel_for(rows, rows * C, f);
}

// ---- Per-channel sums with the partial sums in registers ----
// A loop of `s1[c] += u` per row keeps the sums in memory: each row stores them and the next loads
// them back, and that chain, not memory, set the pace (the residual CNN's first normalisation's
// statistics ran at 12 GB/s, and at 56 with the sums in registers; bench/README.md, "Batch
// normalisation's sums in registers"). sum_rows adds the same terms to each channel in the same row
// order, holding a block of channels' two sums in registers over all the rows.
constexpr int64_t kDoubleLanes = kLanes / 2;
using Doubles = double __attribute__((vector_size(kDoubleLanes * sizeof(double))));
using HalfFloats = float __attribute__((vector_size(kDoubleLanes * sizeof(float))));
using HalfInts = int32_t __attribute__((vector_size(kDoubleLanes * sizeof(int32_t))));
// Registers per sum in a block: 2 x 8 of AVX-512's 32 registers, 2 x 4 of the 16 otherwise.
constexpr int kSumVectors = kLanes == 16 ? 8 : 4;

// The terms below are written once for both widths: F is float (one channel) or HalfFloats
// (kDoubleLanes channels from c on).
template <class F>
inline F load_as(const float* p) {
  F v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// x handed over in bfloat16 (its bits as uint16_t): the float32 it stands for.
inline float value(float v) { return v; }
inline float value(uint16_t bits) { return bf16_value(bits); }
using HalfU16 = uint16_t __attribute__((vector_size(kDoubleLanes * sizeof(uint16_t))));
using HalfU32 = uint32_t __attribute__((vector_size(kDoubleLanes * sizeof(uint32_t))));
template <class F>
inline F load_as(const uint16_t* p) {
  if constexpr (std::is_same_v<F, float>) {
    return value(*p);
  } else {
    HalfU16 bits;
    std::memcpy(&bits, p, sizeof bits);
    return HalfFloats(__builtin_convertvector(bits, HalfU32) << 16);
  }
}
inline double widen(float v) { return v; }
inline Doubles widen(HalfFloats v) {
#ifdef __AVX512F__
  // One conversion where GCC splits the generic one in halves; the zero-masking form, as the plain
  // one trips GCC 12's uninitialised-value warning in its header.
  return Doubles(_mm512_maskz_cvtps_pd(__mmask8(0xFF), __m256(v)));
#else
  return __builtin_convertvector(v, Doubles);
#endif
}
// dy where v > 0, else +0: the relu's select done by keeping or clearing dy's bits, an integer `and`
// (GCC vectorised no select of float into the double sums).
inline float where_positive(float v, float dy) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(dy) & (v > 0.f ? ~0u : 0u));
}
inline HalfFloats where_positive(HalfFloats v, HalfFloats dy) { return HalfFloats(HalfInts(dy) & (v > HalfFloats{})); }

template <int kVectors, class Term>
void sum_channel_block(int64_t begin, int64_t end, int64_t c0, double* s1, double* s2, const Term& term) {
  Doubles a[kVectors], b[kVectors];
  for (int v = 0; v < kVectors; ++v) {
    std::memcpy(&a[v], s1 + c0 + v * kDoubleLanes, sizeof(Doubles));
    std::memcpy(&b[v], s2 + c0 + v * kDoubleLanes, sizeof(Doubles));
  }
  for (int64_t r = begin; r < end; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < kVectors; ++v) {
      const auto [u, w] = term(HalfFloats{}, r, c0 + v * kDoubleLanes);
      a[v] += u;
      b[v] += w;
    }
  }
  for (int v = 0; v < kVectors; ++v) {
    std::memcpy(s1 + c0 + v * kDoubleLanes, &a[v], sizeof(Doubles));
    std::memcpy(s2 + c0 + v * kDoubleLanes, &b[v], sizeof(Doubles));
  }
}

// sum_channel_block for `vectors` (0 to kVectors) vectors of channels from c0 on.
template <int kVectors, class Term>
void sum_whole_vectors(int64_t vectors, int64_t begin, int64_t end, int64_t c0, double* s1, double* s2,
                       const Term& term) {
  if constexpr (kVectors > 0) {
    if (vectors == kVectors) return sum_channel_block<kVectors>(begin, end, c0, s1, s2, term);
    sum_whole_vectors<kVectors - 1>(vectors, begin, end, c0, s1, s2, term);
  }
}

// Adds term(f, r, c) = {u, w} for rows [begin, end) of every channel c < C into s1[c] and s2[c], in
// row order: the sums of a loop over the rows adding u and w to each channel.
template <class Term>
void sum_rows(int64_t begin, int64_t end, int64_t C, double* s1, double* s2, const Term& term) {
  constexpr int64_t kBlock = kSumVectors * kDoubleLanes;
  int64_t c = 0;
  for (; c + kBlock <= C; c += kBlock) sum_channel_block<kSumVectors>(begin, end, c, s1, s2, term);
  const int64_t vectors = (C - c) / kDoubleLanes;
  sum_whole_vectors<kSumVectors - 1>(vectors, begin, end, c, s1, s2, term);
  for (c += vectors * kDoubleLanes; c < C; ++c) {  // fewer channels than a vector: one at a time
    double a = s1[c], b = s2[c];
    for (int64_t r = begin; r < end; ++r) {
      const auto [u, w] = term(0.f, r, c);
      a += u;
      b += w;
    }
    s1[c] = a;
    s2[c] = b;
  }
}
}  // namespace

namespace {
template <class X>
void statistics(const X* x, int64_t rows, int64_t C, float epsilon, float* mean, float* variance, float* inv_std,
                std::vector<double>& scratch) {
  const Sums s = reduce_rows(rows, C, scratch, [&](int64_t begin, int64_t end, double* s1, double* s2) {
    sum_rows(begin, end, C, s1, s2, [&]<class F>(F, int64_t r, int64_t c) {
      const auto v = widen(load_as<F>(x + r * C + c));
      return std::pair{v, v * v};
    });
  });
  for (int64_t c = 0; c < C; ++c) {
    const double m = s.s1[c] / rows;
    const double var = std::max(s.s2[c] / rows - m * m, 0.0);
    mean[c] = float(m);
    variance[c] = float(var);
    inv_std[c] = float(1.0 / std::sqrt(var + epsilon));
  }
}
}  // namespace

void batch_norm_statistics(const float* x, int64_t rows, int64_t C, float epsilon, float* mean, float* variance,
                           float* inv_std, std::vector<double>& scratch) {
  statistics(x, rows, C, epsilon, mean, variance, inv_std, scratch);
}
void batch_norm_statistics(const uint16_t* x_bf16, int64_t rows, int64_t C, float epsilon, float* mean,
                           float* variance, float* inv_std, std::vector<double>& scratch) {
  statistics(x_bf16, rows, C, epsilon, mean, variance, inv_std, scratch);
}

void batch_norm_update_moving(const float* mean, const float* variance, float momentum, float* moving_mean,
                              float* moving_variance, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    moving_mean[c] = moving_mean[c] * momentum + mean[c] * (1.f - momentum);
    moving_variance[c] = moving_variance[c] * momentum + variance[c] * (1.f - momentum);
  }
}

void batch_norm_inference_statistics(const float* moving_mean, const float* moving_variance, float epsilon,
                                     float* mean, float* inv_std, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = moving_mean[c];
    inv_std[c] = 1.f / std::sqrt(moving_variance[c] + epsilon);
  }
}

namespace {
// The normalised value before any relu. One definition for the forward and for the backward's relu
// mask, so that both round it alike.
template <class F>
inline F normalised(F x, F mean, F scale, F beta) {
  return (x - mean) * scale + beta;
}
}  // namespace

namespace {
template <class X, class Y>
void forward(const X* x, const float* mean, const float* inv_std, const float* gamma, const float* beta, float* scale,
             Y* y, int64_t rows, int64_t C, bool relu) {
  for (int64_t c = 0; c < C; ++c) scale[c] = gamma[c] * inv_std[c];
  for_rows(rows, C, [&](int64_t r) {
    const X* xr = x + r * C;
    Y* yr = y + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float v = normalised(value(xr[c]), mean[c], scale[c], beta[c]);
      yr[c] = stored_as<Y>(!relu || v > 0.f ? v : 0.f);  // the relu Activation's rule, NaN to 0 included
    }
  });
}
}  // namespace

void batch_norm_forward(const float* x, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, float* y, int64_t rows, int64_t C, bool relu) {
  forward(x, mean, inv_std, gamma, beta, scale, y, rows, C, relu);
}
void batch_norm_forward(const uint16_t* x_bf16, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, float* y, int64_t rows, int64_t C, bool relu) {
  forward(x_bf16, mean, inv_std, gamma, beta, scale, y, rows, C, relu);
}
void batch_norm_forward(const uint16_t* x_bf16, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, uint16_t* y_bf16, int64_t rows, int64_t C, bool relu) {
  forward(x_bf16, mean, inv_std, gamma, beta, scale, y_bf16, rows, C, relu);
}

namespace {
// batch_norm_backward with the relu's mask a compile-time choice: a test per value kept the loops
// from vectorising (the residual CNN's batch normalisations: 4x slower).
template <bool kMasked, class X, class D>
void batch_norm_backward_rows(const X* x, const float* dy, const float* relu_beta, const float* mean,
                              const float* inv_std, const float* scale, bool batch_statistics, float* dgamma,
                              float* dbeta, D* dx, int64_t rows, int64_t C, float* work,
                              std::vector<double>& scratch) {
  // dy through the fused relu: 0 where its output was 0, told from x as the forward told it (one
  // stream fewer than reading the output back: the residual CNN's first normalisation reads 13 MB
  // less a pass).
  auto grad = [&](const float* dr, const X* xr, int64_t c) {
    if constexpr (kMasked) return where_positive(normalised(value(xr[c]), mean[c], scale[c], relu_beta[c]), dr[c]);
    return dr[c];
  };
  // sum1 = sum(dy), sum2 = sum(dy * xhat) per channel: needed for the parameters' gradients and for
  // the path through the batch statistics.
  Sums s{nullptr, nullptr};
  if (batch_statistics || dgamma || dbeta) {
    s = reduce_rows(rows, C, scratch, [&](int64_t begin, int64_t end, double* s1, double* s2) {
      sum_rows(begin, end, C, s1, s2, [&]<class F>(F, int64_t r, int64_t c) {
        const F xv = load_as<F>(x + r * C + c), m = load_as<F>(mean + c);
        F g = load_as<F>(dy + r * C + c);
        if constexpr (kMasked)
          g = where_positive(normalised(xv, m, load_as<F>(scale + c), load_as<F>(relu_beta + c)), g);
        const auto gd = widen(g);
        return std::pair{gd, gd * widen((xv - m) * load_as<F>(inv_std + c))};
      });
    });
    if (dgamma)
      for (int64_t c = 0; c < C; ++c) dgamma[c] = float(s.s2[c]);
    if (dbeta)
      for (int64_t c = 0; c < C; ++c) dbeta[c] = float(s.s1[c]);
  }
  if (!batch_statistics) {
    if constexpr (!kMasked && std::is_same_v<D, float>) {
      channel_scale(dy, scale, dx, rows, C);
      return;
    }
    for_rows(rows, C, [&](int64_t r) {
      const X* xr = x + r * C;
      const float* dr = dy + r * C;
      D* out = dx + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) out[c] = stored_as<D>(grad(dr, xr, c) * scale[c]);
    });
    return;
  }
  float* mean_dy = work;            // mean(dy)
  float* mean_dy_xhat = work + C;   // mean(dy * xhat)
  for (int64_t c = 0; c < C; ++c) {
    mean_dy[c] = float(s.s1[c] / rows);
    mean_dy_xhat[c] = float(s.s2[c] / rows);
  }
  for_rows(rows, C, [&](int64_t r) {
    const X* xr = x + r * C;
    const float* dr = dy + r * C;
    D* out = dx + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = (value(xr[c]) - mean[c]) * inv_std[c];
      out[c] = stored_as<D>(scale[c] * (grad(dr, xr, c) - mean_dy[c] - xhat * mean_dy_xhat[c]));
    }
  });
}
}  // namespace

namespace {
template <class X, class D>
void backward(const X* x, const float* dy, const float* mean, const float* inv_std, const float* scale,
              bool batch_statistics, float* dgamma, float* dbeta, D* dx, int64_t rows, int64_t C, float* work,
              std::vector<double>& scratch, const float* relu_beta) {
  if (relu_beta)
    batch_norm_backward_rows<true>(x, dy, relu_beta, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx,
                                   rows, C, work, scratch);
  else
    batch_norm_backward_rows<false>(x, dy, nullptr, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx, rows,
                                    C, work, scratch);
}
}  // namespace

void batch_norm_backward(const float* x, const float* dy, const float* mean, const float* inv_std, const float* scale,
                         bool batch_statistics, float* dgamma, float* dbeta, float* dx, int64_t rows, int64_t C,
                         float* work, std::vector<double>& scratch, const float* relu_beta) {
  backward(x, dy, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx, rows, C, work, scratch, relu_beta);
}
void batch_norm_backward(const uint16_t* x_bf16, const float* dy, const float* mean, const float* inv_std,
                         const float* scale, bool batch_statistics, float* dgamma, float* dbeta, float* dx,
                         int64_t rows, int64_t C, float* work, std::vector<double>& scratch, const float* relu_beta) {
  backward(x_bf16, dy, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx, rows, C, work, scratch, relu_beta);
}
void batch_norm_backward(const uint16_t* x_bf16, const float* dy, const float* mean, const float* inv_std,
                         const float* scale, bool batch_statistics, float* dgamma, float* dbeta, uint16_t* dx_bf16,
                         int64_t rows, int64_t C, float* work, std::vector<double>& scratch, const float* relu_beta) {
  backward(x_bf16, dy, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx_bf16, rows, C, work, scratch,
           relu_beta);
}

void layer_norm_forward(const float* x, const float* gamma, const float* beta, float epsilon, float* y, float* mean,
                        float* inv_std, int64_t rows, int64_t C) {
  for_rows(rows, C, [&](int64_t r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) s += xr[c];
    const float m = float(s / double(C));
    double v = 0;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; ++c) {
      const double d = double(xr[c]) - m;
      v += d * d;
    }
    const float inv = float(1.0 / std::sqrt(v / double(C) + epsilon));
    mean[r] = m;
    inv_std[r] = inv;
    if (gamma && beta) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * inv * gamma[c] + beta[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c)
        yr[c] = (xr[c] - m) * inv * (gamma ? gamma[c] : 1.f) + (beta ? beta[c] : 0.f);
    }
  });
}

void layer_norm_backward(const float* x, const float* dy, const float* mean, const float* inv_std, const float* gamma,
                         float* dgamma, float* dbeta, float* dx, int64_t rows, int64_t C,
                         std::vector<double>& scratch) {
  if (dgamma || dbeta) {
    const Sums s = reduce_rows(rows, C, scratch, [&](int64_t begin, int64_t end, double* s1, double* s2) {
      sum_rows(begin, end, C, s1, s2, [&]<class F>(F, int64_t r, int64_t c) {
        const auto d = widen(load_as<F>(dy + r * C + c));
        return std::pair{d, d * widen((load_as<F>(x + r * C + c) - mean[r]) * inv_std[r])};
      });
    });
    if (dgamma)
      for (int64_t c = 0; c < C; ++c) dgamma[c] = float(s.s2[c]);
    if (dbeta)
      for (int64_t c = 0; c < C; ++c) dbeta[c] = float(s.s1[c]);
  }
  if (!dx) return;
  for_rows(rows, C, [&](int64_t r) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    float* out = dx + r * C;
    const float m = mean[r], inv = inv_std[r];
    // The two row means the normalisation's own statistics send back: mean(g) and mean(g * xhat).
    double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t c = 0; c < C; ++c) {
      const float g = dr[c] * (gamma ? gamma[c] : 1.f);
      sg += g;
      sgx += double(g) * ((xr[c] - m) * inv);
    }
    const float a = float(sg / double(C)), b = float(sgx / double(C));
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float g = dr[c] * (gamma ? gamma[c] : 1.f);
      out[c] = inv * (g - a - (xr[c] - m) * inv * b);
    }
  });
}

void feature_statistics(const float* x, int64_t rows, int64_t C, float* mean, float* variance) {
  std::vector<double> sum(size_t(C), 0.0), sq(size_t(C), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) sum[c] += x[r * C + c];
  for (int64_t c = 0; c < C; ++c) sum[c] /= double(rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const double d = x[r * C + c] - sum[c];
      sq[c] += d * d;
    }
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = float(sum[c]);
    variance[c] = float(sq[c] / double(rows));
  }
}

void normalization_inverse_std(const float* variance, float epsilon, float* inv_std, int64_t C) {
  for (int64_t c = 0; c < C; ++c) inv_std[c] = 1.f / std::max(std::sqrt(variance[c]), epsilon);
}

void normalization_forward(const float* x, const float* mean, const float* inv_std, float* y, int64_t rows,
                           int64_t C) {
  for_rows(rows, C, [&](int64_t r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mean[c]) * inv_std[c];
  });
}

void channel_scale(const float* dy, const float* scale, float* dx, int64_t rows, int64_t C) {
  for_rows(rows, C, [&](int64_t r) {
    const float* dr = dy + r * C;
    float* out = dx + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = dr[c] * scale[c];
  });
}

}  // namespace myelin::kernels
