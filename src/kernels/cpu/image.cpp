#include "kernels/cpu/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace myelin::kernels {

void rescale(const float* x, int64_t n, float scale, float offset, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale + offset;
}

void set_aspect_ratio_window(ResizeWindow& r) {
  // Keras's crop_to_aspect_ratio: the window keeps the full height or the full width.
  r.window_h = std::max<int64_t>(1, std::min(r.in_h, r.in_w * r.out_h / r.out_w));
  r.window_w = std::max<int64_t>(1, std::min(r.in_w, r.in_h * r.out_w / r.out_h));
  r.top = (r.in_h - r.window_h) / 2;
  r.left = (r.in_w - r.window_w) / 2;
}

namespace {

// Where one output row (or column) reads: source indices lo and hi (inside the window, offset
// applied) with weights 1 - frac and frac.
struct Tap {
  int64_t lo, hi;
  float frac;
};

std::vector<Tap> taps(ResizeInterpolation mode, int64_t offset, int64_t window, int64_t out) {
  std::vector<Tap> t(static_cast<size_t>(out));
  const double scale = double(window) / double(out);
  for (int64_t i = 0; i < out; ++i) {
    if (mode == ResizeInterpolation::nearest) {
      const int64_t s = std::min(int64_t(std::floor((double(i) + 0.5) * scale)), window - 1);
      t[size_t(i)] = {offset + s, offset + s, 0.f};
    } else {
      // Clamping the source coordinate to the window gives TensorFlow's edge rule (the outermost
      // pixels repeat) and leaves no weight on a pixel outside the window.
      const double src = std::clamp((double(i) + 0.5) * scale - 0.5, 0.0, double(window - 1));
      const int64_t lo = int64_t(src);
      t[size_t(i)] = {offset + lo, offset + std::min(lo + 1, window - 1), float(src - double(lo))};
    }
  }
  return t;
}

bool is_crop(const ResizeWindow& r) { return r.window_h == r.out_h && r.window_w == r.out_w; }

}  // namespace

void resize_forward(const ResizeWindow& r, const float* x, float* y) {
  const int64_t C = r.channels, in_plane = r.in_h * r.in_w * C, out_plane = r.out_h * r.out_w * C;
  if (is_crop(r)) {
    for (int64_t n = 0; n < r.batch; ++n)
      for (int64_t i = 0; i < r.out_h; ++i)
        std::memcpy(y + n * out_plane + i * r.out_w * C, x + n * in_plane + ((r.top + i) * r.in_w + r.left) * C,
                    size_t(r.out_w * C) * sizeof(float));
    return;
  }
  const std::vector<Tap> rows = taps(r.interpolation, r.top, r.window_h, r.out_h);
  const std::vector<Tap> cols = taps(r.interpolation, r.left, r.window_w, r.out_w);
  for (int64_t n = 0; n < r.batch; ++n) {
    const float* img = x + n * in_plane;
    for (int64_t i = 0; i < r.out_h; ++i) {
      const Tap& ty = rows[size_t(i)];
      const float* top = img + ty.lo * r.in_w * C;
      const float* bottom = img + ty.hi * r.in_w * C;
      float* out = y + n * out_plane + i * r.out_w * C;
      for (int64_t j = 0; j < r.out_w; ++j) {
        const Tap& tx = cols[size_t(j)];
        const float *a = top + tx.lo * C, *b = top + tx.hi * C, *c = bottom + tx.lo * C, *d = bottom + tx.hi * C;
        for (int64_t k = 0; k < C; ++k) {
          const float upper = a[k] + (b[k] - a[k]) * tx.frac;
          const float lower = c[k] + (d[k] - c[k]) * tx.frac;
          out[j * C + k] = upper + (lower - upper) * ty.frac;
        }
      }
    }
  }
}

void resize_backward(const ResizeWindow& r, const float* dy, float* dx) {
  const int64_t C = r.channels, in_plane = r.in_h * r.in_w * C, out_plane = r.out_h * r.out_w * C;
  std::memset(dx, 0, size_t(r.batch * in_plane) * sizeof(float));
  if (is_crop(r)) {
    for (int64_t n = 0; n < r.batch; ++n)
      for (int64_t i = 0; i < r.out_h; ++i)
        std::memcpy(dx + n * in_plane + ((r.top + i) * r.in_w + r.left) * C, dy + n * out_plane + i * r.out_w * C,
                    size_t(r.out_w * C) * sizeof(float));
    return;
  }
  const std::vector<Tap> rows = taps(r.interpolation, r.top, r.window_h, r.out_h);
  const std::vector<Tap> cols = taps(r.interpolation, r.left, r.window_w, r.out_w);
  for (int64_t n = 0; n < r.batch; ++n) {
    float* img = dx + n * in_plane;
    for (int64_t i = 0; i < r.out_h; ++i) {
      const Tap& ty = rows[size_t(i)];
      float* top = img + ty.lo * r.in_w * C;
      float* bottom = img + ty.hi * r.in_w * C;
      const float* g = dy + n * out_plane + i * r.out_w * C;
      for (int64_t j = 0; j < r.out_w; ++j) {
        const Tap& tx = cols[size_t(j)];
        float *a = top + tx.lo * C, *b = top + tx.hi * C, *c = bottom + tx.lo * C, *d = bottom + tx.hi * C;
        const float wa = (1 - ty.frac) * (1 - tx.frac), wb = (1 - ty.frac) * tx.frac;
        const float wc = ty.frac * (1 - tx.frac), wd = ty.frac * tx.frac;
        // Sequential adds: a, b, c and d may be the same pixel at an edge.
        for (int64_t k = 0; k < C; ++k) {
          const float v = g[j * C + k];
          a[k] += wa * v;
          b[k] += wb * v;
          c[k] += wc * v;
          d[k] += wd * v;
        }
      }
    }
  }
}

void flip_images(int64_t batch, int64_t height, int64_t width, int64_t channels, const unsigned char* flips,
                 bool horizontal, bool vertical, const float* x, float* y) {
  const int64_t C = channels, row = width * C, plane = height * row;
  for (int64_t n = 0; n < batch; ++n) {
    const float* img = x + n * plane;
    float* out = y + n * plane;
    if (!flips[n]) {
      std::memcpy(out, img, size_t(plane) * sizeof(float));
      continue;
    }
    for (int64_t i = 0; i < height; ++i) {
      const float* src = img + (vertical ? height - 1 - i : i) * row;
      float* dst = out + i * row;
      if (!horizontal) {
        std::memcpy(dst, src, size_t(row) * sizeof(float));
        continue;
      }
      for (int64_t j = 0; j < width; ++j) std::memcpy(dst + j * C, src + (width - 1 - j) * C, size_t(C) * sizeof(float));
    }
  }
}

}  // namespace myelin::kernels
