#include "batch_prefetcher.hpp"

#include <algorithm>

namespace myelin {

BatchPrefetcher::BatchPrefetcher(std::vector<Tensor> arrays, int64_t batch_size, bool background)
    : arrays_(std::move(arrays)), batch_size_(batch_size), background_(background) {
  for (int s = 0; s < 2; ++s)
    for (const auto& a : arrays_) {
      Shape shape = a.shape();
      shape[0] = batch_size;
      batch_[s].emplace_back(shape);
    }
  if (background_) thread_ = std::thread([this] { worker(); });
}

BatchPrefetcher::~BatchPrefetcher() {
  if (!background_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchPrefetcher::gather(int slot, int64_t step) {
  const int64_t b0 = step * batch_size_, count = std::min(batch_size_, int64_t(order_->size()) - b0);
  // The buffers keep their capacity: resizing to the (possibly shorter) last batch allocates nothing.
  // On the background thread the copy stays serial: an OpenMP team started from it would compete
  // with the training step's own threads.
  for (size_t a = 0; a < arrays_.size(); ++a) {
    Tensor& b = batch_[slot][a];
    b.resize_rows(count);
    b.gather_rows_from(arrays_[a], order_->data() + b0, count, /*use_threads=*/!background_);
  }
  if (transform_) transform_(batch_[slot][0]);
}

void BatchPrefetcher::request(int slot, int64_t step) {
  if (!background_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requested_step_[slot] = step;
    pending_[slot] = true;
  }
  cv_.notify_all();
}

void BatchPrefetcher::worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || pending_[0] || pending_[1]; });
    if (stop_) return;
    const int slot = pending_[0] ? 0 : 1;
    const int64_t step = requested_step_[slot];
    pending_[slot] = false;
    lock.unlock();
    gather(slot, step);
    lock.lock();
    ready_step_[slot] = step;
    cv_.notify_all();
  }
}

void BatchPrefetcher::start_epoch(const std::vector<int64_t>& order) {
  order_ = &order;
  steps_ = (int64_t(order.size()) + batch_size_ - 1) / batch_size_;
  step_ = 0;
  if (background_) {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_step_[0] = ready_step_[1] = -1;
  }
  request(0, 0);
}

const std::vector<Tensor>& BatchPrefetcher::next() {
  const int slot = int(step_ % 2);
  if (background_) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return ready_step_[slot] == step_; });
  } else {
    gather(slot, step_);
  }
  if (step_ + 1 < steps_) request(1 - slot, step_ + 1);
  ++step_;
  return batch_[slot];
}

}  // namespace myelin
