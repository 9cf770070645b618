#include "kernels/cpu/pool.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// Runs f(sample) for every sample; samples write disjoint outputs, so they may run in parallel.
template <class F>
void for_each_sample(int64_t batch, int64_t elements, F f) {
  parallel_for(batch, elements, f);
}

// Runs f(sample, output row) for every output row; rows write disjoint outputs. Split by rows, a
// single image's pooling runs on both cores too, each reading the part of the input the
// convolution before it left in its own cache: the CNN's first pooling at batch 1 took 5.2 us on
// one thread inside a forward pass and 2.8 us so, the latency 48.2 -> 44.4 us (bench/README.md).
constexpr int64_t kRowParallelThreshold = 1 << 14;
template <class F>
void for_each_output_row(const Pool2DGeometry& g, int64_t elements, F f) {
  parallel_for_2d(g.batch, g.out_h, elements, f, kRowParallelThreshold);
}

// The window of output (i, j) clipped to the image: rows [r0, r1), columns [c0, c1).
struct Window {
  int64_t r0, r1, c0, c1;
};
inline Window window(const Pool2DGeometry& g, int64_t i, int64_t j) {
  const int64_t r = i * g.stride_h - g.pad_top, c = j * g.stride_w - g.pad_left;
  return {std::max<int64_t>(r, 0), std::min(r + g.pool_h, g.in_h), std::max<int64_t>(c, 0), std::min(c + g.pool_w, g.in_w)};
}
}  // namespace

namespace {
// The maximum of one window and its winners for `lanes` (1..kLanes) channels from k0 on, kept in
// registers over the window's pixels: a loop per pixel over y and argmax in memory stored and
// reloaded both at every pixel (0.62 ms for the residual CNN's stem pooling at batch 128, against
// 0.35 ms without the winners; bench/README.md, "Max pooling's winners in registers").
inline void window_max(const Pool2DGeometry& g, const Window& w, const float* xs, int64_t k0, int64_t lanes,
                       float* yr, int32_t* ar) {
  const int64_t C = g.channels;
  const Ints lane = lane_indices();
  const int32_t first = static_cast<int32_t>((w.r0 * g.in_w + w.c0) * C + k0);
  Floats best = load_first(xs + first, lanes, 0.f);
  Ints winner = first + lane;
  for (int64_t r = w.r0; r < w.r1; ++r)
    for (int64_t c = (r == w.r0 ? w.c0 + 1 : w.c0); c < w.c1; ++c) {
      const int32_t base = static_cast<int32_t>((r * g.in_w + c) * C + k0);
      const Floats v = load_first(xs + base, lanes, 0.f);
      // Strictly greater: the first maximum in scan order wins a tie (and a NaN never does).
      const Ints gt = v > best;
      best = gt ? v : best;
      winner = gt ? base + lane : winner;
    }
  store_first(yr + k0, lanes, best);
  Floats winner_bits;
  std::memcpy(&winner_bits, &winner, sizeof winner);
  store_first(reinterpret_cast<float*>(ar + k0), lanes, winner_bits);
}
}  // namespace

void max_pool_forward(const Pool2DGeometry& g, const float* x, float* y, int32_t* argmax) {
  const int64_t C = g.channels, in_size = g.in_h * g.in_w * C, out_size = g.out_h * g.out_w * C;
  for_each_output_row(g, g.batch * in_size, [&](int64_t n, int64_t i) {
    const float* xs = x + n * in_size;
    for (int64_t j = 0; j < g.out_w; ++j) {
      float* yr = y + n * out_size + (i * g.out_w + j) * C;
      // Windows always hold at least one pixel of the image; the first one starts the maximum.
      const Window w = window(g, i, j);
      if (argmax) {
        int32_t* ar = argmax + n * out_size + (i * g.out_w + j) * C;
        for (int64_t k0 = 0; k0 < C; k0 += kLanes) window_max(g, w, xs, k0, std::min(kLanes, C - k0), yr, ar);
        continue;
      }
      const int32_t first = static_cast<int32_t>((w.r0 * g.in_w + w.c0) * C);
      std::copy(xs + first, xs + first + C, yr);
      for (int64_t r = w.r0; r < w.r1; ++r)
        for (int64_t c = (r == w.r0 ? w.c0 + 1 : w.c0); c < w.c1; ++c) {
          const float* xr = xs + (r * g.in_w + c) * C;
          // Selects rather than branches, so the channels vectorise: the CNN's first pooling at
          // batch 1 took 4.7 us with a branch per channel, 2.9 us so (bench/README.md); at batch
          // 128 it is bound by reading its 11 MB input (0.37 ms).
#pragma omp simd
          for (int64_t k = 0; k < C; ++k) yr[k] = xr[k] > yr[k] ? xr[k] : yr[k];
        }
    }
  });
}

void max_pool_backward(const Pool2DGeometry& g, const float* dy, const int32_t* argmax, float* dx, const float* y) {
  const int64_t C = g.channels, in_size = g.in_h * g.in_w * C, out_size = g.out_h * g.out_w * C;
  // Windows that tile the image exactly (2x2 at stride 2 on an even size, no padding): every input
  // pixel lies in one window, and each window's pixels are written once, its winner's gradient or
  // 0, in one pass instead of zeroing dx and adding into it.
  const bool tiles = g.pad_top == 0 && g.pad_left == 0 && g.stride_h == g.pool_h && g.stride_w == g.pool_w &&
                     g.out_h * g.pool_h == g.in_h && g.out_w * g.pool_w == g.in_w;
  if (tiles) {
    const Ints lane = lane_indices();
    for_each_output_row(g, g.batch * in_size, [&](int64_t n, int64_t i) {
      float* dxs = dx + n * in_size;
      for (int64_t j = 0; j < g.out_w; ++j)
        for (int64_t k0 = 0; k0 < C; k0 += kLanes) {
          const int64_t o = n * out_size + (i * g.out_w + j) * C + k0, lanes = std::min(kLanes, C - k0);
          Floats grad = load_first(dy + o, lanes, 0.f);
          if (y) grad = load_first(y + o, lanes, 0.f) > 0.f ? grad : 0.f;
          Ints winner;
          const Floats winner_bits = load_first(reinterpret_cast<const float*>(argmax + o), lanes, 0.f);
          std::memcpy(&winner, &winner_bits, sizeof winner);
          for (int64_t r = i * g.pool_h; r < (i + 1) * g.pool_h; ++r)
            for (int64_t c = j * g.pool_w; c < (j + 1) * g.pool_w; ++c) {
              const int32_t base = static_cast<int32_t>((r * g.in_w + c) * C + k0);
              store_first(dxs + base, lanes, winner == base + lane ? grad : 0.f);
            }
        }
    });
    return;
  }
  for_each_sample(g.batch, g.batch * in_size, [&](int64_t n) {
    float* dxs = dx + n * in_size;
    std::memset(dxs, 0, in_size * sizeof(float));
    const float* dys = dy + n * out_size;
    const int32_t* as = argmax + n * out_size;
    if (y) {
      const float* ys = y + n * out_size;
      for (int64_t k = 0; k < out_size; ++k) dxs[as[k]] += ys[k] > 0.f ? dys[k] : 0.f;  // no branch to mispredict
    } else {
      for (int64_t k = 0; k < out_size; ++k) dxs[as[k]] += dys[k];
    }
  });
}

void avg_pool_forward(const Pool2DGeometry& g, const float* x, float* y) {
  const int64_t C = g.channels, in_size = g.in_h * g.in_w * C, out_size = g.out_h * g.out_w * C;
  for_each_sample(g.batch, g.batch * in_size, [&](int64_t n) {
    const float* xs = x + n * in_size;
    for (int64_t i = 0; i < g.out_h; ++i)
      for (int64_t j = 0; j < g.out_w; ++j) {
        float* yr = y + n * out_size + (i * g.out_w + j) * C;
        std::fill(yr, yr + C, 0.f);
        const Window w = window(g, i, j);
        for (int64_t r = w.r0; r < w.r1; ++r)
          for (int64_t c = w.c0; c < w.c1; ++c) {
            const float* xr = xs + (r * g.in_w + c) * C;
#pragma omp simd
            for (int64_t k = 0; k < C; ++k) yr[k] += xr[k];
          }
        const float inv = 1.f / float((w.r1 - w.r0) * (w.c1 - w.c0));
        for (int64_t k = 0; k < C; ++k) yr[k] *= inv;
      }
  });
}

void avg_pool_backward(const Pool2DGeometry& g, const float* dy, float* dx) {
  const int64_t C = g.channels, in_size = g.in_h * g.in_w * C, out_size = g.out_h * g.out_w * C;
  for_each_sample(g.batch, g.batch * in_size, [&](int64_t n) {
    float* dxs = dx + n * in_size;
    std::memset(dxs, 0, in_size * sizeof(float));
    for (int64_t i = 0; i < g.out_h; ++i)
      for (int64_t j = 0; j < g.out_w; ++j) {
        const float* dyr = dy + n * out_size + (i * g.out_w + j) * C;
        const Window w = window(g, i, j);
        const float inv = 1.f / float((w.r1 - w.r0) * (w.c1 - w.c0));
        for (int64_t r = w.r0; r < w.r1; ++r)
          for (int64_t c = w.c0; c < w.c1; ++c) {
            float* dxr = dxs + (r * g.in_w + c) * C;
#pragma omp simd
            for (int64_t k = 0; k < C; ++k) dxr[k] += dyr[k] * inv;
          }
      }
  });
}

void global_avg_pool_forward(int64_t batch, int64_t hw, int64_t channels, const float* x, float* y) {
  for_each_sample(batch, batch * hw * channels, [&](int64_t n) {
    float* yr = y + n * channels;
    std::fill(yr, yr + channels, 0.f);
    for (int64_t p = 0; p < hw; ++p) {
      const float* xr = x + (n * hw + p) * channels;
#pragma omp simd
      for (int64_t k = 0; k < channels; ++k) yr[k] += xr[k];
    }
    const float inv = 1.f / float(hw);
    for (int64_t k = 0; k < channels; ++k) yr[k] *= inv;
  });
}

void global_avg_pool_backward(int64_t batch, int64_t hw, int64_t channels, const float* dy, float* dx) {
  const float inv = 1.f / float(hw);
  for_each_sample(batch, batch * hw * channels, [&](int64_t n) {
    const float* dyr = dy + n * channels;
    for (int64_t p = 0; p < hw; ++p) {
      float* dxr = dx + (n * hw + p) * channels;
#pragma omp simd
      for (int64_t k = 0; k < channels; ++k) dxr[k] = dyr[k] * inv;
    }
  });
}

namespace {
// 1 / (unmasked positions of sample n), or 0 when there are none.
float masked_inverse_count(const float* mask, int64_t n, int64_t hw) {
  float count = 0.f;
  for (int64_t p = 0; p < hw; ++p) count += mask[n * hw + p];
  return count > 0.f ? 1.f / count : 0.f;
}
}  // namespace

void global_avg_pool_masked_forward(int64_t batch, int64_t hw, int64_t channels, const float* x, const float* mask,
                                    float* y) {
  for_each_sample(batch, batch * hw * channels, [&](int64_t n) {
    const float inv = masked_inverse_count(mask, n, hw);
    float* yr = y + n * channels;
    std::fill(yr, yr + channels, 0.f);
    for (int64_t p = 0; p < hw; ++p) {
      const float w = mask[n * hw + p] * inv;
      if (w == 0.f) continue;
      const float* xr = x + (n * hw + p) * channels;
#pragma omp simd
      for (int64_t k = 0; k < channels; ++k) yr[k] += w * xr[k];
    }
  });
}

void global_avg_pool_masked_backward(int64_t batch, int64_t hw, int64_t channels, const float* dy, const float* mask,
                                     float* dx) {
  for_each_sample(batch, batch * hw * channels, [&](int64_t n) {
    const float inv = masked_inverse_count(mask, n, hw);
    const float* dyr = dy + n * channels;
    for (int64_t p = 0; p < hw; ++p) {
      const float w = mask[n * hw + p] * inv;
      float* dxr = dx + (n * hw + p) * channels;
#pragma omp simd
      for (int64_t k = 0; k < channels; ++k) dxr[k] = dyr[k] * w;
    }
  });
}

void global_max_pool_forward(int64_t batch, int64_t hw, int64_t channels, const float* x, float* y, int32_t* argmax) {
  for_each_sample(batch, batch * hw * channels, [&](int64_t n) {
    float* yr = y + n * channels;
    int32_t* ar = argmax + n * channels;
    const float* xs = x + n * hw * channels;
    std::copy(xs, xs + channels, yr);
    for (int64_t k = 0; k < channels; ++k) ar[k] = static_cast<int32_t>(k);
    for (int64_t p = 1; p < hw; ++p) {
      const float* xr = xs + p * channels;
      for (int64_t k = 0; k < channels; ++k)
        if (xr[k] > yr[k]) {
          yr[k] = xr[k];
          ar[k] = static_cast<int32_t>(p * channels + k);
        }
    }
  });
}

void global_max_pool_backward(int64_t batch, int64_t hw, int64_t channels, const float* dy, const int32_t* argmax,
                              float* dx) {
  for_each_sample(batch, batch * hw * channels, [&](int64_t n) {
    float* dxs = dx + n * hw * channels;
    std::memset(dxs, 0, hw * channels * sizeof(float));
    for (int64_t k = 0; k < channels; ++k) dxs[argmax[n * channels + k]] += dy[n * channels + k];
  });
}

}  // namespace myelin::kernels
