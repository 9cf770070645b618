#include "kernels/cpu/embedding.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// A sort key packs the id above the position: ids are below 2^24 (float32 holds them exactly only
// there), which leaves 40 bits for positions, far more than a batch's output could hold in memory.
constexpr int kPositionBits = 40;
constexpr uint64_t kPositionMask = (uint64_t(1) << kPositionBits) - 1;
}  // namespace

void embedding_forward(const float* ids, int64_t n, const float* table, int64_t dim, float* out) {
  parallel_for(n, n * dim, [&](int64_t i) {
    std::memcpy(out + i * dim, table + int64_t(ids[i]) * dim, size_t(dim) * sizeof(float));
  });
}

void embedding_backward(const float* ids, int64_t n, const float* dy, int64_t dim, int64_t input_dim, float* dtable,
                        std::vector<uint64_t>& order) {
  parallel_for(input_dim, input_dim * dim,
               [&](int64_t r) { std::memset(dtable + r * dim, 0, size_t(dim) * sizeof(float)); });
  order.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = (uint64_t(ids[i]) << kPositionBits) | uint64_t(i);
  std::sort(order.begin(), order.end());  // in place: no allocation
  // Runs of one id start where the id changes; `order` keeps the positions, the starts are found on
  // the fly by each run's first thread-owned element.
  auto id_of = [&](int64_t k) { return int64_t(order[size_t(k)] >> kPositionBits); };
  auto add_run = [&](int64_t k) {
    if (k > 0 && id_of(k - 1) == id_of(k)) return;  // not the start of a run: its start adds it
    float* row = dtable + id_of(k) * dim;
    for (int64_t j = k; j < n && id_of(j) == id_of(k); ++j) {
      const float* g = dy + int64_t(order[size_t(j)] & kPositionMask) * dim;
#pragma omp simd
      for (int64_t c = 0; c < dim; ++c) row[c] += g[c];
    }
  };
  parallel_for(n, n * dim, add_run);
}

}  // namespace myelin::kernels
