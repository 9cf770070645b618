// Data preparation in the manner of scikit-learn: splitting, scaling, one-hot encoding and
// cross-validation folds. All randomness comes from myelin::Rng, so a seed gives the same
// result on every platform (though not the same numbers as scikit-learn's NumPy generator).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin {

/// The four parts train_test_split returns, in scikit-learn's order, so that
/// `auto [x_train, x_test, y_train, y_test] = train_test_split(x, y);` works.
struct SplitResult {
  Tensor x_train;
  Tensor x_test;
  Tensor y_train;
  Tensor y_test;
};

/// Splits the rows of x and y (any shapes with equal row counts) into a shuffled training and
/// test part, as sklearn.model_selection.train_test_split: the test part has
/// ceil(test_size * n) rows, the training part the rest.
///
/// With stratify=true, y's classes keep their proportions in both parts (y holds class labels,
/// {n} or {n, 1}; one-hot rows {n, k} count by their largest entry). Per-class counts are
/// rounded as scikit-learn's StratifiedShuffleSplit does (largest remainders, ties by the Rng).
///
/// Throws ValueError if test_size is not in (0, 1), if x is empty or either part would be empty,
/// or, with stratify, if a class has fewer than 2 members or either part has fewer rows than
/// there are classes; ShapeError if x and y differ in rows.
SplitResult train_test_split(const Tensor& x, const Tensor& y, double test_size = 0.25, uint64_t random_state = 0,
                             bool stratify = false);

/// Standardises features to zero mean and unit variance, as sklearn.preprocessing.StandardScaler.
/// Features are the elements of a row (columns of a 2-D tensor; every value of an image
/// position for NHWC images). The standard deviation is the population one (ddof = 0), a
/// constant feature gets scale 1, and statistics are accumulated in double precision.
class StandardScaler {
 public:
  /// Computes each feature's mean and standard deviation from the rows of x, forgetting
  /// earlier fits. Throws ValueError if x has no rows or holds a NaN or infinite value.
  StandardScaler& fit(const Tensor& x);
  /// Adds the rows of `batch` to the statistics (Chan et al.'s merge of means and squared
  /// deviations), for data that comes in pieces; fitting in batches gives the same result as
  /// one fit. An empty batch changes nothing. Throws ShapeError if the feature count differs
  /// from earlier batches, ValueError on NaN or infinite values.
  StandardScaler& partial_fit(const Tensor& batch);
  /// (x - mean) / scale, element-wise per feature; returns a new tensor of x's shape.
  /// Throws ValueError before any fit, ShapeError if x's feature count differs from the fit's.
  Tensor transform(const Tensor& x) const;
  /// fit(x) then transform(x).
  Tensor fit_transform(const Tensor& x);
  /// x * scale + mean: undoes transform. Same errors as transform.
  Tensor inverse_transform(const Tensor& x) const;

  /// Per-feature means (empty before a fit).
  const std::vector<float>& mean() const { return mean_; }
  /// Per-feature scales: the population standard deviation, or 1 for constant features.
  const std::vector<float>& scale() const { return scale_; }
  /// Per-feature population variances (0 for constant features, unlike scale).
  const std::vector<float>& var() const { return var_; }
  /// Number of rows the statistics were computed from.
  int64_t n_samples_seen() const { return n_; }
  /// Whether fit or partial_fit has seen at least one row.
  bool fitted() const { return n_ > 0; }

 private:
  void check_features(const Tensor& x, const char* what) const;
  void update_public();

  int64_t n_ = 0;
  std::vector<double> mean_d_, m2_d_;  // running mean and sum of squared deviations
  std::vector<double> scale_d_;        // transforms run in double, as the statistics are kept
  std::vector<float> mean_, scale_, var_;
};

/// Scales each feature linearly so the training data spans feature_range, as
/// sklearn.preprocessing.MinMaxScaler. A feature with equal minimum and maximum is shifted to
/// the range's lower end instead (its scale counts as 1, as scikit-learn's does).
class MinMaxScaler {
 public:
  /// Target range [lo, hi]; throws ValueError unless lo < hi.
  explicit MinMaxScaler(float lo = 0.f, float hi = 1.f);
  /// Records each feature's minimum and maximum over the rows of x, forgetting earlier fits.
  /// Throws ValueError if x has no rows or holds a NaN or infinite value.
  MinMaxScaler& fit(const Tensor& x);
  /// Widens the recorded minima and maxima by the rows of `batch` (data in pieces).
  /// An empty batch changes nothing. Throws ShapeError if the feature count differs.
  MinMaxScaler& partial_fit(const Tensor& batch);
  /// x * scale + min per feature; returns a new tensor of x's shape. Throws ValueError before
  /// any fit, ShapeError if x's feature count differs from the fit's.
  Tensor transform(const Tensor& x) const;
  /// fit(x) then transform(x).
  Tensor fit_transform(const Tensor& x);
  /// (x - min) / scale: undoes transform. Same errors as transform.
  Tensor inverse_transform(const Tensor& x) const;

  /// Per-feature minima seen in fitting.
  const std::vector<float>& data_min() const { return data_min_; }
  /// Per-feature maxima seen in fitting.
  const std::vector<float>& data_max() const { return data_max_; }
  /// Per-feature multiplier: (hi - lo) / (data_max - data_min), with a zero range counted as 1.
  const std::vector<float>& scale() const { return scale_; }
  /// Per-feature offset: lo - data_min * scale.
  const std::vector<float>& min() const { return min_; }
  /// Whether fit or partial_fit has seen at least one row.
  bool fitted() const { return !data_min_.empty(); }

 private:
  void check_features(const Tensor& x, const char* what) const;
  void update_public();

  float lo_, hi_;
  std::vector<float> data_min_, data_max_, scale_, min_;
  std::vector<double> scale_d_, min_d_;  // transforms run in double so the range ends come out exact
};

/// One-hot encodes class indices, as keras.utils.to_categorical: labels of shape {n} or {n, 1}
/// give {n, num_classes} (in general, a trailing dimension of 1 is dropped and num_classes is
/// appended). num_classes = -1 uses the largest label + 1.
/// Throws ValueError for a label that is negative, not an integer, NaN, or >= num_classes, for
/// num_classes 0 or below -1, and for empty labels with num_classes = -1.
Tensor to_categorical(const Tensor& labels, int64_t num_classes = -1);

/// Training and test row indices of one cross-validation fold.
using FoldIndices = std::pair<std::vector<int64_t>, std::vector<int64_t>>;

/// K-fold cross-validation, as sklearn.model_selection.KFold: the (optionally shuffled) rows
/// are cut into n_splits consecutive folds; the first n % n_splits folds have one row more.
class KFold {
 public:
  /// Throws ValueError if n_splits < 2. random_state seeds the shuffle (ignored without it).
  explicit KFold(int n_splits = 5, bool shuffle = false, uint64_t random_state = 0);
  /// For each fold, {training indices (ascending), test indices (in fold order)} over rows 0..n-1.
  /// Throws ValueError if n_splits > n.
  std::vector<FoldIndices> split(int64_t n) const;
  /// The number of folds.
  int n_splits() const { return n_splits_; }

 private:
  int n_splits_;
  bool shuffle_;
  uint64_t random_state_;
};

/// K-fold cross-validation keeping class proportions, like sklearn's StratifiedKFold.
///
/// Scheme: rows are ordered by class (ascending label) and dealt out round-robin, so fold i
/// has the sizes KFold would give and each class's count differs by at most one between folds;
/// within a class, consecutive rows (or shuffled ones, with shuffle) fill the folds in order.
class StratifiedKFold {
 public:
  /// Throws ValueError if n_splits < 2. random_state seeds the shuffle (ignored without it).
  explicit StratifiedKFold(int n_splits = 5, bool shuffle = false, uint64_t random_state = 0);
  /// For each fold, {training indices, test indices}, both ascending. y holds class labels
  /// ({n}, {n, 1}, or one-hot {n, k}). Throws ValueError if n_splits exceeds the number of rows or
  /// the size of every class (as scikit-learn), or y holds NaN.
  std::vector<FoldIndices> split(const Tensor& y) const;
  /// The number of folds.
  int n_splits() const { return n_splits_; }

 private:
  int n_splits_;
  bool shuffle_;
  uint64_t random_state_;
};

}  // namespace myelin
