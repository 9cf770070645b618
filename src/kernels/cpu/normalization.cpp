#include "kernels/cpu/normalization.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

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
}  // namespace

void batch_norm_statistics(const float* x, int64_t rows, int64_t C, float epsilon, float* mean, float* variance,
                           float* inv_std, std::vector<double>& scratch) {
  const Sums s = reduce_rows(rows, C, scratch, [&](int64_t begin, int64_t end, double* s1, double* s2) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        s1[c] += xr[c];
        s2[c] += double(xr[c]) * xr[c];
      }
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    const double m = s.s1[c] / rows;
    const double var = std::max(s.s2[c] / rows - m * m, 0.0);
    mean[c] = float(m);
    variance[c] = float(var);
    inv_std[c] = float(1.0 / std::sqrt(var + epsilon));
  }
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
inline float normalised(float x, float mean, float scale, float beta) { return (x - mean) * scale + beta; }
}  // namespace

void batch_norm_forward(const float* x, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, float* y, int64_t rows, int64_t C, bool relu) {
  for (int64_t c = 0; c < C; ++c) scale[c] = gamma[c] * inv_std[c];
  for_rows(rows, C, [&](int64_t r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float v = normalised(xr[c], mean[c], scale[c], beta[c]);
      yr[c] = !relu || v > 0.f ? v : 0.f;  // the relu Activation's rule, NaN to 0 included
    }
  });
}

namespace {
// batch_norm_backward with the relu's mask a compile-time choice: a test per value kept the loops
// from vectorising (the residual CNN's batch normalisations: 4x slower).
template <bool kMasked>
void batch_norm_backward_rows(const float* x, const float* dy, const float* relu_beta, const float* mean,
                              const float* inv_std, const float* scale, bool batch_statistics, float* dgamma,
                              float* dbeta, float* dx, int64_t rows, int64_t C, float* work,
                              std::vector<double>& scratch) {
  // dy through the fused relu: 0 where its output was 0, told from x as the forward told it (one
  // stream fewer than reading the output back: the residual CNN's first normalisation reads 13 MB
  // less a pass).
  auto grad = [&](const float* dr, const float* xr, int64_t c) {
    if constexpr (kMasked) {
      // dy's bits kept or cleared (+0), the relu's select: GCC vectorises no select of float
      // into these double sums.
      const uint32_t keep = normalised(xr[c], mean[c], scale[c], relu_beta[c]) > 0.f ? ~0u : 0u;
      return std::bit_cast<float>(std::bit_cast<uint32_t>(dr[c]) & keep);
    }
    return dr[c];
  };
  // sum1 = sum(dy), sum2 = sum(dy * xhat) per channel: needed for the parameters' gradients and for
  // the path through the batch statistics.
  Sums s{nullptr, nullptr};
  if (batch_statistics || dgamma || dbeta) {
    s = reduce_rows(rows, C, scratch, [&](int64_t begin, int64_t end, double* s1, double* s2) {
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = x + r * C;
        const float* dr = dy + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const float g = grad(dr, xr, c);
          s1[c] += g;
          s2[c] += double(g) * ((xr[c] - mean[c]) * inv_std[c]);
        }
      }
    });
    if (dgamma)
      for (int64_t c = 0; c < C; ++c) dgamma[c] = float(s.s2[c]);
    if (dbeta)
      for (int64_t c = 0; c < C; ++c) dbeta[c] = float(s.s1[c]);
  }
  if (!batch_statistics) {
    if (!kMasked) {
      channel_scale(dy, scale, dx, rows, C);
      return;
    }
    for_rows(rows, C, [&](int64_t r) {
      const float* xr = x + r * C;
      const float* dr = dy + r * C;
      float* out = dx + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) out[c] = grad(dr, xr, c) * scale[c];
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
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    float* out = dx + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = (xr[c] - mean[c]) * inv_std[c];
      out[c] = scale[c] * (grad(dr, xr, c) - mean_dy[c] - xhat * mean_dy_xhat[c]);
    }
  });
}
}  // namespace

void batch_norm_backward(const float* x, const float* dy, const float* mean, const float* inv_std, const float* scale,
                         bool batch_statistics, float* dgamma, float* dbeta, float* dx, int64_t rows, int64_t C,
                         float* work, std::vector<double>& scratch, const float* relu_beta) {
  if (relu_beta)
    batch_norm_backward_rows<true>(x, dy, relu_beta, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx,
                                   rows, C, work, scratch);
  else
    batch_norm_backward_rows<false>(x, dy, nullptr, mean, inv_std, scale, batch_statistics, dgamma, dbeta, dx, rows,
                                    C, work, scratch);
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
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = x + r * C;
        const float* dr = dy + r * C;
        const float m = mean[r], inv = inv_std[r];
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          s1[c] += dr[c];
          s2[c] += double(dr[c]) * ((xr[c] - m) * inv);
        }
      }
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
