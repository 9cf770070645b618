#include "myelin/data/preprocessing.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "myelin/error.hpp"
#include "myelin/random.hpp"

namespace myelin {

namespace {

// Maps each row of y to a class number 0..k-1 (classes in ascending label order). Rows of one
// value are labels; wider rows (one-hot or probabilities) count by their largest entry.
std::vector<int64_t> class_ids(const Tensor& y, int64_t& n_classes, const char* who) {
  const int64_t n = y.rows(), width = y.row_size();
  if (width == 0) throw ValueError(std::string(who) + ": y of shape " + shape_to_string(y.shape()) + " holds no labels");
  std::vector<float> labels(static_cast<size_t>(n));
  const float* p = y.data();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * width;
    if (width == 1) {
      labels[i] = row[0];
    } else {
      labels[i] = static_cast<float>(std::max_element(row, row + width) - row);
    }
    if (std::isnan(labels[i])) throw ValueError(std::string(who) + ": y holds NaN at row " + std::to_string(i));
  }
  std::map<float, int64_t> index;
  for (float v : labels) index.emplace(v, 0);
  int64_t k = 0;
  for (auto& [value, id] : index) id = k++;
  n_classes = k;
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[i] = index[labels[i]];
  return ids;
}

// Splits n_draws among classes in proportion to counts, rounding down and handing the rest to
// the largest remainders (ties in random order): the most likely outcome of drawing without
// replacement, as scikit-learn's _approximate_mode.
std::vector<int64_t> proportional_counts(const std::vector<int64_t>& counts, int64_t n_draws, Rng& rng) {
  const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  const size_t k = counts.size();
  std::vector<int64_t> out(k), rem(k);
  int64_t given = 0;
  for (size_t c = 0; c < k; ++c) {
    // 128-bit product: n_draws * count can exceed 64 bits only for absurd n, but costs nothing.
    const unsigned __int128 prod = static_cast<unsigned __int128>(n_draws) * static_cast<uint64_t>(counts[c]);
    out[c] = static_cast<int64_t>(prod / static_cast<uint64_t>(total));
    rem[c] = static_cast<int64_t>(prod % static_cast<uint64_t>(total));
    given += out[c];
  }
  std::vector<int64_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(order);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rem[a] > rem[b]; });
  for (int64_t i = 0; i < n_draws - given; ++i) ++out[order[static_cast<size_t>(i)]];
  return out;
}

void check_finite(const float* row, int64_t width, int64_t r, const char* who) {
  for (int64_t c = 0; c < width; ++c)
    if (!std::isfinite(row[c]))
      throw ValueError(std::string(who) + ": non-finite value " + std::to_string(row[c]) + " at row " +
                       std::to_string(r) + ", feature " + std::to_string(c));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// train_test_split

SplitResult train_test_split(const Tensor& x, const Tensor& y, double test_size, uint64_t random_state,
                             bool stratify) {
  if (!(test_size > 0.0 && test_size < 1.0))
    throw ValueError("train_test_split: test_size must be in (0, 1), got " + std::to_string(test_size));
  const int64_t n = x.shape().empty() ? 0 : x.rows();
  if (n == 0) throw ValueError("train_test_split: x has no rows (shape " + shape_to_string(x.shape()) + ")");
  if (y.shape().empty() || y.rows() != n)
    throw ShapeError("train_test_split: x has " + std::to_string(n) + " rows but y has shape " +
                     shape_to_string(y.shape()));
  const int64_t n_test = static_cast<int64_t>(std::ceil(test_size * static_cast<double>(n)));
  const int64_t n_train = n - n_test;
  if (n_train <= 0 || n_test <= 0)
    throw ValueError("train_test_split: test_size " + std::to_string(test_size) + " of " + std::to_string(n) +
                     " rows leaves " + std::to_string(n_train) + " for training and " + std::to_string(n_test) +
                     " for testing; both must be at least 1");

  Rng rng(random_state);
  std::vector<int64_t> train, test;
  if (!stratify) {
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    rng.shuffle(perm);
    test.assign(perm.begin(), perm.begin() + n_test);
    train.assign(perm.begin() + n_test, perm.end());
  } else {
    int64_t k = 0;
    const std::vector<int64_t> ids = class_ids(y, k, "train_test_split");
    std::vector<std::vector<int64_t>> members(static_cast<size_t>(k));
    for (int64_t i = 0; i < n; ++i) members[ids[i]].push_back(i);
    std::vector<int64_t> counts(static_cast<size_t>(k));
    for (int64_t c = 0; c < k; ++c) {
      counts[c] = static_cast<int64_t>(members[c].size());
      if (counts[c] < 2)
        throw ValueError("train_test_split: with stratify, every class needs at least 2 members; class " +
                         std::to_string(c) + " (in ascending label order) has 1");
    }
    if (n_train < k || n_test < k)
      throw ValueError("train_test_split: with stratify, both parts need at least one row per class (" +
                       std::to_string(k) + " classes), but they have " + std::to_string(n_train) + " and " +
                       std::to_string(n_test) + " rows");
    const std::vector<int64_t> train_counts = proportional_counts(counts, n_train, rng);
    std::vector<int64_t> left(counts.size());
    for (size_t c = 0; c < counts.size(); ++c) left[c] = counts[c] - train_counts[c];
    const std::vector<int64_t> test_counts = proportional_counts(left, n_test, rng);
    for (int64_t c = 0; c < k; ++c) {
      auto& m = members[c];
      rng.shuffle(m);
      train.insert(train.end(), m.begin(), m.begin() + train_counts[c]);
      test.insert(test.end(), m.begin() + train_counts[c], m.begin() + train_counts[c] + test_counts[c]);
    }
    // Otherwise each part would be ordered by class.
    rng.shuffle(train);
    rng.shuffle(test);
  }
  return {x.gather_rows(train), x.gather_rows(test), y.gather_rows(train), y.gather_rows(test)};
}

// ---------------------------------------------------------------------------------------------
// StandardScaler

void StandardScaler::check_features(const Tensor& x, const char* what) const {
  if (n_ == 0) throw ValueError(std::string("StandardScaler: ") + what + " called before fit");
  if (x.row_size() != static_cast<int64_t>(mean_d_.size()))
    throw ShapeError(std::string("StandardScaler: fitted on ") + std::to_string(mean_d_.size()) + " features, " +
                     what + " got shape " + shape_to_string(x.shape()) + " with " + std::to_string(x.row_size()));
}

StandardScaler& StandardScaler::fit(const Tensor& x) {
  if (x.rows() == 0 || x.empty())
    throw ValueError("StandardScaler: fit needs at least one row, got shape " + shape_to_string(x.shape()));
  n_ = 0;
  mean_d_.clear();
  m2_d_.clear();
  return partial_fit(x);
}

StandardScaler& StandardScaler::partial_fit(const Tensor& batch) {
  const int64_t nb = batch.rows(), f = batch.row_size();
  if (nb == 0 || batch.empty()) return *this;
  if (n_ > 0 && f != static_cast<int64_t>(mean_d_.size()))
    throw ShapeError("StandardScaler: fitted on " + std::to_string(mean_d_.size()) + " features, partial_fit got shape " +
                     shape_to_string(batch.shape()));
  // The batch's own mean and squared deviations, two passes in double.
  std::vector<double> bmean(static_cast<size_t>(f), 0.0), bm2(static_cast<size_t>(f), 0.0);
  const float* p = batch.data();
  for (int64_t r = 0; r < nb; ++r) {
    const float* row = p + r * f;
    check_finite(row, f, r, "StandardScaler");
    for (int64_t c = 0; c < f; ++c) bmean[c] += row[c];
  }
  for (auto& m : bmean) m /= static_cast<double>(nb);
  for (int64_t r = 0; r < nb; ++r) {
    const float* row = p + r * f;
    for (int64_t c = 0; c < f; ++c) {
      const double d = row[c] - bmean[c];
      bm2[c] += d * d;
    }
  }
  if (n_ == 0) {
    mean_d_ = std::move(bmean);
    m2_d_ = std::move(bm2);
  } else {
    // Chan, Golub & LeVeque's pairwise combination of two sets' statistics.
    const double na = static_cast<double>(n_), nbd = static_cast<double>(nb), nt = na + nbd;
    for (int64_t c = 0; c < f; ++c) {
      const double delta = bmean[c] - mean_d_[c];
      mean_d_[c] += delta * nbd / nt;
      m2_d_[c] += bm2[c] + delta * delta * na * nbd / nt;
    }
  }
  n_ += nb;
  update_public();
  return *this;
}

void StandardScaler::update_public() {
  const size_t f = mean_d_.size();
  mean_.resize(f);
  var_.resize(f);
  scale_.resize(f);
  scale_d_.resize(f);
  const double n = static_cast<double>(n_);
  for (size_t c = 0; c < f; ++c) {
    const double var = m2_d_[c] / n;
    // A constant feature can show a variance of rounding noise; anything below what the mean's
    // rounding could produce counts as zero (scikit-learn's test is of the same form).
    const double noise = n * DBL_EPSILON * mean_d_[c];
    const bool constant = var <= n * DBL_EPSILON * var + noise * noise;
    mean_[c] = static_cast<float>(mean_d_[c]);
    var_[c] = constant ? 0.f : static_cast<float>(var);
    scale_d_[c] = constant ? 1.0 : std::sqrt(var);
    scale_[c] = static_cast<float>(scale_d_[c]);
  }
}

Tensor StandardScaler::transform(const Tensor& x) const {
  check_features(x, "transform");
  Tensor out(x.shape());
  const int64_t f = x.row_size(), n = x.rows();
  const float* in = x.data();
  float* o = out.data();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < f; ++c) o[r * f + c] = static_cast<float>((in[r * f + c] - mean_d_[c]) / scale_d_[c]);
  return out;
}

Tensor StandardScaler::fit_transform(const Tensor& x) { return fit(x).transform(x); }

Tensor StandardScaler::inverse_transform(const Tensor& x) const {
  check_features(x, "inverse_transform");
  Tensor out(x.shape());
  const int64_t f = x.row_size(), n = x.rows();
  const float* in = x.data();
  float* o = out.data();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < f; ++c) o[r * f + c] = static_cast<float>(in[r * f + c] * scale_d_[c] + mean_d_[c]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// MinMaxScaler

MinMaxScaler::MinMaxScaler(float lo, float hi) : lo_(lo), hi_(hi) {
  if (!(lo < hi))
    throw ValueError("MinMaxScaler: feature_range must have min < max, got (" + std::to_string(lo) + ", " +
                     std::to_string(hi) + ")");
}

void MinMaxScaler::check_features(const Tensor& x, const char* what) const {
  if (!fitted()) throw ValueError(std::string("MinMaxScaler: ") + what + " called before fit");
  if (x.row_size() != static_cast<int64_t>(data_min_.size()))
    throw ShapeError(std::string("MinMaxScaler: fitted on ") + std::to_string(data_min_.size()) + " features, " +
                     what + " got shape " + shape_to_string(x.shape()) + " with " + std::to_string(x.row_size()));
}

MinMaxScaler& MinMaxScaler::fit(const Tensor& x) {
  if (x.rows() == 0 || x.empty())
    throw ValueError("MinMaxScaler: fit needs at least one row, got shape " + shape_to_string(x.shape()));
  data_min_.clear();
  data_max_.clear();
  return partial_fit(x);
}

MinMaxScaler& MinMaxScaler::partial_fit(const Tensor& batch) {
  const int64_t nb = batch.rows(), f = batch.row_size();
  if (nb == 0 || batch.empty()) return *this;
  if (fitted() && f != static_cast<int64_t>(data_min_.size()))
    throw ShapeError("MinMaxScaler: fitted on " + std::to_string(data_min_.size()) + " features, partial_fit got shape " +
                     shape_to_string(batch.shape()));
  const float* p = batch.data();
  if (!fitted()) {
    check_finite(p, f, 0, "MinMaxScaler");
    data_min_.assign(p, p + f);
    data_max_.assign(p, p + f);
  }
  for (int64_t r = 0; r < nb; ++r) {
    const float* row = p + r * f;
    check_finite(row, f, r, "MinMaxScaler");
    for (int64_t c = 0; c < f; ++c) {
      data_min_[c] = std::min(data_min_[c], row[c]);
      data_max_[c] = std::max(data_max_[c], row[c]);
    }
  }
  update_public();
  return *this;
}

void MinMaxScaler::update_public() {
  const size_t f = data_min_.size();
  scale_.resize(f);
  min_.resize(f);
  scale_d_.resize(f);
  min_d_.resize(f);
  for (size_t c = 0; c < f; ++c) {
    double range = static_cast<double>(data_max_[c]) - data_min_[c];
    if (range == 0.0) range = 1.0;
    scale_d_[c] = (static_cast<double>(hi_) - lo_) / range;
    min_d_[c] = lo_ - data_min_[c] * scale_d_[c];
    scale_[c] = static_cast<float>(scale_d_[c]);
    min_[c] = static_cast<float>(min_d_[c]);
  }
}

Tensor MinMaxScaler::transform(const Tensor& x) const {
  check_features(x, "transform");
  Tensor out(x.shape());
  const int64_t f = x.row_size(), n = x.rows();
  const float* in = x.data();
  float* o = out.data();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < f; ++c) o[r * f + c] = static_cast<float>(in[r * f + c] * scale_d_[c] + min_d_[c]);
  return out;
}

Tensor MinMaxScaler::fit_transform(const Tensor& x) { return fit(x).transform(x); }

Tensor MinMaxScaler::inverse_transform(const Tensor& x) const {
  check_features(x, "inverse_transform");
  Tensor out(x.shape());
  const int64_t f = x.row_size(), n = x.rows();
  const float* in = x.data();
  float* o = out.data();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < f; ++c) o[r * f + c] = static_cast<float>((in[r * f + c] - min_d_[c]) / scale_d_[c]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// to_categorical

Tensor to_categorical(const Tensor& labels, int64_t num_classes) {
  if (num_classes == 0 || num_classes < -1)
    throw ValueError("to_categorical: num_classes must be positive or -1 (infer), got " + std::to_string(num_classes));
  // Labels are floats: beyond 2^24 they are no longer exact integers, and the one-hot rows
  // would be absurdly wide anyway.
  constexpr float kMaxLabel = 16777216.f;
  const int64_t n = labels.size();
  const float* p = labels.data();
  float max_label = -1.f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = p[i];
    if (!std::isfinite(v) || v != std::floor(v) || v < 0.f || v >= kMaxLabel)
      throw ValueError("to_categorical: label " + std::to_string(v) + " at index " + std::to_string(i) +
                       " is not a non-negative integer below 2^24");
    if (num_classes > 0 && v >= static_cast<float>(num_classes))
      throw ValueError("to_categorical: label " + std::to_string(static_cast<int64_t>(v)) + " at index " +
                       std::to_string(i) + " is out of range for num_classes=" + std::to_string(num_classes));
    max_label = std::max(max_label, v);
  }
  if (num_classes == -1) {
    if (n == 0) throw ValueError("to_categorical: cannot infer num_classes from empty labels");
    num_classes = static_cast<int64_t>(max_label) + 1;
  }
  Shape shape = labels.shape();
  if (shape.size() > 1 && shape.back() == 1) shape.pop_back();
  shape.push_back(num_classes);
  Tensor out(shape);
  for (int64_t i = 0; i < n; ++i) out[i * num_classes + static_cast<int64_t>(p[i])] = 1.f;
  return out;
}

// ---------------------------------------------------------------------------------------------
// KFold, StratifiedKFold

namespace {
void check_n_splits(int n_splits, const char* who) {
  if (n_splits < 2)
    throw ValueError(std::string(who) + ": n_splits must be at least 2, got " + std::to_string(n_splits));
}

// Turns a fold number per row into {train, test} index lists, both ascending.
std::vector<FoldIndices> folds_from_assignment(const std::vector<int>& fold_of, int n_splits) {
  std::vector<FoldIndices> out(static_cast<size_t>(n_splits));
  const int64_t n = static_cast<int64_t>(fold_of.size());
  for (int64_t i = 0; i < n; ++i)
    for (int f = 0; f < n_splits; ++f) (fold_of[i] == f ? out[f].second : out[f].first).push_back(i);
  return out;
}
}  // namespace

KFold::KFold(int n_splits, bool shuffle, uint64_t random_state)
    : n_splits_(n_splits), shuffle_(shuffle), random_state_(random_state) {
  check_n_splits(n_splits, "KFold");
}

std::vector<FoldIndices> KFold::split(int64_t n) const {
  if (n < n_splits_)
    throw ValueError("KFold: cannot have n_splits=" + std::to_string(n_splits_) + " greater than the number of rows, " +
                     std::to_string(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle_) {
    Rng rng(random_state_);
    rng.shuffle(order);
  }
  std::vector<FoldIndices> out;
  out.reserve(static_cast<size_t>(n_splits_));
  std::vector<char> in_test(static_cast<size_t>(n));
  int64_t start = 0;
  for (int f = 0; f < n_splits_; ++f) {
    const int64_t size = n / n_splits_ + (f < n % n_splits_ ? 1 : 0);
    FoldIndices fold;
    fold.second.assign(order.begin() + start, order.begin() + start + size);
    std::fill(in_test.begin(), in_test.end(), 0);
    for (int64_t i : fold.second) in_test[i] = 1;
    fold.first.reserve(static_cast<size_t>(n - size));
    for (int64_t i = 0; i < n; ++i)
      if (!in_test[i]) fold.first.push_back(i);
    out.push_back(std::move(fold));
    start += size;
  }
  return out;
}

StratifiedKFold::StratifiedKFold(int n_splits, bool shuffle, uint64_t random_state)
    : n_splits_(n_splits), shuffle_(shuffle), random_state_(random_state) {
  check_n_splits(n_splits, "StratifiedKFold");
}

std::vector<FoldIndices> StratifiedKFold::split(const Tensor& y) const {
  const int64_t n = y.shape().empty() ? 0 : y.rows();
  if (n < n_splits_)
    throw ValueError("StratifiedKFold: cannot have n_splits=" + std::to_string(n_splits_) +
                     " greater than the number of rows, " + std::to_string(n));
  int64_t k = 0;
  const std::vector<int64_t> ids = class_ids(y, k, "StratifiedKFold");
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(k));
  for (int64_t i = 0; i < n; ++i) members[ids[i]].push_back(i);
  size_t largest = 0;
  for (const auto& m : members) largest = std::max(largest, m.size());
  if (static_cast<int64_t>(largest) < n_splits_)
    throw ValueError("StratifiedKFold: n_splits=" + std::to_string(n_splits_) +
                     " is greater than the number of members in every class (largest: " + std::to_string(largest) + ")");

  Rng rng(random_state_);
  std::vector<int> fold_of(static_cast<size_t>(n));
  // Position p in the class-sorted order goes to fold p % n_splits; each class then hands its
  // members to the folds in order, as many to each as its block of positions gives.
  int64_t pos = 0;
  for (auto& m : members) {
    std::vector<int64_t> per_fold(static_cast<size_t>(n_splits_), 0);
    for (size_t j = 0; j < m.size(); ++j) ++per_fold[static_cast<size_t>((pos++) % n_splits_)];
    if (shuffle_) rng.shuffle(m);
    size_t j = 0;
    for (int f = 0; f < n_splits_; ++f)
      for (int64_t c = 0; c < per_fold[f]; ++c) fold_of[m[j++]] = f;
  }
  return folds_from_assignment(fold_of, n_splits_);
}

}  // namespace myelin
