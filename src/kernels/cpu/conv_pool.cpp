#include "kernels/cpu/conv_pool.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// Filters per block: one vector of kLanes (lanes.hpp). Vector types rather than loops over a
// block: as arrays, the four window sums lived in memory and each multiply-add waited for the last
// one's store (5 ms a batch of 128 where registers take 0.57).
int64_t padded_filters(int64_t filters) { return (filters + kLanes - 1) / kLanes * kLanes; }

// Runs f(value of window 0, 1, 2, 3, k) for every kernel row k (over kernel row, kernel column,
// channel, as the kernel's rows), where `at` is the first input of pooled output (i, j)'s first
// window; window w = 2 * row + column in the pooling window. Read in place with the addresses
// computed: copying each patch (a library call per three floats) or reading offsets from a table
// cost more than the arithmetic. KH, KW and C are the kernel's shape when known at compile time
// (0: read from g), so that the common shapes' taps unroll whole.
template <int KH, int KW, int C, class F>
[[gnu::always_inline]] inline void for_each_tap(const ConvPoolGeometry& g, const float* at, F f) {
  const int64_t kh = KH ? KH : g.kernel_h, kw = KW ? KW : g.kernel_w, c_in = C ? C : g.in_c;
  const int64_t row = g.in_w * c_in;
  int64_t k = 0;
  for (int64_t r = 0; r < kh; ++r) {
    const float* top = at + r * row;
    const float* bottom = top + row;
    for (int64_t c = 0; c < kw * c_in; ++c, ++k) f(top[c], top[c + c_in], bottom[c], bottom[c + c_in], k);
  }
}

// The arithmetic of either pass per call: when it is worth the threads.
int64_t work(const ConvPoolGeometry& g) {
  return g.batch * g.pooled_h() * g.pooled_w() * g.filters * g.kernel_h * g.kernel_w * g.in_c;
}

// Pooled output o's filters [f0, f0 + kLanes * B) from their four windows' sums: relu of the maximum,
// and which window won. B blocks at once share each input's load.
template <int B>
[[gnu::always_inline]] inline void pool_block(const Floats (&sum)[4][B], int64_t F, int64_t f0, int64_t o, float* y,
                                              uint8_t* winner) {
  for (int q = 0; q < B; ++q) {
    // The maximum of the raw sums is relu's maximum whenever it is positive; where it is not, the
    // output is 0 and its winner passes no gradient. Strictly greater: the first in scan order
    // wins a tie, and a NaN never wins (as MaxPooling2D).
    Floats best = sum[0][q];
    Ints won{};
    for (int p = 1; p < 4; ++p) {
      const Ints gt = sum[p][q] > best;
      best = gt ? sum[p][q] : best;
      won = gt ? p : won;
    }
    // best * 0 rather than 0: a NaN stays NaN, as relu's oneDNN post-op leaves it.
    const Floats out = best > 0.f ? best : best * 0.f;
    const int64_t at = f0 + q * kLanes, lanes = std::min(kLanes, F - at);  // >= 1: Fp pads by less than a block
    const Bytes won_bytes = __builtin_convertvector(won, Bytes);
    if (lanes == kLanes) {
      store(y + o + at, out);
      if (winner) std::memcpy(winner + o + at, &won_bytes, kLanes);
    } else {
      for (int64_t l = 0; l < lanes; ++l) y[o + at + l] = out[l];
      if (winner)
        for (int64_t l = 0; l < lanes; ++l) winner[o + at + l] = won_bytes[l];
    }
  }
}

template <int B, int KH, int KW, int C>
[[gnu::always_inline]] inline void forward_blocks(const ConvPoolGeometry& g, const float* at, const float* w,
                                                  const float* b, int64_t Fp, int64_t f0, int64_t o, float* y,
                                                  uint8_t* winner) {
  Floats sum[4][B];
  for (int q = 0; q < B; ++q) sum[0][q] = sum[1][q] = sum[2][q] = sum[3][q] = load(b + f0 + q * kLanes);
  for_each_tap<KH, KW, C>(g, at, [&](float v0, float v1, float v2, float v3, int64_t k) {
    for (int q = 0; q < B; ++q) {
      Floats wk = load(w + k * Fp + f0 + q * kLanes);
      // In a register: left to itself GCC reads it from memory again in each of the four
      // multiply-adds, 12 loads for 8 multiply-adds a tap (bench/README.md, "The fused first
      // convolution's weights in registers").
      asm("" : "+v"(wk));
      sum[0][q] += v0 * wk;
      sum[1][q] += v1 * wk;
      sum[2][q] += v2 * wk;
      sum[3][q] += v3 * wk;
    }
  });
  pool_block<B>(sum, g.filters, f0, o, y, winner);
}

// Adds pooled output o's gradients for filters [f0, f0 + kLanes * B) into acc[K][Fp] and acc_bias.
template <int B>
inline void backward_blocks(const ConvPoolGeometry& g, const float* at, const float* y, const uint8_t* winner,
                            const float* dy, int64_t Fp, int64_t f0, int64_t o, float* acc, float* acc_bias) {
  Floats split[4][B];  // the relu-masked gradient split by winning window: each filter's goes to one
  for (int q = 0; q < B; ++q) {
    const int64_t first = f0 + q * kLanes, lanes = std::min(kLanes, g.filters - first);
    Floats grad{}, out{};
    Bytes won_bytes{};
    if (lanes == kLanes) {
      grad = load(dy + o + first);
      out = load(y + o + first);
      std::memcpy(&won_bytes, winner + o + first, kLanes);
    } else {
      for (int64_t l = 0; l < lanes; ++l) {
        grad[l] = dy[o + first + l];
        out[l] = y[o + first + l];
        won_bytes[l] = winner[o + first + l];
      }
    }
    const Ints won = __builtin_convertvector(won_bytes, Ints);
    grad = out > 0.f ? grad : 0.f;  // relu's gradient
    for (int p = 0; p < 4; ++p) split[p][q] = won == p ? grad : 0.f;
    store(acc_bias + first, load(acc_bias + first) + grad);
  }
  for_each_tap<0, 0, 0>(g, at, [&](float v0, float v1, float v2, float v3, int64_t k) {
    for (int q = 0; q < B; ++q) {
      float* ak = acc + k * Fp + f0 + q * kLanes;
      store(ak, load(ak) + v0 * split[0][q] + v1 * split[1][q] + v2 * split[2][q] + v3 * split[3][q]);
    }
  });
}
}  // namespace

ConvPoolGeometry ConvReluMaxPoolKernel::pad(const ConvPoolGeometry& g, const float*& x) {
  if (g.pad_top == 0 && g.pad_bottom == 0 && g.pad_left == 0 && g.pad_right == 0) return g;
  // A copy with the border in place keeps the window loops free of bounds tests; a first layer's
  // input is a small fraction of its convolution's output (one channel against 32 filters).
  ConvPoolGeometry p = g;
  p.in_h = g.padded_h();
  p.in_w = g.padded_w();
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 0;
  const int64_t row = g.in_w * g.in_c, padded_row = p.in_w * g.in_c;
  padded_x_.assign(size_t(g.batch * p.in_h * padded_row), 0.f);  // within capacity after the first call
  parallel_for(g.batch * g.in_h, g.batch * g.in_h * row, [&](int64_t r) {
    const int64_t n = r / g.in_h, i = r % g.in_h;
    std::copy(x + r * row, x + (r + 1) * row,
              padded_x_.data() + (n * p.in_h + i + g.pad_top) * padded_row + g.pad_left * g.in_c);
  });
  x = padded_x_.data();
  return p;
}

void ConvReluMaxPoolKernel::forward(const ConvPoolGeometry& given, const float* x, const float* kernel,
                                    const float* bias, float* y, uint8_t* winner) {
  const ConvPoolGeometry g = pad(given, x);
  const int64_t K = g.kernel_h * g.kernel_w * g.in_c, F = g.filters, Fp = padded_filters(F);
  packed_.assign(size_t((K + 1) * Fp), 0.f);  // within capacity after the first call
  for (int64_t k = 0; k < K; ++k) std::copy(kernel + k * F, kernel + (k + 1) * F, packed_.data() + k * Fp);
  if (bias) std::copy(bias, bias + F, packed_.data() + K * Fp);
  const float* w = packed_.data();
  const float* b = w + K * Fp;
  const int64_t PH = g.pooled_h(), PW = g.pooled_w(), in_size = g.in_h * g.in_w * g.in_c, out_size = PH * PW * F;
  auto pooled_rows = [&]<int KH, int KW, int C>() {
    parallel_for_2d(g.batch, PH, work(g), [&](int64_t n, int64_t i) {
      for (int64_t j = 0; j < PW; ++j) {
        const float* at = x + n * in_size + (2 * i * g.in_w + 2 * j) * g.in_c;
        const int64_t o = n * out_size + (i * PW + j) * F;
        int64_t f0 = 0;
        for (; f0 + 2 * kLanes <= Fp; f0 += 2 * kLanes)
          forward_blocks<2, KH, KW, C>(g, at, w, b, Fp, f0, o, y, winner);
        if (f0 < Fp) forward_blocks<1, KH, KW, C>(g, at, w, b, Fp, f0, o, y, winner);
      }
    });
  };
  // A first layer's usual shapes with their taps unrolled: 3x3 over one channel and over three.
  if (g.kernel_h == 3 && g.kernel_w == 3 && g.in_c == 1) pooled_rows.template operator()<3, 3, 1>();
  else if (g.kernel_h == 3 && g.kernel_w == 3 && g.in_c == 3) pooled_rows.template operator()<3, 3, 3>();
  else pooled_rows.template operator()<0, 0, 0>();
}

void ConvReluMaxPoolKernel::backward_weights(const ConvPoolGeometry& given, const float* x, const float* y,
                                             const uint8_t* winner, const float* dy, float* dkernel, float* dbias) {
  const ConvPoolGeometry g = pad(given, x);
  const int64_t K = g.kernel_h * g.kernel_w * g.in_c, F = g.filters, Fp = padded_filters(F);
  const int64_t PH = g.pooled_h(), PW = g.pooled_w(), in_size = g.in_h * g.in_w * g.in_c, out_size = PH * PW * F;
  // A cache line between the threads' shares: sharing one (the first thread's bias sums beside the
  // second's first kernel row) made two threads slower than one.
  const int64_t rows = g.batch * PH, per_thread = (K + 1) * Fp + kLanes;
  const int threads = work(g) < kParallelThreshold || rows < 2 ? 1 : omp_get_max_threads();
  partial_.assign(size_t(threads * per_thread), 0.f);  // within capacity after the first call
  // Pooled rows [begin, end) (sample, row) add their gradients into acc: the kernel's [K][Fp], then the bias's.
  auto rows_into = [&](int64_t begin, int64_t end, float* acc) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / PH, i = r % PH;
      for (int64_t j = 0; j < PW; ++j) {
        const float* at = x + n * in_size + (2 * i * g.in_w + 2 * j) * g.in_c;
        const int64_t o = n * out_size + (i * PW + j) * F;
        int64_t f0 = 0;
        for (; f0 + 2 * kLanes <= Fp; f0 += 2 * kLanes)
          backward_blocks<2>(g, at, y, winner, dy, Fp, f0, o, acc, acc + K * Fp);
        if (f0 < Fp) backward_blocks<1>(g, at, y, winner, dy, Fp, f0, o, acc, acc + K * Fp);
      }
    }
  };
  if (threads == 1) {
    rows_into(0, rows, partial_.data());
  } else {
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      rows_into(rows * t / nt, rows * (t + 1) / nt, partial_.data() + t * per_thread);
    }
  }
  // The threads' shares added in a fixed order: the same sums on every run.
  for (int64_t k = 0; k <= K; ++k) {
    float* out = k < K ? dkernel + k * F : dbias;
    if (!out) continue;
    for (int64_t f = 0; f < F; ++f) {
      float s = 0.f;
      for (int t = 0; t < threads; ++t) s += partial_[size_t(t * per_thread + k * Fp + f)];
      out[f] = s;
    }
  }
}

}  // namespace myelin::kernels
