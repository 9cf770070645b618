#include <algorithm>
#include <numeric>

#include "data/dataset_shapes.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"

namespace myelin::data {

InMemoryDataset::InMemoryDataset(Tensor x, Tensor y)
    : InMemoryDataset(std::vector<Tensor>{std::move(x)}, std::vector<Tensor>{std::move(y)}) {}

InMemoryDataset::InMemoryDataset(std::vector<Tensor> x, std::vector<Tensor> y)
    : InMemoryDataset(std::move(x), std::move(y), {}) {}

InMemoryDataset::InMemoryDataset(std::vector<Tensor> x, std::vector<Tensor> y, std::vector<Tensor> sample_weight)
    : x_(std::move(x)), y_(std::move(y)), w_(std::move(sample_weight)) {
  if (x_.empty() || y_.empty())
    throw ValueError("InMemoryDataset: needs at least one x and one y array, got " + std::to_string(x_.size()) +
                     " and " + std::to_string(y_.size()));
  const bool several = x_.size() > 1 || y_.size() > 1;
  auto label = [&](const char* arg, size_t k) { return several ? std::string(arg) + "[" + std::to_string(k) + "]" : std::string(arg); };
  auto check = [&](const std::vector<Tensor>& arrays, const char* arg) {
    for (size_t k = 0; k < arrays.size(); ++k) {
      if (arrays[k].ndim() < 1)
        throw ShapeError("InMemoryDataset: " + label(arg, k) + " needs a batch dimension, got shape " +
                         shape_to_string(arrays[k].shape()));
      if (arrays[k].rows() != x_[0].rows())
        throw ShapeError("InMemoryDataset: " + label("x", 0) + " has " + std::to_string(x_[0].rows()) + " rows but " +
                         label(arg, k) + " has " + std::to_string(arrays[k].rows()));
    }
  };
  check(x_, "x");
  check(y_, "y");
  if (!w_.empty() && w_.size() != 1 && w_.size() != y_.size())
    throw ShapeError("InMemoryDataset: " + std::to_string(w_.size()) + " sample_weight arrays for " +
                     std::to_string(y_.size()) + " y arrays; give one for every output or one per y array");
  check(w_, "sample_weight");
  for (size_t k = 0; k < w_.size(); ++k) {
    if (w_[k].ndim() > 2 || w_[k].row_size() != 1)
      throw ShapeError("InMemoryDataset: " + label("sample_weight", k) + " has shape " + shape_to_string(w_[k].shape()) +
                       "; sample weights hold one value per sample, shape (" + std::to_string(x_[0].rows()) + ",)");
    w_[k] = w_[k].reshape({w_[k].rows()});
  }
}

Shape InMemoryDataset::x_shape() const { return detail::sample_shape(x_[0].shape()); }
Shape InMemoryDataset::y_shape() const { return detail::sample_shape(y_[0].shape()); }

std::vector<Shape> InMemoryDataset::x_shapes() const {
  std::vector<Shape> out;
  for (const auto& t : x_) out.push_back(detail::sample_shape(t.shape()));
  return out;
}

std::vector<Shape> InMemoryDataset::y_shapes() const {
  std::vector<Shape> out;
  for (const auto& t : y_) out.push_back(detail::sample_shape(t.shape()));
  return out;
}

void InMemoryDataset::start_epoch(uint64_t seed, bool shuffle) {
  order_.resize(static_cast<size_t>(size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle) {
    // The same permutation fit(x, y) draws from this seed.
    Rng rng(seed);
    rng.shuffle(order_);
  }
  next_ = 0;
}

int64_t InMemoryDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (x_.size() != 1 || y_.size() != 1)
    throw ValueError("InMemoryDataset::read: the dataset holds " + std::to_string(x_.size()) + " x and " +
                     std::to_string(y_.size()) + " y arrays; read them with read_arrays");
  std::vector<Tensor> xs{x}, ys{y};
  const int64_t rows = read_arrays(max_rows, xs, ys);
  x = xs[0];
  y = ys[0];
  return rows;
}

int64_t InMemoryDataset::read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y) {
  return read_weighted(max_rows, x, y, unused_w_);
}

int64_t InMemoryDataset::read_weighted(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y,
                                       std::vector<Tensor>& w) {
  if (max_rows <= 0) throw ValueError("InMemoryDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  if (order_.empty() && size() > 0) start_epoch(0, false);  // read before any start_epoch: file order
  const int64_t rows = std::min<int64_t>(max_rows, static_cast<int64_t>(order_.size()) - next_);
  auto fill = [&](const std::vector<Tensor>& from, std::vector<Tensor>& to) {
    to.resize(from.size());
    for (size_t k = 0; k < from.size(); ++k) {
      to[k].resize(detail::batch_shape(rows, detail::sample_shape(from[k].shape())));
      // The model may call this on its background thread while kernels use the others: copy on this one.
      if (rows) to[k].gather_rows_from(from[k], order_.data() + next_, rows, /*use_threads=*/false);
    }
  };
  fill(x_, x);
  fill(y_, y);
  fill(w_, w);
  next_ += rows;
  return rows;
}

}  // namespace myelin::data
