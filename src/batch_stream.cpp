#include "batch_stream.hpp"

#include <numeric>
#include <vector>

#include "batch_prefetcher.hpp"
#include "dataset_prefetcher.hpp"
#include "myelin/distributed.hpp"

namespace myelin {

namespace {

// This rank's share [lo, hi) of a step of `rows` rows: as equal as can be, in rank order.
std::pair<int64_t, int64_t> rank_slice(int64_t rows, int rank, int ranks) {
  return {rows * rank / ranks, rows * (rank + 1) / ranks};
}

Shape rows_of(int64_t n, const Shape& sample) {
  Shape s{n};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

class TensorStream : public BatchStream {
 public:
  TensorStream(const Tensor& x, const Tensor& y, int64_t batch_size, bool background)
      : n_(x.rows()),
        rank_(distributed::rank()),
        ranks_(distributed::size()),
        step_rows_(batch_size * ranks_),
        batches_(x, y, batch_size, background),
        empty_x_(rows_of(0, Shape(x.shape().begin() + 1, x.shape().end()))),
        empty_y_(rows_of(0, Shape(y.shape().begin() + 1, y.shape().end()))) {
    order_.resize(n_);
  }

  void start_epoch(Rng& rng, bool shuffle) override {
    std::iota(order_.begin(), order_.end(), 0);
    if (shuffle) rng.shuffle(order_);
    step_ = 0;
    if (ranks_ == 1) {
      batches_.start_epoch(order_);
      return;
    }
    rank_order_.clear();
    for (int64_t s = 0; s < steps(); ++s) {
      const auto [lo, hi] = rank_slice(step_size(s), rank_, ranks_);
      rank_order_.insert(rank_order_.end(), order_.begin() + s * step_rows_ + lo, order_.begin() + s * step_rows_ + hi);
    }
    batches_.start_epoch(rank_order_);
  }

  int64_t steps() const override { return (n_ + step_rows_ - 1) / step_rows_; }
  bool prechecked() const override { return true; }

  StepBatch next() override {
    if (step_ >= steps()) return {};
    const int64_t rows = step_size(step_++);
    const auto [lo, hi] = rank_slice(rows, rank_, ranks_);
    if (lo == hi) return {&empty_x_, &empty_y_, rows};
    const auto [xb, yb] = batches_.next();
    return {xb, yb, rows};
  }

 private:
  int64_t step_size(int64_t s) const { return std::min(step_rows_, n_ - s * step_rows_); }

  int64_t n_;
  int rank_, ranks_;
  int64_t step_rows_, step_ = 0;
  BatchPrefetcher batches_;
  std::vector<int64_t> order_, rank_order_;
  Tensor empty_x_, empty_y_;
};

class DatasetStream : public BatchStream {
 public:
  DatasetStream(data::Dataset& data, int64_t batch_size, bool background)
      : data_(data),
        rank_(distributed::rank()),
        ranks_(distributed::size()),
        step_rows_(batch_size * ranks_),
        reader_(data, step_rows_, background) {}

  void start_epoch(Rng& rng, bool shuffle) override { reader_.start_epoch(rng.next_u64(), shuffle); }

  int64_t steps() const override {
    const int64_t n = data_.size();
    return n < 0 ? -1 : (n + step_rows_ - 1) / step_rows_;
  }

  bool prechecked() const override { return false; }

  StepBatch next() override {
    const auto [xb, yb] = reader_.next();
    if (!xb) return {};
    const int64_t rows = xb->rows();
    if (ranks_ == 1) return {xb, yb, rows};
    const auto [lo, hi] = rank_slice(rows, rank_, ranks_);
    x_view_ = xb->rows(lo, hi);
    y_view_ = yb->rows(lo, hi);
    return {&x_view_, &y_view_, rows};
  }

 private:
  data::Dataset& data_;
  int rank_, ranks_;
  int64_t step_rows_;
  DatasetPrefetcher reader_;
  Tensor x_view_, y_view_;
};

}  // namespace

std::unique_ptr<BatchStream> make_tensor_stream(const Tensor& x, const Tensor& y, int64_t batch_size,
                                                bool background) {
  return std::make_unique<TensorStream>(x, y, batch_size, background);
}

std::unique_ptr<BatchStream> make_dataset_stream(data::Dataset& data, int64_t batch_size, bool background) {
  return std::make_unique<DatasetStream>(data, batch_size, background);
}

}  // namespace myelin
