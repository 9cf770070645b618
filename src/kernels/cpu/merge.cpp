#include "kernels/cpu/merge.hpp"

#include <algorithm>
#include <cstring>

namespace myelin::kernels {

void merge_forward(MergeOp op, const std::vector<const float*>& x, float* y, int64_t n) {
  const size_t k = x.size();
  switch (op) {
    case MergeOp::Subtract:
      for (int64_t i = 0; i < n; ++i) y[i] = x[0][i] - x[1][i];
      return;
    case MergeOp::Add:
    case MergeOp::Average: {
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j) accumulate(x[j], y, n);
      if (op == MergeOp::Average) {
        const float s = 1.0f / float(k);
        for (int64_t i = 0; i < n; ++i) y[i] *= s;
      }
      return;
    }
    case MergeOp::Multiply:
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) y[i] *= x[j][i];
      return;
    case MergeOp::Maximum:
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) y[i] = std::max(y[i], x[j][i]);
      return;
    case MergeOp::Minimum:
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) y[i] = std::min(y[i], x[j][i]);
      return;
  }
}

void merge_backward(MergeOp op, const std::vector<const float*>& x, const float* dy,
                    const std::vector<float*>& dx, int64_t n) {
  const size_t k = x.size();
  switch (op) {
    case MergeOp::Add:
    case MergeOp::Subtract:
    case MergeOp::Average: {
      const float s = op == MergeOp::Average ? 1.0f / float(k) : 1.0f;
      for (size_t j = 0; j < k; ++j) {
        if (!dx[j]) continue;
        const float sj = op == MergeOp::Subtract && j == 1 ? -s : s;
        for (int64_t i = 0; i < n; ++i) dx[j][i] = sj * dy[i];
      }
      return;
    }
    case MergeOp::Multiply:
      // d/dx_j of the product is the product of the others: computed directly (no division, so
      // zeros in an input are exact).
      for (size_t j = 0; j < k; ++j) {
        if (!dx[j]) continue;
        for (int64_t i = 0; i < n; ++i) dx[j][i] = dy[i];
        for (size_t m = 0; m < k; ++m)
          if (m != j)
            for (int64_t i = 0; i < n; ++i) dx[j][i] *= x[m][i];
      }
      return;
    case MergeOp::Maximum:
    case MergeOp::Minimum: {
      const bool is_max = op == MergeOp::Maximum;
      for (size_t j = 0; j < k; ++j)
        if (dx[j]) std::fill(dx[j], dx[j] + n, 0.0f);
      for (int64_t i = 0; i < n; ++i) {
        size_t best = 0;
        for (size_t j = 1; j < k; ++j)
          if (is_max ? x[j][i] > x[best][i] : x[j][i] < x[best][i]) best = j;
        if (dx[best]) dx[best][i] = dy[i];
      }
      return;
    }
  }
}

void concat_forward(const std::vector<const float*>& x, const std::vector<int64_t>& widths, float* y, int64_t outer,
                    int64_t inner) {
  int64_t total = 0;
  for (int64_t w : widths) total += w;
  for (int64_t o = 0; o < outer; ++o) {
    float* dst = y + o * total * inner;
    for (size_t j = 0; j < x.size(); ++j) {
      const int64_t len = widths[j] * inner;
      std::memcpy(dst, x[j] + o * len, size_t(len) * sizeof(float));
      dst += len;
    }
  }
}

void concat_backward(const float* dy, const std::vector<int64_t>& widths, const std::vector<float*>& dx,
                     int64_t outer, int64_t inner) {
  int64_t total = 0;
  for (int64_t w : widths) total += w;
  for (int64_t o = 0; o < outer; ++o) {
    const float* src = dy + o * total * inner;
    for (size_t j = 0; j < dx.size(); ++j) {
      const int64_t len = widths[j] * inner;
      if (dx[j]) std::memcpy(dx[j] + o * len, src, size_t(len) * sizeof(float));
      src += len;
    }
  }
}

void accumulate(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace myelin::kernels
