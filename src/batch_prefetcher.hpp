// BatchPrefetcher: gathers the next training batch on a background thread while the current one
// trains, so that copying scattered rows out of main memory (a fifth of an MLP epoch when done in
// line) overlaps the arithmetic. Two buffers alternate: batch s+1 is written into the buffer that
// batch s-1 used, which the training step has finished with by the time batch s is asked for.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/side_core.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

class BatchPrefetcher {
 public:
  /// Batches of `batch_size` rows of every array (a model's inputs, targets and sample weights, which
  /// share their row count); `background` false gathers in line (one thread setting). `own_core`: the
  /// background thread has a core that no compute thread uses, so both sides of the hand-over wait
  /// by spinning for a while before they sleep. When, besides, the step computes on one thread (the
  /// thread setting at construction), the background thread also lends its core to the step
  /// (side_core()) between chunks of its gathering, and a step that asks for a batch before it is
  /// gathered copies the chunks nobody has taken yet itself rather than wait.
  BatchPrefetcher(std::vector<Tensor> arrays, int64_t batch_size, bool background, bool own_core = false);
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  /// Starts an epoch over rows in `order` (which must stay unchanged until the epoch's last next()).
  /// Throws ShapeError when it names a row the arrays do not have.
  void start_epoch(const std::vector<int64_t>& order);
  /// The rows of every array for the epoch's next batch, in the order given; starts gathering the
  /// one after it.
  const std::vector<Tensor>& next();
  /// Applied to each batch's first array right after it is gathered, on the gathering thread (set
  /// between epochs). It may change the values, not the shape.
  void set_transform(std::function<void(Tensor&)> transform) { transform_ = std::move(transform); }
  /// The background thread's core, lent for parts of the training step between chunks of gathering
  /// (see the constructor); null when it is not lent.
  kernels::SideCore* side_core() { return lend_ ? &side_core_ : nullptr; }
  /// Rows that next() copied on the caller's thread since the object was made, where a lending
  /// gathering thread had not finished the batch asked for (help_gather). For tests.
  int64_t rows_gathered_by_caller() const { return rows_gathered_by_caller_; }

 private:
  int64_t rows_in(int64_t step) const;
  // Copies rows [first, first + n) of step's batch into its slot, asking for the `ahead` rows after them.
  void copy_rows(int slot, int64_t step, int64_t first, int64_t n, int64_t ahead);
  void gather(int slot, int64_t step);
  // On the step's thread, when the batch it asks for is still being gathered: claims chunks of it
  // until none is left (the gathering thread finishes the batch and hands it over as usual).
  void help_gather(int slot);
  void request(int slot, int64_t step);
  void worker();
  template <class Ready>
  void wait_until(Ready ready);
  void wake();

  std::vector<Tensor> arrays_;
  int64_t batch_size_, steps_ = 0, step_ = 0;
  const std::vector<int64_t>* order_ = nullptr;
  std::vector<Tensor> batch_[2];
  std::function<void(Tensor&)> transform_;

  bool background_, own_core_, lend_;
  kernels::SideCore side_core_;
  std::thread thread_;
  // The hand-over's state is atomic, so a spinning side sees it without the mutex; the mutex and
  // cv_ serve the sides that sleep, counted in sleepers_ (guarded by the mutex).
  std::mutex mutex_;
  std::condition_variable cv_;
  int sleepers_ = 0;
  int64_t requested_step_[2] = {-1, -1};  // written before pending_ is set, read after it is seen
  std::atomic<int64_t> ready_step_[2] = {-1, -1};
  std::atomic<bool> pending_[2] = {false, false};
  std::atomic<bool> stop_ = false;
  // A lending thread's batch in the making: its step once the slot's buffers are sized and the
  // counters below reset, the first row not yet claimed and the rows copied.
  std::atomic<int64_t> gathering_step_[2] = {-1, -1};
  std::atomic<int64_t> next_row_[2] = {0, 0};
  std::atomic<int64_t> rows_done_[2] = {0, 0};
  int64_t rows_gathered_by_caller_ = 0;  // the caller's thread alone
};

}  // namespace myelin
