#include "dataset_prefetcher.hpp"

namespace myelin {

DatasetPrefetcher::DatasetPrefetcher(data::Dataset& data, int64_t rows, bool background)
    : data_(data), rows_(rows), background_(background) {
  if (background_) thread_ = std::thread([this] { worker(); });
}

DatasetPrefetcher::~DatasetPrefetcher() {
  if (!background_) return;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    wait_idle(lock);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DatasetPrefetcher::fill(int slot) {
  try {
    got_[slot] = data_.read_weighted(rows_, xb_[slot], yb_[slot], wb_[slot]);
    if (transform_ && got_[slot] > 0) transform_(xb_[slot][0]);
    error_[slot] = nullptr;
  } catch (...) {
    got_[slot] = 0;
    error_[slot] = std::current_exception();
  }
}

void DatasetPrefetcher::request(int slot) {
  ready_[slot] = false;
  if (!background_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_[slot] = true;
  }
  cv_.notify_all();
}

void DatasetPrefetcher::wait_idle(std::unique_lock<std::mutex>& lock) {
  // A read requested before the loop stopped early (EarlyStopping mid-epoch) may still run.
  cv_.wait(lock, [&] { return !pending_[0] && !pending_[1]; });
}

void DatasetPrefetcher::worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || pending_[0] || pending_[1]; });
    if (stop_) return;
    const int slot = pending_[0] ? 0 : 1;
    lock.unlock();
    fill(slot);
    lock.lock();
    pending_[slot] = false;
    ready_[slot] = true;
    cv_.notify_all();
  }
}

void DatasetPrefetcher::start_epoch(uint64_t seed, bool shuffle) {
  if (background_) {
    std::unique_lock<std::mutex> lock(mutex_);
    wait_idle(lock);
    ready_[0] = ready_[1] = false;
  }
  data_.start_epoch(seed, shuffle);
  slot_ = 0;
  ended_ = false;
  request(0);
}

DatasetPrefetcher::Rows DatasetPrefetcher::next() {
  if (ended_) return {};
  const int slot = slot_;
  if (background_) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return ready_[slot]; });
  } else {
    fill(slot);
  }
  if (error_[slot]) {
    ended_ = true;
    std::rethrow_exception(error_[slot]);
  }
  if (got_[slot] == 0) {
    ended_ = true;
    return {};
  }
  // A short read is the epoch's last: asking for more would only return 0.
  if (got_[slot] < rows_) ended_ = true;
  else request(1 - slot);
  slot_ = 1 - slot;
  return {&xb_[slot], &yb_[slot], &wb_[slot]};
}

}  // namespace myelin
