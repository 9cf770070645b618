// DatasetPrefetcher: reads a Dataset's next batch on a background thread while the current batch
// trains, so that parsing a CSV chunk or paging in mapped rows overlaps the arithmetic. Two buffers
// alternate, as in BatchPrefetcher: batch s+1 is read into the buffer batch s-1 used.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "myelin/data/dataset.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

class DatasetPrefetcher {
 public:
  /// Reads `rows` rows at a time; `background` false reads in line, when next() is called.
  DatasetPrefetcher(data::Dataset& data, int64_t rows, bool background);
  ~DatasetPrefetcher();
  DatasetPrefetcher(const DatasetPrefetcher&) = delete;
  DatasetPrefetcher& operator=(const DatasetPrefetcher&) = delete;

  /// Rewinds the dataset (after any read still in flight) and starts reading the first batch.
  void start_epoch(uint64_t seed, bool shuffle);
  /// One read's rows: a tensor per x, y and sample-weight array (w empty for a dataset without).
  struct Rows {
    const std::vector<Tensor>*x = nullptr, *y = nullptr, *w = nullptr;
    explicit operator bool() const { return x != nullptr; }
  };
  /// The epoch's next rows, or empty Rows once it is over. An error of the dataset (a bad CSV cell)
  /// is rethrown here, on the caller's thread.
  Rows next();
  /// Applied to each read's first x array right after the read, on the reading thread (set between
  /// epochs); its errors are rethrown by next() as the dataset's are. It may change the values, not
  /// the shape.
  void set_transform(std::function<void(Tensor&)> transform) { transform_ = std::move(transform); }

 private:
  void fill(int slot);
  void request(int slot);
  void wait_idle(std::unique_lock<std::mutex>& lock);
  void worker();

  data::Dataset& data_;
  int64_t rows_;
  std::vector<Tensor> xb_[2], yb_[2], wb_[2];
  std::function<void(Tensor&)> transform_;
  int64_t got_[2] = {0, 0};
  std::exception_ptr error_[2];
  int slot_ = 0;
  bool ended_ = true;

  bool background_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool pending_[2] = {false, false}, ready_[2] = {false, false};
  bool stop_ = false;
};

}  // namespace myelin
