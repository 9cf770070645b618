#include "myelin/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "myelin/error.hpp"

namespace myelin {

void Metric::update_weighted(const Tensor&, const Tensor&, const float*) {
  throw ValueError("metric '" + name() + "' does not take sample weights; list it in metrics, not weighted_metrics");
}

}  // namespace myelin

namespace myelin::metrics {

namespace {
int64_t argmax(const float* x, int64_t k) {
  int64_t best = 0;
  for (int64_t c = 1; c < k; ++c)
    if (x[c] > x[best]) best = c;
  return best;
}
void check_same_size(const char* what, const Tensor& t, const Tensor& p) {
  if (t.size() != p.size())
    throw ShapeError(std::string(what) + ": y_true " + shape_to_string(t.shape()) + " and y_pred " +
                     shape_to_string(p.shape()) + " differ in size");
}
int64_t width(const Tensor& t) { return t.ndim() >= 2 ? t.dim(-1) : 1; }
}  // namespace

namespace {
// Row r's weight among `rows` rows of y_pred whose samples each span rows / samples of them.
float row_weight(const float* w, int64_t r, int64_t rows_per_sample) { return w ? w[r / rows_per_sample] : 1.f; }
int64_t rows_per_sample(int64_t rows, const Tensor& p) {
  const int64_t samples = p.ndim() ? p.rows() : 1;
  return samples ? std::max<int64_t>(1, rows / samples) : 1;
}
}  // namespace

void BinaryAccuracy::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void BinaryAccuracy::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("binary_accuracy", t, p);
  const int64_t per = rows_per_sample(p.size(), p);
  for (int64_t i = 0; i < p.size(); ++i) {
    const float wi = row_weight(w, i, per);
    hits_ += ((p[i] > threshold_) == (t[i] > 0.5f)) * double(wi);
    total_ += wi;
  }
}

void CategoricalAccuracy::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void CategoricalAccuracy::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("categorical_accuracy", t, p);
  const int64_t k = width(p), rows = p.size() / k, per = rows_per_sample(rows, p);
  for (int64_t r = 0; r < rows; ++r) {
    const float wr = row_weight(w, r, per);
    hits_ += (argmax(p.data() + r * k, k) == argmax(t.data() + r * k, k)) * double(wr);
    total_ += wr;
  }
}

void SparseCategoricalAccuracy::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void SparseCategoricalAccuracy::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  const int64_t k = width(p), rows = p.size() / k, per = rows_per_sample(rows, p);
  if (t.size() != rows)
    throw ShapeError("sparse_categorical_accuracy: y_true " + shape_to_string(t.shape()) +
                     " needs one label per row of y_pred " + shape_to_string(p.shape()));
  for (int64_t r = 0; r < rows; ++r) {
    const float wr = row_weight(w, r, per);
    hits_ += (argmax(p.data() + r * k, k) == static_cast<int64_t>(t[r])) * double(wr);
    total_ += wr;
  }
}

void MeanSquaredError::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void MeanSquaredError::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("mean_squared_error", t, p);
  const int64_t per = rows_per_sample(p.size(), p);
  for (int64_t i = 0; i < p.size(); ++i) {
    const double e = double(p[i]) - t[i], wi = row_weight(w, i, per);
    sum_ += wi * e * e;
    count_ += wi;
  }
}

void MeanAbsoluteError::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void MeanAbsoluteError::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("mean_absolute_error", t, p);
  const int64_t per = rows_per_sample(p.size(), p);
  for (int64_t i = 0; i < p.size(); ++i) {
    const double wi = row_weight(w, i, per);
    sum_ += wi * std::fabs(double(p[i]) - t[i]);
    count_ += wi;
  }
}

void Precision::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void Precision::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("precision", t, p);
  const int64_t per = rows_per_sample(p.size(), p);
  for (int64_t i = 0; i < p.size(); ++i)
    if (p[i] > t_) (t[i] > 0.5f ? tp_ : fp_) += row_weight(w, i, per);
}

void Recall::update(const Tensor& t, const Tensor& p) { update_weighted(t, p, nullptr); }
void Recall::update_weighted(const Tensor& t, const Tensor& p, const float* w) {
  check_same_size("recall", t, p);
  const int64_t per = rows_per_sample(p.size(), p);
  for (int64_t i = 0; i < p.size(); ++i)
    if (t[i] > 0.5f) (p[i] > t_ ? tp_ : fn_) += row_weight(w, i, per);
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

double AUC::result() const {
  // Mann-Whitney U: AUC = (sum of positive ranks - P(P+1)/2) / (P N), ties at their average rank.
  const size_t n = scores_.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores_[a] < scores_[b]; });
  double pos_rank_sum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores_[order[j + 1]] == scores_[order[i]]) ++j;
    const double avg_rank = 0.5 * double(i + j) + 1.0;
    for (size_t m = i; m <= j; ++m)
      if (labels_[order[m]] > 0.5f) pos_rank_sum += avg_rank, ++pos;
    i = j + 1;
  }
  const int64_t neg = int64_t(n) - pos;
  if (pos == 0 || neg == 0) return 0.0;  // undefined: Keras reports 0 as well
  return (pos_rank_sum - 0.5 * double(pos) * double(pos + 1)) / (double(pos) * double(neg));
}

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
    bool labels = true;
    for (int64_t i = 0; i < n && labels; ++i) labels = y_pred[i] == std::floor(y_pred[i]);
    int64_t hits = 0;
    for (int64_t i = 0; i < n; ++i)
      hits += labels ? y_pred[i] == y_true[i] : (y_pred[i] > 0.5f) == (y_true[i] > 0.5f);
    return double(hits) / double(n);
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
