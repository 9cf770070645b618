#include "model_memory.hpp"

#include <algorithm>
#include <cmath>

#include <unistd.h>

#include "graph/graph.hpp"
#include "myelin/error.hpp"
#include "myelin/memory_limit.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/threading.hpp"
#include "tensor_budget.hpp"

namespace myelin {

namespace {
constexpr double kFloat = sizeof(float);
// Reading the limit takes ~30 us (a few files under /proc and /sys), as long as predicting one row
// of a small model: batches needing less than this are not checked (a tensor that still cannot be
// allocated raises ResourceError itself).
constexpr double kUncheckedBatchBytes = double(16 << 20);

std::string layer_text(const ModelMemory::Entry& e) {
  return "layer " + std::to_string(e.index) + " '" + e.layer->name() + "' (" + e.layer->class_name() + " " +
         shape_to_string(with_batch(-1, e.input), true) + " → " + shape_to_string(with_batch(-1, e.output), true) + ")";
}

std::string limit_text(const MemoryLimit& limit) {
  return "this process may use " + format_bytes(double(limit.bytes)) + " (" + limit.source + ")";
}

std::string state_text(const Optimizer* optimizer) {
  if (!optimizer || optimizer->state_copies_per_weight() == 0) return "with their gradients";
  return "with their gradients and " + optimizer->name() + "'s state";
}
}  // namespace

double ModelMemory::weight_bytes() const {
  double values = 0;
  for (const auto& e : layers) values += double(e.trainable) + double(e.non_trainable);
  return values * kFloat;
}

double ModelMemory::training_bytes(const Optimizer* optimizer) const {
  const double copies = 1.0 + (optimizer ? optimizer->state_copies_per_weight() : 0);  // the gradient, the state
  double values = 0;
  for (const auto& e : layers) values += double(e.trainable) * (1.0 + copies) + double(e.non_trainable) + double(e.buffers);
  return values * kFloat;
}

double ModelMemory::activation_bytes_per_row(bool training) const {
  return (training ? 2 * input_values + 3 * output_values : output_values) * kFloat;
}

double ModelMemory::widest_output_bytes_per_row() const {
  double widest = input_values;
  for (const auto& e : layers) widest = std::max(widest, double(shape_size(e.output)));
  return widest * kFloat;
}

int64_t inference_slice_rows(const ModelMemory& m, int64_t batch_rows) {
  // bench/README.md, "predict's slices": a batch whose activations leave the caches between
  // layers runs the seed CNN 1.4x slower than 64-96-row slices; that plateau is 2x the threads' L2.
  static const double l2_bytes = [] {
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return reported > 0 ? double(reported) : double(2 << 20);
  }();
  constexpr int64_t kGranule = 16;  // Winograd's smallest batch (kernels/cpu/conv.cpp)
  const double budget = 2.0 * l2_bytes * double(num_threads());
  const double per_row = m.widest_output_bytes_per_row();
  if (per_row <= 0 || double(batch_rows) * per_row <= budget) return batch_rows;
  const int64_t rows = int64_t(budget / per_row) / kGranule * kGranule;
  return std::min(batch_rows, std::max(kGranule, rows));
}

ModelMemory plan_memory(const graph::Graph& g, const std::vector<Shape>& input_shapes) {
  ModelMemory m;
  const auto& nodes = g.nodes();
  std::vector<std::optional<Shape>> shapes(nodes.size());
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    shapes[size_t(g.inputs()[k])] = input_shapes[k];
    m.input_values += double(shape_size(input_shapes[k]));
  }
  // In graph order, as far as every layer can tell: a layer that cannot (Layer::plan gives nullopt)
  // or whose input does not fit (build() reports it, naming the model and the layer) ends the plan.
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (n.is_input) continue;
    if (n.tap_of >= 0) {  // another output of a layer (an LSTM's state): no allocation of its own here
      if (!shapes[size_t(n.tap_of)]) return m;
      try {
        shapes[i] = nodes[size_t(n.tap_of)].layer->extra_output_shape(n.tap_output);
      } catch (const Error&) {
        return m;
      }
      continue;
    }
    std::vector<Shape> in;
    for (int j : n.inputs) {
      if (!shapes[size_t(j)]) return m;
      in.push_back(*shapes[size_t(j)]);
    }
    const Layer& l = *n.layer;
    if (in.size() == 1 && l.declared_input_shape() && *l.declared_input_shape() != in[0]) return m;
    std::optional<LayerPlan> p;
    try {
      p = l.plan_inputs(in);
    } catch (const Error&) {
      return m;
    }
    if (!p) return m;
    const bool first_call = n.first_call < 0;
    m.layers.push_back({&l, size_t(n.layer_index), in[0], p->output_shape, first_call ? p->trainable_values : 0,
                        first_call ? p->non_trainable_values : 0, p->buffer_values});
    m.output_values += double(shape_size(p->output_shape));
    shapes[i] = p->output_shape;
  }
  return m;
}

void check_weights_fit(const ModelMemory& m, const Optimizer* optimizer, const std::string& who) {
  if (m.layers.empty()) return;
  const double need = m.training_bytes(optimizer);
  const auto largest = std::max_element(m.layers.begin(), m.layers.end(), [](const auto& a, const auto& b) {
    return double(a.trainable) + double(a.non_trainable) < double(b.trainable) + double(b.non_trainable);
  });
  ModelMemory alone;
  alone.layers = {*largest};
  auto detail = [&] {
    std::string s = who + ": " + layer_text(*largest) + ": weights need " + format_bytes(alone.weight_bytes()) + " (" +
                    format_bytes(alone.training_bytes(optimizer)) + " " + state_text(optimizer) + ")";
    if (m.layers.size() > 1) s += "; the model's weights need " + format_bytes(need) + " " + state_text(optimizer);
    return s;
  };
  if (need <= double(int64_t(1) << 62)) TensorBudget::require(int64_t(need), detail);
  else TensorBudget::require(int64_t(1) << 62, detail);
  const MemoryLimit limit = memory_limit();
  if (need > double(limit.bytes)) throw ResourceError(detail() + "; " + limit_text(limit));
}

void check_batch_fits(const ModelMemory& m, const Optimizer* optimizer, int64_t rows, bool training,
                      const std::string& what) {
  if (m.layers.empty() || rows <= 0) return;
  const double weights = m.training_bytes(optimizer), per_row = m.activation_bytes_per_row(training);
  const double need = weights + per_row * double(rows);
  if (need < kUncheckedBatchBytes) return;
  const MemoryLimit limit = memory_limit();
  if (need <= double(limit.bytes)) return;
  const auto widest = std::max_element(m.layers.begin(), m.layers.end(), [](const auto& a, const auto& b) {
    return shape_size(a.output) < shape_size(b.output);
  });
  std::string message = what + ": a batch of " + std::to_string(rows) + " rows needs " +
                        format_bytes(per_row * double(rows)) + " for its " + (training ? "training " : "") +
                        "activations (" + format_bytes(per_row) + " a row; the widest output is " + layer_text(*widest) +
                        ") besides " + format_bytes(weights) + " for the weights; " + limit_text(limit);
  const double fits = std::floor((double(limit.bytes) - weights) / per_row);
  if (fits >= 1) message += ": batch_size=" + std::to_string(int64_t(fits)) + " or less would fit";
  else message += ": not even one row fits beside the weights";
  throw ResourceError(message);
}

}  // namespace myelin
