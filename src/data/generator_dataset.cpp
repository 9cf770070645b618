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
    : next_(std::move(next)), x_shapes_(std::move(shapes.x)), y_shapes_(std::move(shapes.y)), w_count_(shapes.sample_weights) {
  if (!next_) throw ValueError("GeneratorDataset: the batch function is empty");
  if (x_shapes_.empty() || y_shapes_.empty()) throw ValueError("GeneratorDataset: needs at least one x and one y shape");
  if (w_count_ > 1 && w_count_ != y_shapes_.size())
    throw ValueError("GeneratorDataset: sample_weights must be 0, 1 or one per y array (" +
                     std::to_string(y_shapes_.size()) + "), got " + std::to_string(w_count_));
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
    const bool weights = std::string(arg) == "sample_weight";
    if (weights && (a.kind() == DataArg::Kind::None) != shapes.empty())
      throw ValueError(where + (shapes.empty() ? "sample_weight given, but the dataset was declared without sample "
                                                 "weights (ArrayShapes::sample_weights)"
                                               : "sample_weight is missing, but the dataset was declared with " +
                                                     std::to_string(shapes.size()) + " sample-weight array(s) per batch"));
    if (weights && shapes.empty()) return;
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
      Tensor t = arrays[k];
      if (t.ndim() < 1) throw ShapeError(where + label + " needs a batch dimension, got shape " + shape_to_string(t.shape()));
      if (weights) {
        if (t.ndim() > 2 || t.row_size() != 1)
          throw ShapeError(where + label + " has shape " + shape_to_string(t.shape()) +
                           "; sample weights hold one value per sample, shape (rows,)");
        t = t.reshape({t.rows()});
      } else if (detail::sample_shape(t.shape()) != shapes[k])
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
  take(batch.sample_weight, std::vector<Shape>(w_count_, Shape{}), "sample_weight");
  has_pending_ = true;
  offset_ = 0;
}

int64_t GeneratorDataset::read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y) {
  return read_weighted(max_rows, x, y, unused_w_);
}

int64_t GeneratorDataset::read_weighted(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y,
                                        std::vector<Tensor>& w) {
  if (max_rows <= 0) throw ValueError("GeneratorDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  if (epoch_ < 0) start_epoch(0, false);

  // Rows come from one or more of the user's batches; collect views of them, then copy once.
  const size_t nx = x_shapes_.size(), ny = y_shapes_.size(), n = nx + ny + w_count_;
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

  x.resize(nx);
  y.resize(ny);
  w.resize(w_count_);
  for (size_t a = 0; a < n; ++a) {
    Tensor& out = a < nx ? x[a] : a < nx + ny ? y[a - nx] : w[a - nx - ny];
    out.resize(detail::batch_shape(total, a < nx ? x_shapes_[a] : a < nx + ny ? y_shapes_[a - nx] : Shape{}));
    float* o = out.data();
    for (const auto& p : pieces) {
      if (p[a].size()) std::memcpy(o, p[a].data(), static_cast<size_t>(p[a].size()) * sizeof(float));
      o += p[a].size();
    }
  }
  return total;
}

}  // namespace myelin::data
