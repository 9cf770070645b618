#include "myelin/metrics.hpp"

#include <algorithm>

#include "kernels/cpu/metric.hpp"
#include "myelin/error.hpp"

namespace myelin {

void Metric::update_weighted(const Tensor&, const Tensor&, const float*) {
  throw ValueError("metric '" + name() + "' does not take sample weights; list it in metrics, not weighted_metrics");
}

}  // namespace myelin

namespace myelin::metrics {

namespace {
void check_same_size(const char* what, const Tensor& t, const Tensor& p) {
  if (t.size() != p.size())
    throw ShapeError(std::string(what) + ": y_true " + shape_to_string(t.shape()) + " and y_pred " +
                     shape_to_string(p.shape()) + " differ in size");
}
int64_t width(const Tensor& t) { return t.ndim() >= 2 ? t.dim(-1) : 1; }
// How many of `rows` rows (or values) of y_pred each sample spans: the sample weights' stride.
int64_t rows_per_sample(int64_t rows, const Tensor& p) {
  const int64_t samples = p.ndim() ? p.rows() : 1;
  return samples ? std::max<int64_t>(1, rows / samples) : 1;
}
}  // namespace

void BinaryAccuracy::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void BinaryAccuracy::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("binary_accuracy", t, p);
  kernels::BinaryCounts c;
  kernels::count_binary(t.data(), p.data(), w, p.size(), rows_per_sample(p.size(), p), threshold_, c);
  hits_ += c.tp + c.tn;
  total_ += c.tp + c.fp + c.fn + c.tn;
}

void CategoricalAccuracy::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void CategoricalAccuracy::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("categorical_accuracy", t, p);
  const int64_t k = width(p), rows = p.size() / k;
  kernels::count_argmax_hits(t.data(), k, p.data(), w, rows, k, rows_per_sample(rows, p), hits_, total_);
}

void SparseCategoricalAccuracy::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void SparseCategoricalAccuracy::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  const int64_t k = width(p), rows = p.size() / k;
  if (t.size() != rows)
    throw ShapeError("sparse_categorical_accuracy: y_true " + shape_to_string(t.shape()) +
                     " needs one label per row of y_pred " + shape_to_string(p.shape()));
  kernels::count_argmax_hits(t.data(), 1, p.data(), w, rows, k, rows_per_sample(rows, p), hits_, total_);
}

void MeanSquaredError::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void MeanSquaredError::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("mean_squared_error", t, p);
  kernels::sum_errors(kernels::ErrorKind::Squared, t.data(), p.data(), w, p.size(), rows_per_sample(p.size(), p),
                      sum_, count_);
}

void MeanAbsoluteError::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void MeanAbsoluteError::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("mean_absolute_error", t, p);
  kernels::sum_errors(kernels::ErrorKind::Absolute, t.data(), p.data(), w, p.size(), rows_per_sample(p.size(), p),
                      sum_, count_);
}

// Precision and recall keep only the counts their ratio needs; the others are counted and dropped.
void Precision::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void Precision::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("precision", t, p);
  kernels::BinaryCounts c{.tp = tp_, .fp = fp_};
  kernels::count_binary(t.data(), p.data(), w, p.size(), rows_per_sample(p.size(), p), t_, c);
  tp_ = c.tp;
  fp_ = c.fp;
}

void Recall::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void Recall::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("recall", t, p);
  kernels::BinaryCounts c{.tp = tp_, .fn = fn_};
  kernels::count_binary(t.data(), p.data(), w, p.size(), rows_per_sample(p.size(), p), t_, c);
  tp_ = c.tp;
  fn_ = c.fn;
}

void AUC::update(const Tensor& t, const Tensor& p) {
  check_same_size("auc", t, p);
  scores_.insert(scores_.end(), p.data(), p.data() + p.size());
  labels_.insert(labels_.end(), t.data(), t.data() + t.size());
}

std::vector<double> AUC::state() const {
  std::vector<double> s;
  s.reserve(2 * scores_.size());
  for (size_t i = 0; i < scores_.size(); ++i) s.push_back(scores_[i]), s.push_back(labels_[i]);
  return s;
}

void AUC::merge_state(const std::vector<double>& other) {
  for (size_t i = 0; i + 1 < other.size(); i += 2) scores_.push_back(float(other[i])), labels_.push_back(float(other[i + 1]));
}

double AUC::result() const { return kernels::roc_auc(scores_.data(), labels_.data(), int64_t(scores_.size())); }

std::shared_ptr<Metric> get(const std::string& name) {
  if (name == "binary_accuracy") return std::make_shared<BinaryAccuracy>();
  if (name == "categorical_accuracy") return std::make_shared<CategoricalAccuracy>();
  if (name == "sparse_categorical_accuracy") return std::make_shared<SparseCategoricalAccuracy>();
  if (name == "mse" || name == "mean_squared_error") return std::make_shared<MeanSquaredError>(name);
  if (name == "mae" || name == "mean_absolute_error") return std::make_shared<MeanAbsoluteError>(name);
  if (name == "precision") return std::make_shared<Precision>();
  if (name == "recall") return std::make_shared<Recall>();
  if (name == "auc") return std::make_shared<AUC>();
  throw ValueError("unknown metric '" + name +
                   "' (known: accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, "
                   "mse, mae, precision, recall, auc)");
}

std::shared_ptr<Metric> resolve_accuracy(const std::string& display_name, int64_t target_width,
                                         int64_t output_width) {
  if (output_width == 1) return std::make_shared<BinaryAccuracy>(display_name);
  if (target_width == 1) return std::make_shared<SparseCategoricalAccuracy>(display_name);
  return std::make_shared<CategoricalAccuracy>(display_name);
}

double mean_squared_error(const Tensor& y_true, const Tensor& y_pred) {
  MeanSquaredError m;
  m.update(y_true, y_pred);
  return m.result();
}

double mean_absolute_error(const Tensor& y_true, const Tensor& y_pred) {
  MeanAbsoluteError m;
  m.update(y_true, y_pred);
  return m.result();
}

double accuracy(const Tensor& y_true, const Tensor& y_pred) {
  const int64_t n = y_true.size();
  if (n == 0) throw ValueError("accuracy: empty y_true");
  if (y_pred.size() == n) {
    // Labels against labels, or one probability per sample.
    if (kernels::all_whole(y_pred.data(), n))
      return double(kernels::count_equal(y_pred.data(), y_true.data(), n)) / double(n);
    kernels::BinaryCounts c;
    kernels::count_binary(y_true.data(), y_pred.data(), nullptr, n, 1, 0.5f, c);
    return (c.tp + c.tn) / double(n);
  }
  SparseCategoricalAccuracy m;
  m.update(y_true, y_pred);
  return m.result();
}

double precision(const Tensor& y_true, const Tensor& y_pred) {
  Precision m;
  m.update(y_true, y_pred);
  return m.result();
}

double recall(const Tensor& y_true, const Tensor& y_pred) {
  Recall m;
  m.update(y_true, y_pred);
  return m.result();
}

double roc_auc(const Tensor& y_true, const Tensor& y_pred) {
  AUC m;
  m.update(y_true, y_pred);
  return m.result();
}

}  // namespace myelin::metrics
