// Metrics: running accumulators reported by fit/evaluate, and the same measures as plain functions.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin {

/// A metric accumulates over batches: reset(), update() per batch, result() for the running value.
class Metric {
 public:
  virtual ~Metric() = default;
  /// The key in logs and History ("accuracy", "mae", "precision"...).
  virtual std::string name() const = 0;
  virtual void reset() = 0;
  /// Adds a batch: y_true as the loss takes it, y_pred as probabilities or values.
  virtual void update(const Tensor& y_true, const Tensor& y_pred) = 0;
  /// update() with one weight per sample (row of y_pred), for Keras's weighted_metrics: each sample
  /// counts `weight` times (the result is the weighted mean). The default throws ValueError: a metric
  /// that can weigh samples overrides it and supports_sample_weight().
  virtual void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight);
  virtual bool supports_sample_weight() const { return false; }
  virtual double result() const = 0;
  /// The accumulated state as numbers, and adding another copy's state into this one: how
  /// evaluate() combines the rows seen by several processes (distributed training). A metric that
  /// does not override them is combined as the mean of the processes' results.
  virtual std::vector<double> state() const { return {}; }
  virtual void merge_state(const std::vector<double>& other) { (void)other; }
};

namespace metrics {

/// Fraction of outputs whose thresholded prediction (> threshold) equals the 0/1 target.
class BinaryAccuracy : public Metric {
 public:
  explicit BinaryAccuracy(std::string name = "binary_accuracy", float threshold = 0.5f)
      : name_(std::move(name)), threshold_(threshold) {}
  std::string name() const override { return name_; }
  void reset() override { hits_ = total_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return total_ ? hits_ / total_ : 0.0; }

  std::vector<double> state() const override { return {double(hits_), double(total_)}; }
  void merge_state(const std::vector<double>& o) override { hits_ += decltype(hits_)(o.at(0)); total_ += decltype(total_)(o.at(1)); }
 private:
  std::string name_;
  float threshold_;
  double hits_ = 0, total_ = 0;  // sums of sample weights (1 each unweighted)
};

/// Fraction of rows whose arg-max prediction equals the arg-max of the one-hot target.
class CategoricalAccuracy : public Metric {
 public:
  explicit CategoricalAccuracy(std::string name = "categorical_accuracy") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override { hits_ = total_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return total_ ? hits_ / total_ : 0.0; }

  std::vector<double> state() const override { return {double(hits_), double(total_)}; }
  void merge_state(const std::vector<double>& o) override { hits_ += decltype(hits_)(o.at(0)); total_ += decltype(total_)(o.at(1)); }
 private:
  std::string name_;
  double hits_ = 0, total_ = 0;  // sums of sample weights (1 each unweighted)
};

/// Fraction of rows whose arg-max prediction equals the integer target.
class SparseCategoricalAccuracy : public Metric {
 public:
  explicit SparseCategoricalAccuracy(std::string name = "sparse_categorical_accuracy") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override { hits_ = total_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return total_ ? hits_ / total_ : 0.0; }

  std::vector<double> state() const override { return {double(hits_), double(total_)}; }
  void merge_state(const std::vector<double>& o) override { hits_ += decltype(hits_)(o.at(0)); total_ += decltype(total_)(o.at(1)); }
 private:
  std::string name_;
  double hits_ = 0, total_ = 0;  // sums of sample weights (1 each unweighted)
};

/// Mean of squared (or absolute) differences over every element seen.
class MeanSquaredError : public Metric {
 public:
  explicit MeanSquaredError(std::string name = "mean_squared_error") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override { sum_ = 0, count_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return count_ ? sum_ / count_ : 0.0; }

  std::vector<double> state() const override { return {double(sum_), double(count_)}; }
  void merge_state(const std::vector<double>& o) override { sum_ += decltype(sum_)(o.at(0)); count_ += decltype(count_)(o.at(1)); }
 private:
  std::string name_;
  double sum_ = 0;
  double count_ = 0;
};

class MeanAbsoluteError : public Metric {
 public:
  explicit MeanAbsoluteError(std::string name = "mean_absolute_error") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override { sum_ = 0, count_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return count_ ? sum_ / count_ : 0.0; }

  std::vector<double> state() const override { return {double(sum_), double(count_)}; }
  void merge_state(const std::vector<double>& o) override { sum_ += decltype(sum_)(o.at(0)); count_ += decltype(count_)(o.at(1)); }
 private:
  std::string name_;
  double sum_ = 0;
  double count_ = 0;
};

/// Binary precision (tp / (tp + fp)) or recall (tp / (tp + fn)) at a threshold (0.5).
class Precision : public Metric {
 public:
  explicit Precision(float threshold = 0.5f, std::string name = "precision") : name_(std::move(name)), t_(threshold) {}
  std::string name() const override { return name_; }
  void reset() override { tp_ = fp_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return tp_ + fp_ ? tp_ / (tp_ + fp_) : 0.0; }

  std::vector<double> state() const override { return {double(tp_), double(fp_)}; }
  void merge_state(const std::vector<double>& o) override { tp_ += decltype(tp_)(o.at(0)); fp_ += decltype(fp_)(o.at(1)); }
 private:
  std::string name_;
  float t_;
  double tp_ = 0, fp_ = 0;
};

class Recall : public Metric {
 public:
  explicit Recall(float threshold = 0.5f, std::string name = "recall") : name_(std::move(name)), t_(threshold) {}
  std::string name() const override { return name_; }
  void reset() override { tp_ = fn_ = 0; }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  void update_weighted(const Tensor& y_true, const Tensor& y_pred, const float* sample_weight) override;
  bool supports_sample_weight() const override { return true; }
  double result() const override { return tp_ + fn_ ? tp_ / (tp_ + fn_) : 0.0; }

  std::vector<double> state() const override { return {double(tp_), double(fn_)}; }
  void merge_state(const std::vector<double>& o) override { tp_ += decltype(tp_)(o.at(0)); fn_ += decltype(fn_)(o.at(1)); }
 private:
  std::string name_;
  float t_;
  double tp_ = 0, fn_ = 0;
};

/// Area under the ROC curve for binary targets, computed exactly from every score seen (ties share
/// their average rank, as scikit-learn's roc_auc_score). Keras approximates it with 200 thresholds;
/// the exact value differs from Keras's by at most about 1/200.
class AUC : public Metric {
 public:
  explicit AUC(std::string name = "auc") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override { scores_.clear(), labels_.clear(); }
  void update(const Tensor& y_true, const Tensor& y_pred) override;
  double result() const override;

  /// Scores and labels interleaved.
  std::vector<double> state() const override;
  void merge_state(const std::vector<double>& other) override;
 private:
  std::string name_;
  std::vector<float> scores_, labels_;
};

/// A metric by Keras's name: "accuracy"/"acc" (resolved by the caller; see model.compile),
/// "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "mse"/"mean_squared_error",
/// "mae"/"mean_absolute_error", "precision", "recall", "auc". Throws ValueError for an unknown name.
std::shared_ptr<Metric> get(const std::string& name);

/// Keras's rule for "accuracy": binary when targets and outputs have one value per sample, sparse
/// when the target has one value but the output several, categorical otherwise.
std::shared_ptr<Metric> resolve_accuracy(const std::string& display_name, int64_t target_width,
                                         int64_t output_width);

// Plain functions over whole arrays, as scikit-learn's.
/// Mean of (y_true - y_pred)^2 over all elements.
double mean_squared_error(const Tensor& y_true, const Tensor& y_pred);
/// Mean of |y_true - y_pred| over all elements.
double mean_absolute_error(const Tensor& y_true, const Tensor& y_pred);
/// Fraction of rows predicted right: y_true holds class indices ({n} or {n,1}); y_pred holds either
/// class indices of the same shape or per-class scores {n, k} (arg-max taken), or for one output per
/// sample, probabilities thresholded at 0.5.
double accuracy(const Tensor& y_true, const Tensor& y_pred);
/// Binary precision and recall at a threshold of 0.5 on y_pred.
double precision(const Tensor& y_true, const Tensor& y_pred);
double recall(const Tensor& y_true, const Tensor& y_pred);
/// Exact ROC AUC of scores y_pred for 0/1 targets y_true.
double roc_auc(const Tensor& y_true, const Tensor& y_pred);

}  // namespace metrics

/// What compile() takes as a metric: a name or a metric object.
class MetricArg {
 public:
  MetricArg(const char* name) : name_(name) {}
  MetricArg(std::string name) : name_(std::move(name)) {}
  template <class M, class = std::enable_if_t<std::is_base_of_v<Metric, std::decay_t<M>>>>
  MetricArg(M&& m) : ptr_(std::make_shared<std::decay_t<M>>(std::forward<M>(m))) {}
  MetricArg(std::shared_ptr<Metric> m) : ptr_(std::move(m)) {}
  /// The metric's name when given by name; empty otherwise.
  const std::string& name() const { return name_; }
  const std::shared_ptr<Metric>& get() const { return ptr_; }

 private:
  std::string name_;
  std::shared_ptr<Metric> ptr_;
};

}  // namespace myelin
