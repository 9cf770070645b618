// The arrays fit, evaluate, predict and train_on_batch are given: put in the order of the model's
// inputs and outputs (from a tensor, a list or a map by layer name) and checked once, at the boundary,
// with errors that name the array, the key and the row.
#include <algorithm>
#include <cmath>
#include <limits>

#include "graph/graph.hpp"
#include "kernels/cpu/checks.hpp"
#include "kernels/cpu/loss.hpp"
#include "myelin/error.hpp"
#include "myelin/model.hpp"

namespace myelin {

namespace {
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// "x" for a model with one input, "x[1] ('b')" with several: how messages name an array.
std::string array_label(const char* arg, size_t k, size_t n, const std::vector<std::string>& names) {
  if (n == 1) return arg;
  return std::string(arg) + "[" + std::to_string(k) + "] ('" + names[k] + "')";
}
}  // namespace

Model::Arrays Model::Arrays::slice(int64_t begin, int64_t end) const {
  Arrays out;
  for (const auto& t : x) out.x.push_back(t.rows(begin, end));
  for (const auto& t : y) out.y.push_back(t.rows(begin, end));
  for (const auto& t : w) out.w.push_back(t.rows(begin, end));
  return out;
}

std::vector<std::string> Model::input_names_for_data() const {
  if (graph_) return input_names();
  // A Sequential gets its graph at build: its one input is named by its InputLayer, if any.
  if (!layers_.empty() && layers_[0]->class_name() == "InputLayer") return {layers_[0]->name()};
  return {"input"};
}

void Model::order_arrays(const DataArg& a, bool inputs, const char* what, const char* arg, std::vector<Tensor>& out) {
  // Names are looked up only where needed (a map, an error): a step given tensors allocates nothing.
  const size_t n = inputs ? (graph_ ? graph_->inputs().size() : 1) : graph_->outputs().size();
  const char* role = inputs ? "input" : "output";
  auto names = [&] { return inputs ? input_names_for_data() : output_names(); };
  auto count_error = [&](const std::string& got) {
    return ValueError(std::string(what) + ": " + arg + " is " + got + " but " + kind() + " has " + std::to_string(n) +
                      " " + role + "s (" + joined(names()) + "); give one array per " + role +
                      ", as a list in that order or a map by " + role + " name");
  };
  out.resize(n);
  switch (a.kind()) {
    case DataArg::Kind::None:
      throw ValueError(std::string(what) + ": " + arg + " is required");
    case DataArg::Kind::One:
      // One sample-weight array serves every output, as in Keras.
      if (n != 1 && std::string(arg) != "sample_weight")
        throw count_error("one array");
      for (auto& t : out) t = a.one();
      return;
    case DataArg::Kind::List:
      if (a.list().size() != n) throw count_error("a list of " + std::to_string(a.list().size()) + " arrays");
      for (size_t k = 0; k < n; ++k) out[k] = a.list()[k];
      return;
    case DataArg::Kind::Map: {
      const auto ns = names();
      for (const auto& [key, value] : a.map())
        if (std::find(ns.begin(), ns.end(), key) == ns.end())
          throw ValueError(std::string(what) + ": " + arg + "['" + key + "'] names no " + role + " of " + kind() +
                           " (" + role + "s: " + joined(ns) + ")");
      for (size_t k = 0; k < n; ++k) {
        auto it = a.map().find(ns[k]);
        if (it == a.map().end())
          throw ValueError(std::string(what) + ": " + arg + " has no array for " + role + " '" + ns[k] + "'");
        out[k] = it->second;
      }
      return;
    }
  }
}

void Model::resolve_arrays(const DataArg& x, const DataArg& y, const DataArg& w, const char* what, Arrays& out) {
  order_arrays(x, /*inputs=*/true, what, "x", out.x);
  ensure_built(out.x, what);
  order_arrays(y, /*inputs=*/false, what, "y", out.y);
  if (w.empty()) out.w.clear();
  else order_arrays(w, /*inputs=*/false, what, "sample_weight", out.w);
}

void Model::ensure_built(std::span<const Tensor> x, const char* what) {
  for (size_t k = 0; k < x.size(); ++k)
    if (x[k].ndim() < 2 || x[k].rows() == 0)
      throw ShapeError(std::string(what) + ": " + array_label("x", k, x.size(), input_names_for_data()) +
                       " must have a batch dimension and at least one row, got shape " + shape_to_string(x[k].shape()));
  if (built_) return;  // no Shape once built: steps allocate nothing
  std::vector<Shape> shapes;
  for (const auto& t : x) shapes.emplace_back(t.shape().begin() + 1, t.shape().end());
  build_for_data(shapes);
}

void Model::build_for_data(const std::vector<Shape>& sample_shapes) {
  if (built_) return;
  // A declared input shape wins (a functional model's Inputs declare theirs); otherwise the data's
  // rows say what the model takes.
  if (!sequential_ || layers_.empty() || layers_[0]->declared_input_shape()) build();
  else build(sample_shapes.at(0));
}

void Model::check_input_shapes(std::span<const Tensor> x, const char* what) const {
  for (size_t k = 0; k < x.size(); ++k) {
    const Shape& want = input_shapes_[k];
    if (!std::equal(x[k].shape().begin() + 1, x[k].shape().end(), want.begin(), want.end()))
      throw ShapeError(std::string(what) + ": " + array_label("x", k, x.size(), input_names()) + " has shape " +
                       shape_to_string(x[k].shape()) + " but the model expects " +
                       shape_to_string(with_batch(-1, want), true));
  }
  // The values the layers reading an input take (an Embedding's ids), checked on the whole array so
  // that an error names the caller's row, not a row of a shuffled batch.
  const auto& nodes = graph_->nodes();
  for (size_t k = 0; k < x.size() && k < graph_->inputs().size(); ++k)
    for (int c : nodes[size_t(graph_->inputs()[k])].consumers) {
      if (!nodes[size_t(c)].layer) continue;
      try {
        nodes[size_t(c)].layer->check_model_input(x[k]);
      } catch (const IndexError& e) {
        throw IndexError(std::string(what) + ": " + array_label("x", k, x.size(), input_names()) + ": " + e.what());
      }
    }
}

void Model::check_inputs(std::span<const Tensor> x, const char* what) const {
  check_input_shapes(x, what);
  for (size_t k = 0; k < x.size(); ++k) {
    const Tensor& t = x[k];
    const int64_t i = kernels::first_non_finite(t.data(), t.size());
    if (i >= 0)
      throw ValueError(std::string(what) + ": " + array_label("x", k, x.size(), input_names()) + " holds " +
                       std::to_string(t[i]) + " at row " + std::to_string(i / t.row_size()) + " (column " +
                       std::to_string(i % t.row_size()) + "); inputs must be finite");
  }
}

void Model::check_targets(std::span<const Tensor> y) const {
  for (size_t k = 0; k < y.size(); ++k) {
    const Shape& shape = graph_->nodes()[size_t(outputs_[k].node)].shape;
    // A NaN or infinite target would turn the loss, then every weight, into NaN.
    const int64_t bad = kernels::first_non_finite(y[k].data(), y[k].size());
    if (bad >= 0)
      throw ValueError((y.size() > 1 ? "y for output '" + outputs_[k].name + "'" : std::string("y")) + " holds " +
                       std::to_string(y[k][bad]) + " at row " + std::to_string(bad / y[k].row_size()) + " (column " +
                       std::to_string(bad % y[k].row_size()) + "); targets must be finite");
    if (y.size() == 1) {
      outputs_[k].loss->check_targets(y[k], shape);
      continue;
    }
    // With several outputs the message says which one.
    try {
      outputs_[k].loss->check_targets(y[k], shape);
    } catch (const ShapeError& e) {
      throw ShapeError("y for output '" + outputs_[k].name + "': " + e.what());
    } catch (const ValueError& e) {
      throw ValueError("y for output '" + outputs_[k].name + "': " + e.what());
    }
  }
}

void Model::check_arrays(const Arrays& a, const char* what) {
  // Names are looked up only for a message: train_on_batch's checks allocate nothing.
  const int64_t rows = a.rows();
  auto check_rows = [&](const std::vector<Tensor>& arrays, const char* arg, bool inputs) {
    for (size_t k = 0; k < arrays.size(); ++k)
      if (arrays[k].rows() != rows)
        throw ShapeError(std::string(what) + ": " + array_label("x", 0, a.x.size(), input_names()) + " has " +
                         std::to_string(rows) + " rows but " +
                         array_label(arg, k, arrays.size(), inputs ? input_names() : output_names()) + " has " +
                         std::to_string(arrays[k].rows()) + "; every array needs one row per sample");
  };
  check_rows(a.x, "x", true);
  check_rows(a.y, "y", false);
  check_rows(a.w, "sample_weight", false);
  check_inputs(a.x, what);
  try {
    check_targets(a.y);
  } catch (const ShapeError& e) {
    throw ShapeError(std::string(what) + ": " + e.what());
  } catch (const ValueError& e) {
    throw ValueError(std::string(what) + ": " + e.what());
  }
  check_sample_weights(a.w, rows, what);
}

void Model::check_sample_weights(std::span<const Tensor> w, int64_t rows, const char* what) const {
  for (size_t k = 0; k < w.size(); ++k) {
    const Tensor& t = w[k];
    auto label = [&] { return array_label("sample_weight", k, w.size(), output_names()); };
    if (t.ndim() > 2 || t.row_size() != 1)
      throw ShapeError(std::string(what) + ": " + label() + " has shape " + shape_to_string(t.shape()) +
                       "; sample weights hold one value per sample, shape (" + std::to_string(rows) + ",)");
    if (t.rows() != rows)
      throw ShapeError(std::string(what) + ": x has " + std::to_string(rows) + " rows but " + label() + " has " +
                       std::to_string(t.rows()) + "; every array needs one row per sample");
    const int64_t r = kernels::first_outside(t.data(), t.size(), 0.f, std::numeric_limits<float>::max());
    if (r >= 0)
      throw ValueError(std::string(what) + ": " + label() + " holds " + std::to_string(t[r]) + " at row " +
                       std::to_string(r) + "; sample weights must be finite and >= 0");
  }
}

const Tensor* Model::step_weights(size_t k, std::span<const Tensor> y, std::span<const Tensor> w, bool class_weights) {
  Output& o = outputs_[k];
  const Tensor* sample = w.empty() ? nullptr : &w[k];
  if (!class_weights || !o.class_weighted) return sample;
  // Keras's class_weight: each sample weighs its class's weight (1 for a class left out); the class
  // is the target itself for one value per sample, else the arg-max of its (one-hot) row.
  const Tensor& t = y[k];
  const int64_t rows = t.rows(), width = t.row_size();
  if (o.weights.ndim() != 1 || o.weights_capacity < rows) {
    o.weights = Tensor(Shape{rows});
    o.weights_capacity = rows;
  }
  o.weights.resize_rows(rows);
  kernels::class_sample_weights(t.data(), rows, width, class_weight_classes_.data(), class_weight_values_.data(),
                                int64_t(class_weight_classes_.size()), sample ? sample->data() : nullptr,
                                o.weights.data());
  return &o.weights;
}

}  // namespace myelin
