#include "kernels/cpu/image_transform.hpp"

#include <cmath>
#include <cstring>

#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {

// Index i of the extended row (or column) of length n as an index of the image, or -1 where the
// constant fill is read.
int64_t extend(int64_t i, int64_t n, FillMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case FillMode::constant:
      return -1;
    case FillMode::nearest:
      return i < 0 ? 0 : n - 1;
    case FillMode::wrap: {
      const int64_t m = i % n;
      return m < 0 ? m + n : m;
    }
    case FillMode::reflect: {
      const int64_t period = 2 * n;
      int64_t m = i % period;
      if (m < 0) m += period;
      return m < n ? m : period - 1 - m;
    }
  }
  return -1;
}

// Up to four input pixels (flat offsets into one image, -1 for the fill) and their weights.
struct Taps {
  int64_t at[4];
  float w[4];
  int count;
  bool outside;  // the point has no finite source: fill_value
};

// Keeps coordinates far outside the image finite as integers; any such point reads the fill or a
// periodic copy, so the exact distance does not matter beyond a whole number of periods.
constexpr double kFar = 1e9;

Taps taps_at(const ImageTransform& t, const float* m, int64_t x, int64_t y) {
  Taps r{};
  const double k = double(m[6]) * double(x) + double(m[7]) * double(y) + 1.0;
  const double sx = (double(m[0]) * double(x) + double(m[1]) * double(y) + double(m[2])) / k;
  const double sy = (double(m[3]) * double(x) + double(m[4]) * double(y) + double(m[5])) / k;
  if (k == 0.0 || !std::isfinite(sx) || !std::isfinite(sy) || std::abs(sx) > kFar || std::abs(sy) > kFar) {
    r.outside = true;
    return r;
  }
  auto pixel = [&](int64_t row, int64_t col) -> int64_t {
    const int64_t rr = extend(row, t.height, t.fill_mode), cc = extend(col, t.width, t.fill_mode);
    return rr < 0 || cc < 0 ? -1 : (rr * t.width + cc) * t.channels;
  };
  if (t.interpolation == ResizeInterpolation::nearest) {
    r.at[0] = pixel(int64_t(std::round(sy)), int64_t(std::round(sx)));
    r.w[0] = 1.f;
    r.count = 1;
    return r;
  }
  const double fy = std::floor(sy), fx = std::floor(sx);
  const int64_t y0 = int64_t(fy), x0 = int64_t(fx);
  const float dy = float(sy - fy), dx = float(sx - fx);
  r.at[0] = pixel(y0, x0);
  r.at[1] = pixel(y0, x0 + 1);
  r.at[2] = pixel(y0 + 1, x0);
  r.at[3] = pixel(y0 + 1, x0 + 1);
  r.w[0] = (1 - dy) * (1 - dx);
  r.w[1] = (1 - dy) * dx;
  r.w[2] = dy * (1 - dx);
  r.w[3] = dy * dx;
  r.count = 4;
  return r;
}

}  // namespace

void image_transform_forward(const ImageTransform& t, const float* transforms, const float* x, float* y) {
  const int64_t C = t.channels, plane = t.height * t.width * C;
  parallel_for(t.batch, t.batch * plane, [&](int64_t n) {
    const float* m = transforms + n * kTransformSize;
    const float* img = x + n * plane;
    float* out = y + n * plane;
    for (int64_t i = 0; i < t.height; ++i)
      for (int64_t j = 0; j < t.width; ++j) {
        float* o = out + (i * t.width + j) * C;
        const Taps tp = taps_at(t, m, j, i);
        if (tp.outside) {
          for (int64_t c = 0; c < C; ++c) o[c] = t.fill_value;
          continue;
        }
        for (int64_t c = 0; c < C; ++c) o[c] = 0.f;
        for (int q = 0; q < tp.count; ++q) {
          const float w = tp.w[q];
          if (tp.at[q] < 0) {
            for (int64_t c = 0; c < C; ++c) o[c] += w * t.fill_value;
          } else {
            const float* p = img + tp.at[q];
            for (int64_t c = 0; c < C; ++c) o[c] += w * p[c];
          }
        }
      }
  });
}

void image_transform_backward(const ImageTransform& t, const float* transforms, const float* dy, float* dx) {
  const int64_t C = t.channels, plane = t.height * t.width * C;
  std::memset(dx, 0, size_t(t.batch * plane) * sizeof(float));
  parallel_for(t.batch, t.batch * plane, [&](int64_t n) {
    const float* m = transforms + n * kTransformSize;
    const float* g = dy + n * plane;
    float* img = dx + n * plane;
    for (int64_t i = 0; i < t.height; ++i)
      for (int64_t j = 0; j < t.width; ++j) {
        const Taps tp = taps_at(t, m, j, i);
        if (tp.outside) continue;
        const float* gi = g + (i * t.width + j) * C;
        // Sequential adds: at an edge several taps may be the same pixel.
        for (int q = 0; q < tp.count; ++q) {
          if (tp.at[q] < 0) continue;
          float* p = img + tp.at[q];
          for (int64_t c = 0; c < C; ++c) p[c] += tp.w[q] * gi[c];
        }
      }
  });
}

}  // namespace myelin::kernels
