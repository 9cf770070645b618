// BatchStream: the batches of one training epoch as this process sees them, from arrays in memory
// or from a Dataset. With several processes (distributed training) every rank walks the same global
// order in steps of ranks * batch_size rows and keeps its own slice of each step, so that N ranks
// with batch B see exactly the rows one process with batch N*B sees.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kernels/cpu/side_core.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/random.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

/// One step's rows for this rank: one tensor per model input (x), per output (y), and per output
/// sample weights (w, empty when there are none). `x` is empty at the end of the epoch; its tensors
/// may have 0 rows when a short last step has fewer rows than there are ranks.
struct StepBatch {
  std::span<const Tensor> x, y, w;
  int64_t global_rows = 0;  ///< rows of the step over all ranks (what the loss is averaged over)
  bool end() const { return x.empty(); }
};

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  /// Starts an epoch; the order is drawn from `rng` when shuffling.
  virtual void start_epoch(Rng& rng, bool shuffle) = 0;
  /// Steps per epoch, or -1 when the source does not know its length yet.
  virtual int64_t steps() const = 0;
  virtual StepBatch next() = 0;
  /// Whether every row was checked before training (arrays are; a file's rows are checked as read).
  virtual bool prechecked() const = 0;
  /// Applied to every batch's first input as it is read (on the data thread when there is one),
  /// before the rows are split between ranks; set between epochs. Values only, not the shape.
  virtual void set_input_transform(std::function<void(Tensor&)> transform) = 0;
  /// The data thread's core, when it has one of its own to lend to the training step (SideCore).
  virtual kernels::SideCore* side_core() { return nullptr; }
};

/// Batches of `batch_size` rows per rank from arrays sharing their row count: inputs x, targets y
/// and sample weights w (none, or one per target), gathered on a background thread when `background`;
/// `own_core`: no compute thread uses that thread's core (BatchPrefetcher).
std::unique_ptr<BatchStream> make_tensor_stream(const std::vector<Tensor>& x, const std::vector<Tensor>& y,
                                                const std::vector<Tensor>& w, int64_t batch_size, bool background,
                                                bool own_core = false);
/// Batches of `batch_size` rows per rank read from a dataset (on a background thread when
/// `background`).
std::unique_ptr<BatchStream> make_dataset_stream(data::Dataset& data, int64_t batch_size, bool background);

}  // namespace myelin
