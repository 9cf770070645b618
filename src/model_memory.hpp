// What a model's layers need in memory, worked out from their plans (Layer::plan) before
// anything is allocated, and the checks of those needs against memory_limit(). The model calls
// them where it builds, compiles and takes a batch size; errors are ResourceError.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

class Optimizer;

struct ModelMemory {
  struct Entry {
    const Layer* layer;
    size_t index;
    Shape input, output;  // per sample
    int64_t trainable = 0, non_trainable = 0, buffers = 0;
  };
  /// The layers that could be planned, from the first: all of them unless one cannot tell
  /// (Layer::plan returned nullopt) or its input shape is wrong (build() then reports it).
  std::vector<Entry> layers;
  double input_values = 0;   ///< per sample
  double output_values = 0;  ///< per sample, every layer's output added up

  /// Bytes of the weights alone; with their gradients and `optimizer`'s state (null: none yet).
  double weight_bytes() const;
  double training_bytes(const Optimizer* optimizer) const;
  /// Bytes of a batch's activations per row, for training (outputs, their gradients, a buffer such
  /// as a pre-activation or a dropout mask, the gathered input twice) or inference (outputs).
  double activation_bytes_per_row(bool training) const;
  /// Bytes per row of the widest tensor of a forward pass: the input or one layer's output.
  double widest_output_bytes_per_row() const;
};

namespace graph {
class Graph;
}

/// Plans the graph's layers from the per-sample `input_shapes`, without allocating; a shared layer's
/// weights count once, each call's output once.
ModelMemory plan_memory(const graph::Graph& graph, const std::vector<Shape>& input_shapes);

/// Throws ResourceError when the weights, their gradients and `optimizer`'s state exceed
/// memory_limit(), naming the largest layer, its shapes and the bytes (`who` starts the message:
/// "Sequential 'm'"). Within an active TensorBudget (load_model), a need beyond the budget throws
/// its IOError first: the file cannot describe such a model.
void check_weights_fit(const ModelMemory& m, const Optimizer* optimizer, const std::string& who);

/// The rows predict() runs at once for a batch of `batch_rows`: all of them, unless the widest
/// output of that many rows exceeds twice the L2 caches of the threads (num_threads()); then the
/// largest multiple of 16 rows (at least 16) within that bound. Rows are independent in inference,
/// so slicing changes predictions by float rounding at most.
int64_t inference_slice_rows(const ModelMemory& m, int64_t batch_rows);

/// Throws ResourceError when the weights and the activations of a batch of `rows` rows exceed
/// memory_limit(); the message names the largest batch size that fits (`what`: "fit", "predict").
/// Needs under 16 MiB are not checked: predict() on a few rows is called often.
void check_batch_fits(const ModelMemory& m, const Optimizer* optimizer, int64_t rows, bool training,
                      const std::string& what);

}  // namespace myelin
