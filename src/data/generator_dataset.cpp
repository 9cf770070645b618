#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "data/dataset_shapes.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

GeneratorDataset::GeneratorDataset(Next next, Shape x_shape, Shape y_shape)
    : next_(std::move(next)), x_shape_(std::move(x_shape)), y_shape_(std::move(y_shape)) {
  if (!next_) throw ValueError("GeneratorDataset: the batch function is empty");
}

void GeneratorDataset::start_epoch(uint64_t /*seed*/, bool /*shuffle*/) {
  ++epoch_;
  batch_index_ = 0;
  pending_.reset();
  offset_ = 0;
  done_ = false;
}

int64_t GeneratorDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (max_rows <= 0) throw ValueError("GeneratorDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  if (epoch_ < 0) start_epoch(0, false);

  // Rows come from one or more of the user's batches; collect views of them, then copy once.
  std::vector<std::pair<Tensor, Tensor>> pieces;
  int64_t total = 0;
  while (total < max_rows && !done_) {
    if (!pending_ || offset_ >= pending_->x.rows()) {
      pending_ = next_(epoch_);
      offset_ = 0;
      if (!pending_) {
        done_ = true;
        break;
      }
      const std::string where = "GeneratorDataset, epoch " + std::to_string(epoch_) + ", batch " +
                                std::to_string(batch_index_) + " (both counted from 0): ";
      ++batch_index_;
      const Tensor& bx = pending_->x;
      const Tensor& by = pending_->y;
      if (bx.ndim() < 1 || by.ndim() < 1)
        throw ShapeError(where + "x and y need a batch dimension, got shapes " + shape_to_string(bx.shape()) + " and " +
                         shape_to_string(by.shape()));
      if (detail::sample_shape(bx.shape()) != x_shape_)
        throw ShapeError(where + "x has shape " + shape_to_string(bx.shape()) + ", per sample " +
                         shape_to_string(detail::sample_shape(bx.shape())) + ", expected " + shape_to_string(x_shape_));
      if (detail::sample_shape(by.shape()) != y_shape_)
        throw ShapeError(where + "y has shape " + shape_to_string(by.shape()) + ", per sample " +
                         shape_to_string(detail::sample_shape(by.shape())) + ", expected " + shape_to_string(y_shape_));
      if (bx.rows() != by.rows())
        throw ShapeError(where + "x has " + std::to_string(bx.rows()) + " rows but y has " + std::to_string(by.rows()));
      continue;  // an empty batch is skipped by the loop's test
    }
    const int64_t take = std::min(max_rows - total, pending_->x.rows() - offset_);
    pieces.emplace_back(pending_->x.rows(offset_, offset_ + take), pending_->y.rows(offset_, offset_ + take));
    offset_ += take;
    total += take;
  }

  x.resize(detail::batch_shape(total, x_shape_));
  y.resize(detail::batch_shape(total, y_shape_));
  float* xo = x.data();
  float* yo = y.data();
  for (const auto& [px, py] : pieces) {
    if (px.size()) std::memcpy(xo, px.data(), static_cast<size_t>(px.size()) * sizeof(float));
    if (py.size()) std::memcpy(yo, py.data(), static_cast<size_t>(py.size()) * sizeof(float));
    xo += px.size();
    yo += py.size();
  }
  return total;
}

}  // namespace myelin::data
