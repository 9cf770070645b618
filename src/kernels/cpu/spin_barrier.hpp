// SpinBarrier: the threads of a team meet at it many times a call (a recurrent layer's steps at
// batch 1, one meeting every 1-3 us). OpenMP's barrier sleeps in the kernel under
// OMP_WAIT_POLICY=passive, which made such a sequence 5.6 times slower than on one thread; this one
// spins, and yields its core after a while so that an oversubscribed machine still moves on.
#pragma once
#include <atomic>
#include <thread>

#include "kernels/cpu/cpu_relax.hpp"

namespace myelin::kernels {

class SpinBarrier {
 public:
  /// The number of threads that meet; set before any of them arrives.
  void set_threads(int threads) { threads_ = threads; }

  /// Returns once all the threads have arrived; whatever a thread wrote before arriving is visible
  /// to every thread after.
  void arrive_and_wait() {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (waiting_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      waiting_.store(0, std::memory_order_relaxed);  // published by the release below
      generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == generation; ++spins) {
      if (spins < kSpinsBeforeYielding)
        cpu_relax();
      else
        std::this_thread::yield();
    }
  }

 private:
  static constexpr int kSpinsBeforeYielding = 1 << 12;  // tens of microseconds
  alignas(64) std::atomic<int> waiting_{0};
  alignas(64) std::atomic<unsigned> generation_{0};
  int threads_ = 1;
};

}  // namespace myelin::kernels
