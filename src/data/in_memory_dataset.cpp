#include <algorithm>
#include <numeric>

#include "data/dataset_shapes.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"

namespace myelin::data {

InMemoryDataset::InMemoryDataset(Tensor x, Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  if (x_.ndim() < 1 || y_.ndim() < 1)
    throw ShapeError("InMemoryDataset: x and y need a batch dimension, got shapes " + shape_to_string(x_.shape()) +
                     " and " + shape_to_string(y_.shape()));
  if (x_.rows() != y_.rows())
    throw ShapeError("InMemoryDataset: x has " + std::to_string(x_.rows()) + " rows but y has " +
                     std::to_string(y_.rows()));
}

Shape InMemoryDataset::x_shape() const { return detail::sample_shape(x_.shape()); }
Shape InMemoryDataset::y_shape() const { return detail::sample_shape(y_.shape()); }

void InMemoryDataset::start_epoch(uint64_t seed, bool shuffle) {
  order_.resize(static_cast<size_t>(x_.rows()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle) {
    // The same permutation fit(x, y) draws from this seed.
    Rng rng(seed);
    rng.shuffle(order_);
  }
  next_ = 0;
}

int64_t InMemoryDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (max_rows <= 0) throw ValueError("InMemoryDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  if (order_.empty() && x_.rows() > 0) start_epoch(0, false);  // read before any start_epoch: file order
  const int64_t rows = std::min<int64_t>(max_rows, static_cast<int64_t>(order_.size()) - next_);
  x.resize(detail::batch_shape(rows, x_shape()));
  y.resize(detail::batch_shape(rows, y_shape()));
  if (rows == 0) return 0;
  // The model may call this on its background thread while kernels use the others: copy on this one.
  x.gather_rows_from(x_, order_.data() + next_, rows, /*use_threads=*/false);
  y.gather_rows_from(y_, order_.data() + next_, rows, /*use_threads=*/false);
  next_ += rows;
  return rows;
}

}  // namespace myelin::data
