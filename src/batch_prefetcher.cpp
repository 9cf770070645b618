#include "batch_prefetcher.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "kernels/cpu/cpu_relax.hpp"
#include "kernels/cpu/elementwise.hpp"
#include "myelin/error.hpp"
#include "myelin/threading.hpp"

namespace myelin {

namespace {
// How long a side with a core of its own spins before it sleeps: above the MLP's step (about
// 0.2 ms), so that in steady training neither side sleeps. Waking a sleeping thread is a system
// call on the waker's side, and in a virtual machine an interrupt to another CPU: it took 14 % of
// the seed MLP's training profile (bench/README.md, "Batch prefetching").
constexpr auto kSpin = std::chrono::microseconds(1000);

// Rows gathered between two looks at the side core: an offered part waits 1.6 us on average with 4
// of the MLP's rows, 3.3 with 8, 6.9 with 16 (bench/README.md, "A side core for the MLP's step").
constexpr int64_t kGatherChunk = 4;
}  // namespace

BatchPrefetcher::BatchPrefetcher(std::vector<Tensor> arrays, int64_t batch_size, bool background, bool own_core)
    : arrays_(std::move(arrays)),
      batch_size_(batch_size),
      background_(background),
      own_core_(background && own_core),
      lend_(own_core_ && num_threads() == 1) {
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
  stop_ = true;
  wake();
  thread_.join();
}

template <class Ready>
void BatchPrefetcher::wait_until(Ready ready) {
  if (own_core_) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (!ready() && std::chrono::steady_clock::now() < until) kernels::cpu_relax();
  }
  if (ready()) return;
  // Counted as a sleeper under the mutex before the state is checked again: a side that changes the
  // state and then takes the mutex either is seen by that check or sees the sleeper and notifies.
  std::unique_lock<std::mutex> lock(mutex_);
  ++sleepers_;
  cv_.wait(lock, ready);
  --sleepers_;
}

void BatchPrefetcher::wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sleepers_ > 0) cv_.notify_all();
}

int64_t BatchPrefetcher::rows_in(int64_t step) const {
  return std::min(batch_size_, int64_t(order_->size()) - step * batch_size_);
}

void BatchPrefetcher::copy_rows(int slot, int64_t step, int64_t first, int64_t n, int64_t ahead) {
  const int64_t* rows = order_->data() + step * batch_size_ + first;
  for (size_t a = 0; a < arrays_.size(); ++a) {
    const Tensor& src = arrays_[a];
    const int64_t width = src.row_size();
    kernels::prefetch_rows(src.data(), width, rows + n, ahead);
    kernels::gather_rows(src.data(), width, rows, n, batch_[slot][a].data() + first * width, !background_);
  }
}

void BatchPrefetcher::gather(int slot, int64_t step) {
  const int64_t count = rows_in(step);
  // The buffers keep their capacity: resizing to the (possibly shorter) last batch allocates nothing.
  for (auto& b : batch_[slot]) b.resize_rows(count);
  // On the background thread the copy stays serial: an OpenMP team started from it would compete
  // with the training step's own threads.
  if (!lend_) {
    copy_rows(slot, step, 0, count, 0);
  } else {
    // A lending thread copies in chunks claimed one at a time, serving the step's offered parts in
    // between (the step waits on those, the next batch not before the step ends) and asking for each
    // next chunk's rows before it copies the current one. A step that ends before the batch is
    // gathered claims chunks too (help_gather).
    next_row_[slot].store(0, std::memory_order_relaxed);
    rows_done_[slot].store(0, std::memory_order_relaxed);
    gathering_step_[slot].store(step, std::memory_order_release);
    for (;;) {
      const int64_t r = next_row_[slot].fetch_add(kGatherChunk, std::memory_order_relaxed);
      if (r >= count) break;
      const int64_t n = std::min(kGatherChunk, count - r);
      copy_rows(slot, step, r, n, std::min(kGatherChunk, count - r - n));
      rows_done_[slot].fetch_add(n, std::memory_order_release);
      side_core_.serve();
    }
    // Chunks the step claimed may still be copying.
    while (rows_done_[slot].load(std::memory_order_acquire) < count) kernels::cpu_relax();
  }
  if (transform_) transform_(batch_[slot][0]);
}

void BatchPrefetcher::help_gather(int slot) {
  wait_until([&] {
    return ready_step_[slot] == step_ || gathering_step_[slot].load(std::memory_order_acquire) == step_;
  });
  if (ready_step_[slot] == step_) return;
  // Rows this thread copies land in its own cache, where the step reads them next: they cost less
  // here than on the gathering thread, which writes into lines this core read two steps ago.
  const int64_t count = rows_in(step_);
  for (;;) {
    const int64_t r = next_row_[slot].fetch_add(kGatherChunk, std::memory_order_relaxed);
    if (r >= count) return;
    const int64_t n = std::min(kGatherChunk, count - r);
    copy_rows(slot, step_, r, n, 0);
    rows_done_[slot].fetch_add(n, std::memory_order_release);
    rows_gathered_by_caller_ += n;
  }
}

void BatchPrefetcher::request(int slot, int64_t step) {
  if (!background_) return;
  requested_step_[slot] = step;
  pending_[slot] = true;
  wake();
}

void BatchPrefetcher::worker() {
  for (;;) {
    wait_until([&] { return stop_ || pending_[0] || pending_[1] || side_core_.offered(); });
    if (stop_) return;
    // An offered part first: the step waits on it. The offer may have been taken back meanwhile.
    if (side_core_.serve() || !(pending_[0] || pending_[1])) continue;
    const int slot = pending_[0] ? 0 : 1;
    const int64_t step = requested_step_[slot];
    pending_[slot] = false;
    gather(slot, step);
    ready_step_[slot] = step;
    wake();
  }
}

void BatchPrefetcher::start_epoch(const std::vector<int64_t>& order) {
  // Checked once an epoch, on the caller's thread: the gathering then copies rows unchecked.
  const int64_t rows = arrays_.empty() ? 0 : arrays_[0].rows();
  for (const int64_t i : order)
    if (i < 0 || i >= rows)
      throw ShapeError("batch order names row " + std::to_string(i) + ", outside the " + std::to_string(rows) +
                       " rows of the data");
  order_ = &order;
  steps_ = (int64_t(order.size()) + batch_size_ - 1) / batch_size_;
  step_ = 0;
  ready_step_[0] = ready_step_[1] = -1;
  gathering_step_[0] = gathering_step_[1] = -1;
  request(0, 0);
}

const std::vector<Tensor>& BatchPrefetcher::next() {
  const int slot = int(step_ % 2);
  if (background_) {
    if (lend_) help_gather(slot);
    wait_until([&] { return ready_step_[slot] == step_; });
  } else {
    gather(slot, step_);
  }
  if (step_ + 1 < steps_) request(1 - slot, step_ + 1);
  ++step_;
  return batch_[slot];
}

}  // namespace myelin
