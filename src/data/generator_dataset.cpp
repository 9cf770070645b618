#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "data/dataset_shapes.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

GeneratorDataset::GeneratorDataset(Next next, Shape x_shape, Shape y_shape)
    : GeneratorDataset(std::move(next), ArrayShapes{{std::move(x_shape)}, {std::move(y_shape)}}) {}

GeneratorDataset::GeneratorDataset(Next next, ArrayShapes shapes)
    : next_(std::move(next)), x_shapes_(std::move(shapes.x)), y_shapes_(std::move(shapes.y)) {
  if (!next_) throw ValueError("GeneratorDataset: the batch function is empty");
  if (x_shapes_.empty() || y_shapes_.empty()) throw ValueError("GeneratorDataset: needs at least one x and one y shape");
}

void GeneratorDataset::start_epoch(uint64_t /*seed*/, bool /*shuffle*/) {
  ++epoch_;
  batch_index_ = 0;
  has_pending_ = false;
  offset_ = 0;
  done_ = false;
}

int64_t GeneratorDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (x_shapes_.size() != 1 || y_shapes_.size() != 1)
    throw ValueError("GeneratorDataset::read: the dataset yields " + std::to_string(x_shapes_.size()) + " x and " +
                     std::to_string(y_shapes_.size()) + " y arrays; read them with read_arrays");
  std::vector<Tensor> xs{x}, ys{y};
  const int64_t rows = read_arrays(max_rows, xs, ys);
  x = xs[0];
  y = ys[0];
  return rows;
}

void GeneratorDataset::take_batch(Batch batch) {
  const std::string where = "GeneratorDataset, epoch " + std::to_string(epoch_) + ", batch " +
                            std::to_string(batch_index_) + " (both counted from 0): ";
  ++batch_index_;
  pending_.clear();
  const bool several = x_shapes_.size() > 1 || y_shapes_.size() > 1;
  auto take = [&](const DataArg& a, const std::vector<Shape>& shapes, const char* arg) {
    std::vector<Tensor> arrays;
    if (a.kind() == DataArg::Kind::One) arrays.push_back(a.one());
    else if (a.kind() == DataArg::Kind::List) arrays = a.list();
    else
      throw ValueError(where + arg + " must be a tensor or a list of tensors in the model's order" +
                       (a.kind() == DataArg::Kind::Map ? " (a map by name is not accepted here)" : ""));
    if (arrays.size() != shapes.size())
      throw ValueError(where + arg + " has " + std::to_string(arrays.size()) + " arrays, expected " +
                       std::to_string(shapes.size()));
    for (size_t k = 0; k < arrays.size(); ++k) {
      const std::string label = several ? std::string(arg) + "[" + std::to_string(k) + "]" : std::string(arg);
      const Tensor& t = arrays[k];
      if (t.ndim() < 1) throw ShapeError(where + label + " needs a batch dimension, got shape " + shape_to_string(t.shape()));
      if (detail::sample_shape(t.shape()) != shapes[k])
        throw ShapeError(where + label + " has shape " + shape_to_string(t.shape()) + ", per sample " +
                         shape_to_string(detail::sample_shape(t.shape())) + ", expected " + shape_to_string(shapes[k]));
      if (t.rows() != (pending_.empty() ? t.rows() : pending_[0].rows()))
        throw ShapeError(where + (several ? "x[0]" : "x") + " has " + std::to_string(pending_[0].rows()) +
                         " rows but " + label + " has " + std::to_string(t.rows()));
      pending_.push_back(t);
    }
  };
  take(batch.x, x_shapes_, "x");
  take(batch.y, y_shapes_, "y");
  has_pending_ = true;
  offset_ = 0;
}

int64_t GeneratorDataset::read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y) {
  if (max_rows <= 0) throw ValueError("GeneratorDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  if (epoch_ < 0) start_epoch(0, false);

  // Rows come from one or more of the user's batches; collect views of them, then copy once.
  const size_t n = x_shapes_.size() + y_shapes_.size();
  std::vector<std::vector<Tensor>> pieces;  // per piece: one view per array
  int64_t total = 0;
  while (total < max_rows && !done_) {
    if (!has_pending_ || offset_ >= pending_[0].rows()) {
      std::optional<Batch> b = next_(epoch_);
      if (!b) {
        done_ = true;
        has_pending_ = false;
        break;
      }
      take_batch(std::move(*b));
      continue;  // an empty batch is skipped by the loop's test
    }
    const int64_t take = std::min(max_rows - total, pending_[0].rows() - offset_);
    std::vector<Tensor> views;
    for (const auto& t : pending_) views.push_back(t.rows(offset_, offset_ + take));
    pieces.push_back(std::move(views));
    offset_ += take;
    total += take;
  }

  x.resize(x_shapes_.size());
  y.resize(y_shapes_.size());
  for (size_t a = 0; a < n; ++a) {
    const bool is_x = a < x_shapes_.size();
    Tensor& out = is_x ? x[a] : y[a - x_shapes_.size()];
    out.resize(detail::batch_shape(total, is_x ? x_shapes_[a] : y_shapes_[a - x_shapes_.size()]));
    float* o = out.data();
    for (const auto& p : pieces) {
      if (p[a].size()) std::memcpy(o, p[a].data(), static_cast<size_t>(p[a].size()) * sizeof(float));
      o += p[a].size();
    }
  }
  return total;
}

}  // namespace myelin::data
