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

std::vector<Tensor> joined(const std::vector<Tensor>& x, const std::vector<Tensor>& y, const std::vector<Tensor>& w) {
  std::vector<Tensor> all(x);
  all.insert(all.end(), y.begin(), y.end());
  all.insert(all.end(), w.begin(), w.end());
  return all;
}

class TensorStream : public BatchStream {
 public:
  TensorStream(const std::vector<Tensor>& x, const std::vector<Tensor>& y, const std::vector<Tensor>& w,
               int64_t batch_size, bool background, bool own_core)
      : n_(x[0].rows()),
        nx_(x.size()),
        ny_(y.size()),
        nw_(w.size()),
        rank_(distributed::rank()),
        ranks_(distributed::size()),
        step_rows_(batch_size * ranks_),
        batches_(joined(x, y, w), batch_size, background, own_core) {
    order_.resize(n_);
    for (const auto& t : joined(x, y, w)) {
      Shape s = t.shape();
      s[0] = 0;
      empty_.emplace_back(s);
    }
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
  void set_input_transform(std::function<void(Tensor&)> transform) override {
    batches_.set_transform(std::move(transform));
  }
  kernels::SideCore* side_core() override { return batches_.side_core(); }

  StepBatch next() override {
    if (step_ >= steps()) return {};
    const int64_t rows = step_size(step_++);
    const auto [lo, hi] = rank_slice(rows, rank_, ranks_);
    const std::vector<Tensor>& b = lo == hi ? empty_ : batches_.next();
    const std::span<const Tensor> all(b);
    return {all.subspan(0, nx_), all.subspan(nx_, ny_), all.subspan(nx_ + ny_, nw_), rows};
  }

 private:
  int64_t step_size(int64_t s) const { return std::min(step_rows_, n_ - s * step_rows_); }

  int64_t n_;
  size_t nx_, ny_, nw_;
  int rank_, ranks_;
  int64_t step_rows_, step_ = 0;
  BatchPrefetcher batches_;
  std::vector<int64_t> order_, rank_order_;
  std::vector<Tensor> empty_;
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
  void set_input_transform(std::function<void(Tensor&)> transform) override {
    reader_.set_transform(std::move(transform));
  }

  StepBatch next() override {
    const DatasetPrefetcher::Rows b = reader_.next();
    if (!b) return {};
    const int64_t rows = (*b.x)[0].rows();
    // The step takes one weight array per output: a single one serves them all, as in Keras.
    const std::vector<Tensor>* w = b.w;
    if (w->size() == 1 && b.y->size() > 1) {
      w_all_.assign(b.y->size(), (*w)[0]);
      w = &w_all_;
    }
    if (ranks_ == 1) return {*b.x, *b.y, *w, rows};
    const std::pair<int64_t, int64_t> part = rank_slice(rows, rank_, ranks_);  // not a structured binding: clang 14 cannot capture one
    auto slice = [&](const std::vector<Tensor>& from, std::vector<Tensor>& to) {
      to.resize(from.size());
      for (size_t k = 0; k < from.size(); ++k) to[k] = from[k].rows(part.first, part.second);
    };
    slice(*b.x, x_view_);
    slice(*b.y, y_view_);
    slice(*w, w_view_);
    return {x_view_, y_view_, w_view_, rows};
  }

 private:
  data::Dataset& data_;
  int rank_, ranks_;
  int64_t step_rows_;
  DatasetPrefetcher reader_;
  std::vector<Tensor> x_view_, y_view_, w_view_, w_all_;
};

}  // namespace

std::unique_ptr<BatchStream> make_tensor_stream(const std::vector<Tensor>& x, const std::vector<Tensor>& y,
                                                const std::vector<Tensor>& w, int64_t batch_size, bool background,
                                                bool own_core) {
  return std::make_unique<TensorStream>(x, y, w, batch_size, background, own_core);
}

std::unique_ptr<BatchStream> make_dataset_stream(data::Dataset& data, int64_t batch_size, bool background) {
  return std::make_unique<DatasetStream>(data, batch_size, background);
}

}  // namespace myelin
