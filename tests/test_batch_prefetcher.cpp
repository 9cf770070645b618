// BatchPrefetcher: in the background or in line, every batch holds exactly the rows the epoch's order
// names (the last one shorter), over several epochs with new orders, and stopping mid-epoch is safe.
#include <gtest/gtest.h>

#include <numeric>

#include "batch_prefetcher.hpp"
#include "myelin/random.hpp"

using namespace myelin;

namespace {
void check_epoch(BatchPrefetcher& p, const Tensor& x, const Tensor& y, const std::vector<int64_t>& order, int64_t bs) {
  p.start_epoch(order);
  const int64_t steps = (int64_t(order.size()) + bs - 1) / bs;
  for (int64_t s = 0; s < steps; ++s) {
    const auto& batch = p.next();
    ASSERT_EQ(batch.size(), 2u);
    const Tensor* xb = &batch[0];
    const Tensor* yb = &batch[1];
    const int64_t count = std::min<int64_t>(bs, int64_t(order.size()) - s * bs);
    ASSERT_EQ(xb->rows(), count);
    ASSERT_EQ(yb->rows(), count);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t src = order[size_t(s * bs + r)];
      for (int64_t c = 0; c < x.row_size(); ++c) ASSERT_EQ(xb->at(r, c), x.at(src, c)) << "step " << s << " row " << r;
      ASSERT_EQ((*yb)[r], y[src]);
    }
  }
}
}  // namespace

TEST(BatchPrefetcher, BatchesFollowTheOrderInBothModes) {
  Tensor x({103, 5}), y({103, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = float(i);
  for (int64_t i = 0; i < 103; ++i) y[i] = float(1000 + i);
  Rng rng(11);
  for (bool background : {false, true}) {
    BatchPrefetcher p({x, y}, 16, background);
    std::vector<int64_t> order(103);
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::iota(order.begin(), order.end(), 0);
      rng.shuffle(order);
      check_epoch(p, x, y, order, 16);
    }
  }
}

TEST(BatchPrefetcher, DestroyedMidEpochWithoutHanging) {
  Tensor x({64, 3}), y({64, 1});
  std::vector<int64_t> order(64);
  std::iota(order.begin(), order.end(), 0);
  BatchPrefetcher p({x, y}, 8, true);
  p.start_epoch(order);
  p.next();  // the second batch is being gathered as p goes out of scope
}
