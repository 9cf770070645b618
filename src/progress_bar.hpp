// Keras's per-epoch progress display: a live bar (verbose=1) or one line per epoch (verbose=2).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "myelin/history.hpp"

namespace myelin {

class ProgressBar {
 public:
  /// `steps` batches in the epoch (-1 when unknown, as for a streamed file's first epoch: the bar then
  /// shows "12/Unknown", as Keras's); verbose 1 redraws a bar, 2 prints only the final line.
  ProgressBar(int64_t steps, int verbose, std::FILE* out = stdout);
  /// After batch `step` (1-based) with the running logs. Redraws at most every 50 ms: the bar must
  /// not cost the training loop anything measurable.
  void update(int64_t step, const Logs& logs);
  /// The epoch's final line with its logs (validation included).
  /// `steps_done` is the number of batches when the epoch's length was unknown.
  void finish(const Logs& logs, int64_t steps_done = -1);

 private:
  void draw(int64_t step, const Logs& logs, bool final);
  int64_t steps_;
  int verbose_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace myelin
