// SideCore: a core that a data thread lends to a one-thread computation between its own jobs.
//
// During fit of a light model on two cores, one thread gathers batches on a core of its own and sits
// idle for half of each step (the seed MLP's gatherer). A product big enough to share is then cut in
// two: the compute thread offers one part to the side core, computes the other, and takes the
// offered part back to compute itself when the side core has not started it (busy, or asleep). Each
// part is computed the same way whichever thread runs it, so the results never depend on timing:
// only on whether a side core is lent, which depends on the model, the batch and the thread count
// alone.
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <vector>

namespace myelin::kernels {

class SideCore {
 public:
  /// On the compute thread: runs `mine` here and `theirs` on the side core if it picks it up in the
  /// meantime, otherwise here after `mine`; returns when both have run, rethrowing what either
  /// threw. `theirs` runs with one OpenMP thread wherever it runs.
  template <class Mine, class Theirs>
  void split(Mine&& mine, Theirs&& theirs) {
    using T = std::remove_reference_t<Theirs>;
    offer(&theirs, [](void* f) { (*static_cast<T*>(f))(); });
    std::exception_ptr error;
    try {
      mine();
    } catch (...) {
      error = std::current_exception();
    }
    settle();
    if (error) std::rethrow_exception(error);
  }

  /// On the lending thread: runs the part on offer, if there is one. Returns whether it ran one.
  bool serve();
  /// A buffer of at least `count` floats for an offered part's result, kept between calls (for the
  /// compute thread, before it offers the part).
  float* scratch(int64_t count) {
    if (int64_t(scratch_.size()) < count) scratch_.resize(count);
    return scratch_.data();
  }
  /// Whether a part waits to be picked up (for the lending thread's wait).
  bool offered() const { return state_.load(std::memory_order_relaxed) == kOffered; }

 private:
  enum State : int { kIdle, kOffered, kRunning, kDone };
  void offer(void* job, void (*run)(void*));
  // Takes the part back and runs it here if the side core has not started it, or waits for it to end.
  void settle();
  static void run_alone(void* job, void (*run)(void*));

  std::atomic<int> state_{kIdle};
  void* job_ = nullptr;  // written before kOffered is published, read after it is claimed
  void (*run_)(void*) = nullptr;
  std::vector<float> scratch_;
  std::exception_ptr error_;  // what the side core's part threw; read after kDone
};

/// The side core lent to the calling thread, or null. Only the thread that holds a loan sees it.
SideCore* lent_side_core();

/// The side core lent to the calling thread when a product of `work` multiply-adds over `rows` of
/// the batch's rows is worth sharing with it, else null: the thread computes with one OpenMP thread
/// (with a team the side core would add a small share, and a part taken back would run on another
/// thread count than the side core's, which could change its rounding), the product pays for the
/// hand-over, and the side core's share is a row or more.
SideCore* side_core_for(int64_t work, int64_t rows);

/// How many of a product's `rows` batch rows the side core takes: the last ones, the same count in a
/// layer's forward product and its weight gradient, so that the rows it reads in the one are those
/// it reads again in the other (bench/README.md, "A side core for the MLP's step").
int64_t side_core_rows(int64_t rows);

/// C[i][j] += theirs[i * cols + j] over rows x cols (C's row stride ldc): the side core's partial sum
/// of a product shared by the sum over the batch's rows (a weight gradient), added where the partial
/// sums meet.
void add_side_core_sum(const float* theirs, int64_t rows, int64_t cols, float* C, int64_t ldc);

/// Lends `core` (may be null) to the calling thread for this object's lifetime.
class SideCoreLoan {
 public:
  explicit SideCoreLoan(SideCore* core);
  ~SideCoreLoan();
  SideCoreLoan(const SideCoreLoan&) = delete;
  SideCoreLoan& operator=(const SideCoreLoan&) = delete;

 private:
  SideCore* previous_;
};

}  // namespace myelin::kernels
