#include "kernels/cpu/winograd.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/block_product.hpp"
#include "kernels/cpu/lanes.hpp"

namespace myelin::kernels {

namespace {

constexpr int64_t kTile = 4;                       // outputs per tile side
constexpr int64_t kInput = 6;                      // inputs per tile side: kTile + 3 - 1
constexpr int64_t kPositions = kInput * kInput;    // transformed values per tile
// A thread's tiles go through in chunks of whole blocks whose transformed inputs and products take
// at most this much (6 to 12 tiles for 32-128 channels): at batch 1,024 the seed CNN's second
// convolution took 11.7 ms so, 12.6 with 256 KB, 12.7 with 512 KB and 15.5 unchunked (its inputs
// and products then go through memory); bench/README.md, "Our own Winograd forward".
constexpr int64_t kChunkBytes = 128 * 1024;

// B^T d for one column (or row) of six values: the input transform's rows, points 0, +-1, +-2.
inline void input_rows(const Floats d[6], Floats t[6]) {
  t[0] = 4.f * d[0] - 5.f * d[2] + d[4];
  t[1] = -4.f * (d[1] + d[2]) + d[3] + d[4];
  t[2] = 4.f * (d[1] - d[2]) - d[3] + d[4];
  t[3] = 2.f * (d[3] - d[1]) - d[2] + d[4];
  t[4] = 2.f * (d[1] - d[3]) - d[2] + d[4];
  t[5] = 4.f * d[1] - 5.f * d[3] + d[5];
}

// A^T m for six values: the four outputs.
inline void output_rows(const Floats m[6], Floats o[4]) {
  const Floats sum12 = m[1] + m[2], diff12 = m[1] - m[2], sum34 = m[3] + m[4], diff34 = m[3] - m[4];
  o[0] = m[0] + sum12 + sum34;
  o[1] = diff12 + 2.f * diff34;
  o[2] = sum12 + 4.f * sum34;
  o[3] = diff12 + 8.f * diff34 + m[5];
}

// G w for three weights: the weight transform's rows, points 0, +-1, +-2.
inline void weight_rows(const Floats w[3], Floats t[6]) {
  const Floats outer = w[0] + w[2], outer_small = w[0] * (1.f / 24) + w[2] * (1.f / 6);
  t[0] = w[0] * (1.f / 4);
  t[1] = (outer + w[1]) * (-1.f / 6);
  t[2] = (outer - w[1]) * (-1.f / 6);
  t[3] = outer_small + w[1] * (1.f / 12);
  t[4] = outer_small - w[1] * (1.f / 12);
  t[5] = w[2];
}

struct Tiles {
  int64_t rows, cols, per_image;
  explicit Tiles(const Conv2DGeometry& g)
      : rows((g.out_h + kTile - 1) / kTile), cols((g.out_w + kTile - 1) / kTile), per_image(rows * cols) {}
};

// kLanes values of x as floats: float32, or bfloat16 bits widened exactly.
inline Floats load_values(const float* p) { return load(p); }
inline Floats load_values(const uint16_t* p) {
  using Halves = uint16_t __attribute__((vector_size(kLanes * sizeof(uint16_t))));
  Halves h;
  std::memcpy(&h, p, sizeof h);
  using Words = uint32_t __attribute__((vector_size(kLanes * sizeof(uint32_t))));
  const Words bits = __builtin_convertvector(h, Words) << 16;
  Floats v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// The 36 transformed values of tile `tile` (counted over the batch) for every channel, into
// v[p * ld + c] for position p. T: float, or uint16_t for bfloat16 x.
template <class T>
void transform_tile_input(const Conv2DGeometry& g, const Tiles& tiles, const T* x, int64_t tile, float* v,
                          int64_t ld) {
  const int64_t image = tile / tiles.per_image, in_image = tile % tiles.per_image;
  const int64_t row0 = in_image / tiles.cols * kTile - g.pad_top, col0 = in_image % tiles.cols * kTile - g.pad_left;
  const T* pixel[kInput][kInput];  // null in the padding
  for (int64_t i = 0; i < kInput; ++i)
    for (int64_t j = 0; j < kInput; ++j) {
      const int64_t r = row0 + i, c = col0 + j;
      pixel[i][j] = r >= 0 && r < g.in_h && c >= 0 && c < g.in_w ? x + ((image * g.in_h + r) * g.in_w + c) * g.in_c
                                                                 : nullptr;
    }
  for (int64_t ch = 0; ch < g.in_c; ch += kLanes) {
    Floats t[kInput][kInput];  // t[i][j]: B^T d, column j
    for (int64_t j = 0; j < kInput; ++j) {
      Floats d[kInput];
      for (int64_t i = 0; i < kInput; ++i) d[i] = pixel[i][j] ? load_values(pixel[i][j] + ch) : Floats{};
      Floats col[kInput];
      input_rows(d, col);
      for (int64_t i = 0; i < kInput; ++i) t[i][j] = col[i];
    }
    for (int64_t i = 0; i < kInput; ++i) {
      Floats row[kInput];
      input_rows(t[i], row);
      for (int64_t j = 0; j < kInput; ++j) store(v + (i * kInput + j) * ld + ch, row[j]);
    }
  }
}

// The outputs of tile `tile` from its 36 products m[p * ld + f], with bias, addend and relu.
void transform_tile_output(const Conv2DGeometry& g, const Tiles& tiles, const float* m, int64_t ld, int64_t tile,
                           const float* bias, bool relu, const float* addend, float* y) {
  const int64_t image = tile / tiles.per_image, in_image = tile % tiles.per_image;
  const int64_t row0 = in_image / tiles.cols * kTile, col0 = in_image % tiles.cols * kTile;
  const int64_t rows = std::min(kTile, g.out_h - row0), cols = std::min(kTile, g.out_w - col0);
  for (int64_t f = 0; f < g.out_c; f += kLanes) {
    Floats s[kInput][kTile];  // s[j][k]: A^T m, column j
    for (int64_t j = 0; j < kInput; ++j) {
      Floats col[kInput];
      for (int64_t i = 0; i < kInput; ++i) col[i] = load(m + (i * kInput + j) * ld + f);
      output_rows(col, s[j]);
    }
    const Floats b = bias ? load(bias + f) : Floats{};
    for (int64_t k = 0; k < rows; ++k) {
      Floats row[kInput], out[kTile];
      for (int64_t j = 0; j < kInput; ++j) row[j] = s[j][k];
      output_rows(row, out);
      for (int64_t l = 0; l < cols; ++l) {
        const int64_t at = ((image * g.out_h + row0 + k) * g.out_w + col0 + l) * g.out_c + f;
        Floats value = out[l] + b;
        if (addend) value += load(addend + at);
        if (relu) value = value > 0.f ? value : Floats{};
        store(y + at, value);
      }
    }
  }
}

}  // namespace

bool WinogradConv3x3::takes(const Conv2DGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 &&
         g.dilation_w == 1 && g.in_c > 0 && g.out_c > 0 && g.in_c % kLanes == 0 && g.out_c % kLanes == 0;
}

void WinogradConv3x3::transform_weights(const Conv2DGeometry& g, const float* kernel, uint64_t kernel_version) {
  const int64_t n = 9 * g.in_c * g.out_c;
  if (in_c_ == g.in_c && out_c_ == g.out_c && seen_.unchanged(kernel, n, kernel_version)) return;
  in_c_ = g.in_c;
  out_c_ = g.out_c;
  transformed_.resize(size_t(kPositions * g.in_c * g.out_c));
  const int64_t width = block_product_columns();
  // U = G w G^T for each channel, kLanes filters at a time. Training changes the weights at every
  // step, so this runs once a step there: vectors on every thread (one filter at a time in double,
  // it made the seed CNN's training step about 0.8 ms longer, of 10).
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < g.in_c; ++c)
    for (int64_t f = 0; f < g.out_c; f += kLanes) {
      Floats columns[3][kInput];  // columns[b]: G applied to the weights' column b
      for (int64_t b = 0; b < 3; ++b) {
        const Floats w[3] = {load(kernel + ((0 * 3 + b) * g.in_c + c) * g.out_c + f),
                             load(kernel + ((1 * 3 + b) * g.in_c + c) * g.out_c + f),
                             load(kernel + ((2 * 3 + b) * g.in_c + c) * g.out_c + f)};
        weight_rows(w, columns[b]);
      }
      const int64_t panel = f / width * width, panel_width = std::min(width, g.out_c - panel);
      for (int64_t i = 0; i < kInput; ++i) {
        const Floats row[3] = {columns[0][i], columns[1][i], columns[2][i]};
        Floats u[kInput];
        weight_rows(row, u);
        for (int64_t j = 0; j < kInput; ++j)
          store(transformed_.data() + (i * kInput + j) * g.in_c * g.out_c + panel * g.in_c + c * panel_width +
                    (f - panel),
                u[j]);
      }
    }
  seen_.remember(kernel, n, kernel_version);
}

void WinogradConv3x3::forward(const Conv2DGeometry& g, const void* x, bool x_bf16, const float* kernel,
                              uint64_t kernel_version, const float* bias, bool relu, const float* addend, float* y) {
  transform_weights(g, kernel, kernel_version);
  const Tiles tiles(g);
  const int64_t total = WinogradConv3x3::tiles(g);
  const int threads = int(std::min<int64_t>(omp_get_max_threads(), total));
  // Each thread takes its tiles in chunks whose transformed inputs and products stay in its cache.
  const int64_t per_tile = kPositions * (g.in_c + g.out_c) * int64_t(sizeof(float));
  const int64_t chunk_most =
      std::max<int64_t>(kBlockProductRows, kChunkBytes / per_tile / kBlockProductRows * kBlockProductRows);
  const int64_t most = std::min((total + threads - 1) / threads, chunk_most);  // tiles of the largest chunk
  const int64_t width = block_product_columns();
  scratch_.resize(size_t(threads));
  // Kept: no allocation after the first call.
  for (auto& s : scratch_) s.resize(size_t(kPositions * most * (g.in_c + g.out_c)));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int64_t first = total * t / threads, end = total * (t + 1) / threads;
    for (int64_t from = first; from < end; from += most) {
      const int64_t count = std::min(most, end - from);
      float* v = scratch_[size_t(t)].data();        // [36][count][in_c]
      float* m = v + kPositions * count * g.in_c;   // [36][count][out_c]
      const int64_t v_ld = count * g.in_c, m_ld = count * g.out_c;
      for (int64_t r = 0; r < count; ++r) {
        if (x_bf16)
          transform_tile_input(g, tiles, static_cast<const uint16_t*>(x), from + r, v + r * g.in_c, v_ld);
        else
          transform_tile_input(g, tiles, static_cast<const float*>(x), from + r, v + r * g.in_c, v_ld);
      }
      for (int64_t p = 0; p < kPositions; ++p)
        for (int64_t panel = 0; panel < g.out_c; panel += width) {
          const int64_t panel_width = std::min(width, g.out_c - panel);
          block_product(count, panel_width, g.in_c, v + p * v_ld, g.in_c,
                        transformed_.data() + p * g.in_c * g.out_c + panel * g.in_c, panel_width, m + p * m_ld + panel,
                        g.out_c, false);
        }
      for (int64_t r = 0; r < count; ++r)
        transform_tile_output(g, tiles, m + r * g.out_c, m_ld, from + r, bias, relu, addend, y);
    }
  }
}

}  // namespace myelin::kernels
