// BatchPrefetcher: in line, in the background, and in the background with a core of its own (both
// sides spin before they sleep), every batch holds exactly the rows the epoch's order names (the last
// one shorter), over several epochs with new orders; pauses longer than the spin, where both sides
// sleep and must be woken, do not hang it; and stopping mid-epoch is safe. With one compute thread
// and a core of its own, the gathering thread lends that core, serving the step's offered parts
// between its chunks while the batches stay exact; a step that asks for a batch still being gathered
// copies chunks of it itself, and the batch stays exact.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

#include "batch_prefetcher.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"

using namespace myelin;

namespace {
void check_epoch(BatchPrefetcher& p, const Tensor& x, const Tensor& y, const std::vector<int64_t>& order, int64_t bs,
                 std::chrono::microseconds pause = {}) {
  p.start_epoch(order);
  const int64_t steps = (int64_t(order.size()) + bs - 1) / bs;
  for (int64_t s = 0; s < steps; ++s) {
    std::this_thread::sleep_for(pause);
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
  for (const auto [background, own_core] : {std::pair{false, false}, {true, false}, {true, true}}) {
    SCOPED_TRACE("background " + std::to_string(background) + ", own core " + std::to_string(own_core));
    BatchPrefetcher p({x, y}, 16, background, own_core);
    std::vector<int64_t> order(103);
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::iota(order.begin(), order.end(), 0);
      rng.shuffle(order);
      check_epoch(p, x, y, order, 16);
    }
  }
}

TEST(BatchPrefetcher, HandOverSurvivesPausesLongerThanTheSpin) {
  // 3 ms between batches and between epochs: past the spin, so the gathering thread sleeps before
  // every request and the batch may be ready before it is asked for.
  Tensor x({40, 4}), y({40, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = float(i);
  for (int64_t i = 0; i < 40; ++i) y[i] = float(i);
  Rng rng(12);
  BatchPrefetcher p({x, y}, 8, true, true);
  std::vector<int64_t> order(40);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(order);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    check_epoch(p, x, y, order, 8, std::chrono::milliseconds(3));
  }
}

TEST(BatchPrefetcher, DestroyedMidEpochWithoutHanging) {
  Tensor x({64, 3}), y({64, 1});
  std::vector<int64_t> order(64);
  std::iota(order.begin(), order.end(), 0);
  for (bool own_core : {false, true}) {
    BatchPrefetcher p({x, y}, 8, true, own_core);
    p.start_epoch(order);
    p.next();  // the second batch is being gathered as p goes out of scope
  }
}

TEST(BatchPrefetcher, LendsItsCoreOnlyWithACoreOfItsOwnAndOneComputeThread) {
  Tensor x({64, 3}), y({64, 1});
  const int saved = num_threads();
  set_num_threads(1);
  EXPECT_NE(BatchPrefetcher({x, y}, 8, true, true).side_core(), nullptr);
  EXPECT_EQ(BatchPrefetcher({x, y}, 8, true, false).side_core(), nullptr);
  EXPECT_EQ(BatchPrefetcher({x, y}, 8, false, false).side_core(), nullptr);
  set_num_threads(2);
  EXPECT_EQ(BatchPrefetcher({x, y}, 8, true, true).side_core(), nullptr);
  set_num_threads(saved);
}

TEST(BatchPrefetcher, ServesOfferedPartsWhileItsBatchesStayExact) {
  Tensor x({300, 50}), y({300, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = float(i);
  for (int64_t i = 0; i < 300; ++i) y[i] = float(i);
  const int saved = num_threads();
  set_num_threads(1);
  BatchPrefetcher p({x, y}, 64, true, true);
  set_num_threads(saved);
  kernels::SideCore* core = p.side_core();
  ASSERT_NE(core, nullptr);
  Rng rng(13);
  std::vector<int64_t> order(300);
  int served = 0, parts = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(order);
    p.start_epoch(order);
    for (int64_t s = 0; s < 5; ++s) {
      const auto& batch = p.next();
      const int64_t count = std::min<int64_t>(64, 300 - s * 64);
      ASSERT_EQ(batch[0].rows(), count);
      for (int64_t r = 0; r < count; ++r) ASSERT_EQ(batch[1][r], float(order[size_t(s * 64 + r)])) << "step " << s;
      // A step's part offered while the next batch is gathered: the gathering thread takes it
      // between two chunks, or it comes back here.
      std::atomic<bool> started{false};
      std::thread::id ran_on;
      core->split(
          [&] {
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
            while (!started && std::chrono::steady_clock::now() < until) std::this_thread::yield();
          },
          [&] {
            started = true;
            ran_on = std::this_thread::get_id();
          });
      ++parts;
      served += ran_on != std::this_thread::get_id();
    }
  }
  EXPECT_EQ(parts, 15);
  EXPECT_GT(served, 0) << "the gathering thread never took an offered part";
}

// The gathering thread is held in an offered part (the side core serves one between two chunks) while
// the step asks for the batch: the step copies the chunks nobody has claimed.
TEST(BatchPrefetcher, TheStepCopiesChunksOfABatchStillBeingGathered) {
  const int64_t rows = 256, width = 20000, bs = 128;  // 10 MB a batch: some milliseconds to gather
  Tensor x({rows, width}), y({rows, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = float(i % 1000003);
  for (int64_t i = 0; i < rows; ++i) y[i] = float(i);
  const int saved = num_threads();
  set_num_threads(1);
  BatchPrefetcher p({x, y}, bs, true, true);
  set_num_threads(saved);
  kernels::SideCore* core = p.side_core();
  ASSERT_NE(core, nullptr);
  Rng rng(17);
  std::vector<int64_t> order(rows);
  // Whether the gathering thread takes the offered part before it has gathered batch 1 whole is a
  // race: on a loaded machine it often loses, so epochs are tried until the step has copied a chunk.
  for (int epoch = 0; epoch < 60 && p.rows_gathered_by_caller() == 0; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(order);
    p.start_epoch(order);
    for (int64_t s = 0; s < 2; ++s) {
      if (s == 1) {
        // Batch 1 is being gathered: hold the gathering thread in a part for 30 ms, offered from a
        // thread of its own, and ask for the batch meanwhile.
        std::atomic<bool> started{false};
        std::thread holder([&] {
          core->split(
              [&] {
                const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
                while (!started && std::chrono::steady_clock::now() < until) std::this_thread::yield();
              },
              [&] {
                started = true;
                std::this_thread::sleep_for(std::chrono::milliseconds(30));
              });
        });
        while (!started) std::this_thread::yield();
        const auto& batch = p.next();
        holder.join();
        for (int64_t r = 0; r < bs; ++r) {
          const int64_t src = order[size_t(bs + r)];
          ASSERT_EQ(batch[1][r], float(src)) << "row " << r;
          for (int64_t c = 0; c < width; c += 997) ASSERT_EQ(batch[0].at(r, c), x.at(src, c)) << "row " << r;
        }
      } else {
        p.next();
      }
    }
  }
  EXPECT_GT(p.rows_gathered_by_caller(), 0) << "the step never copied a chunk of the batch it waited for";
}

TEST(BatchPrefetcher, AnOrderNamingAMissingRowIsRefusedBeforeAnyGathering) {
  Tensor x({10, 3}), y({10, 1});
  for (const auto& [background, own_core] : {std::pair{false, false}, {true, false}, {true, true}}) {
    BatchPrefetcher p({x, y}, 4, background, own_core);
    for (const int64_t bad : {int64_t(10), int64_t(-1)}) {
      std::vector<int64_t> order{0, 1, 2, bad, 4};
      try {
        p.start_epoch(order);
        FAIL() << "row " << bad << " was accepted";
      } catch (const ShapeError& e) {
        EXPECT_NE(std::string(e.what()).find("row " + std::to_string(bad)), std::string::npos) << e.what();
      }
    }
    std::vector<int64_t> good{3, 1};
    p.start_epoch(good);
    EXPECT_EQ(p.next()[0].rows(), 2);
  }
}
