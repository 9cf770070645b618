#include "kernels/cpu/side_core.hpp"

#include <omp.h>

#include <utility>

#include "kernels/cpu/cpu_relax.hpp"

namespace myelin::kernels {

namespace {
thread_local SideCore* lent = nullptr;

// From 2^20 multiply-adds (about 10 us on one core) a product is shared: the hand-over costs a
// microsecond or two.
constexpr int64_t kSideCoreWork = int64_t(1) << 20;

// The side core's share of the batch's rows, in sixteenths: it gathers the next batch besides
// (bench/README.md, "The side core's share").
constexpr int64_t kSideShareSixteenths = 7;
}  // namespace

SideCore* lent_side_core() { return lent; }

SideCore* side_core_for(int64_t work, int64_t rows) {
  if (!lent || omp_get_max_threads() != 1 || work < kSideCoreWork || side_core_rows(rows) < 1) return nullptr;
  return lent;
}

int64_t side_core_rows(int64_t rows) { return rows * kSideShareSixteenths / 16; }

void add_side_core_sum(const float* theirs, int64_t rows, int64_t cols, float* C, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) {
    float* c = C + i * ldc;
    const float* t = theirs + i * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) c[j] += t[j];
  }
}

SideCoreLoan::SideCoreLoan(SideCore* core) : previous_(lent) { lent = core; }

SideCoreLoan::~SideCoreLoan() { lent = previous_; }

void SideCore::run_alone(void* job, void (*run)(void*)) {
  // The thread count is a per-thread setting: one here changes no other thread.
  const int threads = omp_get_max_threads();
  if (threads > 1) omp_set_num_threads(1);
  try {
    run(job);
  } catch (...) {
    if (threads > 1) omp_set_num_threads(threads);
    throw;
  }
  if (threads > 1) omp_set_num_threads(threads);
}

void SideCore::offer(void* job, void (*run)(void*)) {
  job_ = job;
  run_ = run;
  error_ = nullptr;
  state_.store(kOffered, std::memory_order_release);
}

bool SideCore::serve() {
  int expected = kOffered;
  if (!offered() || !state_.compare_exchange_strong(expected, kRunning, std::memory_order_acquire)) return false;
  try {
    run_alone(job_, run_);
  } catch (...) {
    error_ = std::current_exception();
  }
  state_.store(kDone, std::memory_order_release);
  return true;
}

void SideCore::settle() {
  int expected = kOffered;
  if (state_.compare_exchange_strong(expected, kIdle, std::memory_order_acquire)) {
    run_alone(job_, run_);
    return;
  }
  // The side core has the part and ends it within about the time this thread took for its own: the
  // step has nothing else to do meanwhile, and a sleep would cost a wake-up on the other side.
  while (state_.load(std::memory_order_acquire) != kDone) cpu_relax();
  state_.store(kIdle, std::memory_order_relaxed);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace myelin::kernels
