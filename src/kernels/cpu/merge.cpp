#include "kernels/cpu/merge.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
constexpr int64_t kSpan = 1 << 14;  // the element-wise passes' work item on the threads
}  // namespace

namespace {
template <class Y>
void add_to(const float* a, const float* b, Y* y, int64_t n, bool relu) {
  parallel_for((n + kSpan - 1) / kSpan, 3 * n, [&](int64_t span) {
    const int64_t end = std::min(n, (span + 1) * kSpan);
#pragma omp simd
    for (int64_t i = span * kSpan; i < end; ++i) {
      const float v = a[i] + b[i];
      const float out = !relu || v > 0.f ? v : 0.f;  // the relu Activation's rule, NaN to 0 included
      y[i] = stored_as<Y>(out);
    }
  });
}
}  // namespace

void add(const float* a, const float* b, float* y, int64_t n, bool relu) { add_to(a, b, y, n, relu); }
void add(const float* a, const float* b, uint16_t* y_bf16, int64_t n, bool relu) { add_to(a, b, y_bf16, n, relu); }

void merge_forward(MergeOp op, const std::vector<const float*>& x, float* y, int64_t n, bool relu) {
  const size_t k = x.size();
  if (op == MergeOp::Add && k == 2) return add(x[0], x[1], y, n, relu);  // the residual block's case
  switch (op) {
    case MergeOp::Subtract:
      for (int64_t i = 0; i < n; ++i) y[i] = x[0][i] - x[1][i];
      break;
    case MergeOp::Add:
    case MergeOp::Average: {
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j) accumulate(x[j], y, n);
      if (op == MergeOp::Average) {
        const float s = 1.0f / float(k);
        for (int64_t i = 0; i < n; ++i) y[i] *= s;
      }
      break;
    }
    case MergeOp::Multiply:
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) y[i] *= x[j][i];
      break;
    case MergeOp::Maximum:
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) y[i] = std::max(y[i], x[j][i]);
      break;
    case MergeOp::Minimum:
      std::memcpy(y, x[0], size_t(n) * sizeof(float));
      for (size_t j = 1; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) y[i] = std::min(y[i], x[j][i]);
      break;
  }
  if (relu)
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.f ? y[i] : 0.f;
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

BroadcastPlan plan_broadcast(const std::vector<std::vector<int64_t>>& shapes, const std::vector<int64_t>& out) {
  BroadcastPlan p;
  const size_t k = shapes.size(), rank = out.size();
  for (int64_t d : out) p.out_size *= d;
  // Per kept output axis (size > 1): its size and which inputs repeat along it.
  std::vector<int64_t> dims;
  std::vector<std::vector<bool>> repeats;  // [axis][input]
  for (size_t a = 0; a < rank; ++a) {
    if (out[a] == 1) continue;
    std::vector<bool> r(k);
    for (size_t j = 0; j < k; ++j) {
      const size_t pad = rank - shapes[j].size();  // size-1 axes in front of a shorter input
      r[j] = a < pad || shapes[j][a - pad] == 1;
    }
    if (!dims.empty() && repeats.back() == r) {
      dims.back() *= out[a];  // the same pattern as its neighbour: one longer axis
    } else {
      dims.push_back(out[a]);
      repeats.push_back(std::move(r));
    }
  }
  if (dims.empty()) {  // a sample of one value
    dims.push_back(1);
    repeats.push_back(std::vector<bool>(k, true));
  }
  p.dims = dims;
  p.out_strides.assign(dims.size(), 1);
  for (size_t a = dims.size() - 1; a > 0; --a) p.out_strides[a - 1] = p.out_strides[a] * dims[a];
  p.strides.assign(k, std::vector<int64_t>(dims.size(), 0));
  p.sizes.assign(k, 1);
  for (size_t j = 0; j < k; ++j) {
    int64_t step = 1;
    for (size_t a = dims.size(); a-- > 0;) {
      if (repeats[a][j]) continue;
      p.strides[j][a] = step;
      step *= dims[a];
    }
    p.sizes[j] = step;
    if (step != p.out_size) p.broadcasts = true;
  }
  return p;
}

namespace {

// Calls row(out_offset, in_offset) for every run along the last axis of one sample of input k, the
// run having plan.dims.back() values; offsets start at the sample's first value.
template <class Row>
void walk(const BroadcastPlan& p, size_t k, size_t axis, int64_t out_off, int64_t in_off, const Row& row) {
  if (axis + 1 == p.dims.size()) {
    row(out_off, in_off);
    return;
  }
  for (int64_t i = 0; i < p.dims[axis]; ++i)
    walk(p, k, axis + 1, out_off + i * p.out_strides[axis], in_off + i * p.strides[k][axis], row);
}

// Calls row(out_offset, in_offset) over every sample of input k.
template <class Row>
void walk_batch(const BroadcastPlan& p, size_t k, int64_t batch, const Row& row) {
  for (int64_t b = 0; b < batch; ++b) walk(p, k, 0, b * p.out_size, b * p.sizes[k], row);
}

// y = f(y, x_k) with x_k repeated to the output's shape; the last axis is contiguous or repeated.
template <class F>
void combine(const BroadcastPlan& p, size_t k, const float* x, float* y, int64_t batch, F f) {
  const int64_t len = p.dims.back();
  if (p.strides[k].back() == 1)
    walk_batch(p, k, batch, [&](int64_t o, int64_t in) {
      for (int64_t i = 0; i < len; ++i) y[o + i] = f(y[o + i], x[in + i]);
    });
  else
    walk_batch(p, k, batch, [&](int64_t o, int64_t in) {
      const float v = x[in];
      for (int64_t i = 0; i < len; ++i) y[o + i] = f(y[o + i], v);
    });
}

// y = x_k repeated to the output's shape.
void expand(const BroadcastPlan& p, size_t k, const float* x, float* y, int64_t batch) {
  combine(p, k, x, y, batch, [](float, float v) { return v; });
}

// dx = s * (t summed over the positions input k was repeated into).
void reduce(const BroadcastPlan& p, size_t k, const float* t, float s, float* dx, int64_t batch) {
  const int64_t len = p.dims.back();
  std::fill(dx, dx + batch * p.sizes[k], 0.0f);
  if (p.strides[k].back() == 1)
    walk_batch(p, k, batch, [&](int64_t o, int64_t in) {
      for (int64_t i = 0; i < len; ++i) dx[in + i] += t[o + i];
    });
  else
    walk_batch(p, k, batch, [&](int64_t o, int64_t in) {
      float sum = 0;
      for (int64_t i = 0; i < len; ++i) sum += t[o + i];
      dx[in] += sum;
    });
  if (s != 1.0f)
    for (int64_t i = 0; i < batch * p.sizes[k]; ++i) dx[i] *= s;
}

}  // namespace

void merge_forward_broadcast(MergeOp op, const BroadcastPlan& p, const std::vector<const float*>& x, float* y,
                             int64_t batch) {
  expand(p, 0, x[0], y, batch);
  for (size_t j = 1; j < x.size(); ++j) switch (op) {
      case MergeOp::Add:
      case MergeOp::Average: combine(p, j, x[j], y, batch, [](float a, float b) { return a + b; }); break;
      case MergeOp::Subtract: combine(p, j, x[j], y, batch, [](float a, float b) { return a - b; }); break;
      case MergeOp::Multiply: combine(p, j, x[j], y, batch, [](float a, float b) { return a * b; }); break;
      case MergeOp::Maximum: combine(p, j, x[j], y, batch, [](float a, float b) { return std::max(a, b); }); break;
      case MergeOp::Minimum: combine(p, j, x[j], y, batch, [](float a, float b) { return std::min(a, b); }); break;
    }
  if (op == MergeOp::Average) {
    const float s = 1.0f / float(x.size());
    for (int64_t i = 0; i < batch * p.out_size; ++i) y[i] *= s;
  }
}

void merge_backward_broadcast(MergeOp op, const BroadcastPlan& p, const std::vector<const float*>& x,
                              const float* dy, const std::vector<float*>& dx, float* scratch, int64_t batch) {
  const size_t k = x.size();
  const int64_t n = batch * p.out_size;
  switch (op) {
    case MergeOp::Add:
    case MergeOp::Subtract:
    case MergeOp::Average: {
      const float s = op == MergeOp::Average ? 1.0f / float(k) : 1.0f;
      for (size_t j = 0; j < k; ++j)
        if (dx[j]) reduce(p, j, dy, op == MergeOp::Subtract && j == 1 ? -s : s, dx[j], batch);
      return;
    }
    case MergeOp::Multiply:
      // As merge_backward: dy times the product of the other inputs, then summed where x_j repeated.
      for (size_t j = 0; j < k; ++j) {
        if (!dx[j]) continue;
        std::memcpy(scratch, dy, size_t(n) * sizeof(float));
        for (size_t m = 0; m < k; ++m)
          if (m != j) combine(p, m, x[m], scratch, batch, [](float a, float b) { return a * b; });
        reduce(p, j, scratch, 1.0f, dx[j], batch);
      }
      return;
    case MergeOp::Maximum:
    case MergeOp::Minimum: {
      // scratch = the extreme value; the first input (in order) holding it at a position takes that
      // position's gradient and marks it taken with a NaN, which equals nothing.
      merge_forward_broadcast(op, p, x, scratch, batch);
      const float taken = std::numeric_limits<float>::quiet_NaN();
      const int64_t len = p.dims.back();
      for (size_t j = 0; j < k; ++j) {
        float* g = dx[j];
        if (g) std::fill(g, g + batch * p.sizes[j], 0.0f);
        const float* xj = x[j];
        const int64_t st = p.strides[j].back();
        walk_batch(p, j, batch, [&](int64_t o, int64_t in) {
          for (int64_t i = 0; i < len; ++i)
            if (xj[in + i * st] == scratch[o + i]) {
              if (g) g[in + i * st] += dy[o + i];
              scratch[o + i] = taken;
            }
        });
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
  // On the threads, in spans: the graph sums the gradients of a tensor several layers read here (a
  // residual block's input: 3.2 MB at batch 128 in the residual CNN), once on one thread while the
  // other waited.
  parallel_for((n + kSpan - 1) / kSpan, 2 * n, [&](int64_t span) {
    const int64_t end = std::min(n, (span + 1) * kSpan);
#pragma omp simd
    for (int64_t i = span * kSpan; i < end; ++i) y[i] += x[i];
  });
}

void multiply_in_place(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= x[i];
}

}  // namespace myelin::kernels
