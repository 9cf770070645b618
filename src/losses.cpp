#include "myelin/losses.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "myelin/error.hpp"
#include "myelin/io/config.hpp"

namespace myelin {

namespace {
// Keras's clipping constant for probabilities.
constexpr float kEps = 1e-7f;

void prepare_grad(Tensor* grad, const Tensor& y_pred) {
  if (grad) grad->resize(y_pred.shape());
}

// The weight of loss value i of n, when the batch's `rows` samples each have n / rows of them.
inline float weight_of(const float* sample_weight, int64_t i, int64_t per_sample) {
  return sample_weight ? sample_weight[i / per_sample] : 1.f;
}

int64_t per_sample(int64_t values, const Tensor& y_pred) {
  const int64_t rows = y_pred.ndim() ? y_pred.rows() : 1;
  return rows ? std::max<int64_t>(1, values / rows) : 1;
}

// Element-wise regression losses share this shape: mean of w * f(pred - true) over all elements.
template <class F, class G>
double elementwise_mean(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sw, F value,
                        G derivative) {
  if (y_true.size() != y_pred.size())
    throw ShapeError("loss: targets " + shape_to_string(y_true.shape()) + " do not match predictions " +
                     shape_to_string(y_pred.shape()));
  prepare_grad(grad, y_pred);
  const int64_t n = y_pred.size(), per = per_sample(n, y_pred);
  const float inv_n = 1.f / float(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = y_pred[i] - y_true[i], w = weight_of(sw, i, per);
    total += double(w) * value(e);
    if (grad) (*grad)[i] = w * derivative(e) * inv_n;
  }
  return total / double(n);
}

// Row r's log-sum-exp and, into p, its softmax.
double log_softmax_row(const float* z, float* p, int64_t k) {
  float m = z[0];
  for (int64_t c = 1; c < k; ++c) m = std::max(m, z[c]);
  double s = 0;
  for (int64_t c = 0; c < k; ++c) {
    p[c] = std::exp(z[c] - m);
    s += p[c];
  }
  const float inv = float(1.0 / s);
  for (int64_t c = 0; c < k; ++c) p[c] *= inv;
  return double(m) + std::log(s);
}

int64_t label_at(const Tensor& y, int64_t r) { return static_cast<int64_t>(y[r]); }
}  // namespace

void Loss::check_targets(const Tensor& y_true, const Shape& output_shape) const {
  const int64_t per_sample = shape_size(output_shape);
  if (y_true.rows() == 0 || y_true.row_size() != per_sample)
    throw ShapeError(name() + ": targets of shape " + shape_to_string(y_true.shape()) +
                     " do not match the model's output shape " + shape_to_string(with_batch(-1, output_shape), true));
}

nlohmann::json Loss::get_config() const { return nlohmann::json::object(); }

double Loss::compute_weighted(const Tensor&, const Tensor&, Tensor*, const float*) const {
  throw ValueError("loss '" + name() + "' does not take sample weights (sample_weight, class_weight)");
}

namespace losses {

nlohmann::json Huber::get_config() const { return {{"delta", delta_}}; }
nlohmann::json BinaryCrossentropy::get_config() const { return {{"from_logits", from_logits_}}; }
nlohmann::json CategoricalCrossentropy::get_config() const { return {{"from_logits", from_logits_}}; }
nlohmann::json SparseCategoricalCrossentropy::get_config() const { return {{"from_logits", from_logits_}}; }

std::shared_ptr<Loss> from_config(const std::string& name, const nlohmann::json& config) {
  const bool logits = config.is_object() && config.value("from_logits", false);
  if (name == "huber" && config.is_object() && config.contains("delta"))
    return std::make_shared<Huber>(io::config_value<float>(config, "delta", 1.f, "huber"));
  if (name == "binary_crossentropy") return std::make_shared<BinaryCrossentropy>(logits);
  if (name == "categorical_crossentropy") return std::make_shared<CategoricalCrossentropy>(logits);
  if (name == "sparse_categorical_crossentropy") return std::make_shared<SparseCategoricalCrossentropy>(logits);
  return get(name);
}

double MeanSquaredError::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  return elementwise_mean(t, p, g, sw, [](float e) { return double(e) * e; }, [](float e) { return 2.f * e; });
}

double MeanAbsoluteError::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  return elementwise_mean(t, p, g, sw, [](float e) { return std::fabs(double(e)); },
                          [](float e) { return float((e > 0) - (e < 0)); });
}

double Huber::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  const float d = delta_;
  return elementwise_mean(
      t, p, g, sw,
      [d](float e) {
        const double a = std::fabs(e);
        return a <= d ? 0.5 * a * a : d * (a - 0.5 * d);
      },
      [d](float e) { return std::fabs(e) <= d ? e : d * float((e > 0) - (e < 0)); });
}

double BinaryCrossentropy::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  if (t.size() != p.size())
    throw ShapeError("binary_crossentropy: targets " + shape_to_string(t.shape()) + " do not match predictions " +
                     shape_to_string(p.shape()));
  prepare_grad(g, p);
  const int64_t n = p.size(), per = per_sample(n, p);
  const float inv_n = 1.f / float(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float y = t[i], w = weight_of(sw, i, per);
    if (from_logits_) {
      const float z = p[i];
      total += w * (std::max(z, 0.f) - z * y + std::log1p(std::exp(-std::fabs(z))));
      if (g) {
        const float s = z >= 0 ? 1.f / (1.f + std::exp(-z)) : std::exp(z) / (1.f + std::exp(z));
        (*g)[i] = w * (s - y) * inv_n;
      }
    } else {
      const float q = std::clamp(p[i], kEps, 1.f - kEps);
      total += -w * (y * std::log(double(q)) + (1 - y) * std::log(1.0 - q));
      if (g) (*g)[i] = (p[i] == q) ? w * (q - y) / (q * (1.f - q)) * inv_n : 0.f;
    }
  }
  return total / double(n);
}

void BinaryCrossentropy::check_targets(const Tensor& y, const Shape& output_shape) const {
  Loss::check_targets(y, output_shape);
  for (int64_t i = 0; i < y.size(); ++i)
    if (!(y[i] >= 0.f && y[i] <= 1.f))
      throw ValueError("binary_crossentropy: target " + std::to_string(y[i]) + " at row " +
                       std::to_string(i / y.row_size()) + " is outside [0, 1]");
}

std::optional<ActivationKind> BinaryCrossentropy::fusable_activation() const {
  if (from_logits_) return std::nullopt;
  return ActivationKind::Sigmoid;
}
std::shared_ptr<Loss> BinaryCrossentropy::from_logits_version() const {
  return std::make_shared<BinaryCrossentropy>(true);
}

double CategoricalCrossentropy::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  if (t.size() != p.size() || p.ndim() < 1)
    throw ShapeError("categorical_crossentropy: targets " + shape_to_string(t.shape()) +
                     " do not match predictions " + shape_to_string(p.shape()));
  prepare_grad(g, p);
  const int64_t k = p.dim(-1), rows = p.size() / k, per = per_sample(rows, p);
  double total = 0;
  std::vector<float> scratch;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = p.data() + r * k;
    const float* y = t.data() + r * k;
    float* gr = g ? g->data() + r * k : nullptr;
    // A row's loss times its sample's weight: its gradient scales alike.
    const float w = weight_of(sw, r, per), inv_rows = w / float(rows);
    const double before = total;
    if (from_logits_) {
      float* sm = gr;
      if (!sm) {
        scratch.resize(k);
        sm = scratch.data();
      }
      const double lse = log_softmax_row(z, sm, k);
      float ysum = 0;
      for (int64_t c = 0; c < k; ++c) {
        total += y[c] * (lse - z[c]);
        ysum += y[c];
      }
      if (gr)
        for (int64_t c = 0; c < k; ++c) gr[c] = (sm[c] * ysum - y[c]) * inv_rows;
    } else {
      // Keras renormalises the probabilities, then clips them.
      double s = 0;
      float ysum = 0;
      for (int64_t c = 0; c < k; ++c) s += z[c], ysum += y[c];
      for (int64_t c = 0; c < k; ++c) {
        const float q_raw = float(z[c] / s), q = std::clamp(q_raw, kEps, 1.f - kEps);
        total -= y[c] * std::log(double(q));
        // Where the probability was clipped the loss is flat in it: zero gradient, as Keras.
        if (gr) gr[c] = (float(ysum / s) - (q == q_raw ? y[c] / z[c] : 0.f)) * inv_rows;
      }
    }
    if (sw) total = before + double(w) * (total - before);
  }
  return total / double(rows);
}

std::optional<ActivationKind> CategoricalCrossentropy::fusable_activation() const {
  if (from_logits_) return std::nullopt;
  return ActivationKind::Softmax;
}
std::shared_ptr<Loss> CategoricalCrossentropy::from_logits_version() const {
  return std::make_shared<CategoricalCrossentropy>(true);
}

double SparseCategoricalCrossentropy::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  const int64_t k = p.ndim() >= 2 ? p.dim(-1) : 0;
  const int64_t rows = k ? p.size() / k : 0;
  if (k == 0 || t.size() != rows)
    throw ShapeError("sparse_categorical_crossentropy: targets " + shape_to_string(t.shape()) +
                     " need one class index per prediction row of " + shape_to_string(p.shape()));
  prepare_grad(g, p);
  const int64_t per = per_sample(rows, p);
  double total = 0;
  std::vector<float> scratch;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = p.data() + r * k;
    float* gr = g ? g->data() + r * k : nullptr;
    // A row's loss times its sample's weight: its gradient scales alike.
    const float w = weight_of(sw, r, per), inv_rows = w / float(rows);
    const double before = total;
    const int64_t y = label_at(t, r);
    if (y < 0 || y >= k)
      throw ValueError("sparse_categorical_crossentropy: label " + std::to_string(y) + " at row " +
                       std::to_string(r * t.rows() / rows) +
                       " is outside [0, " + std::to_string(k) + ")");
    if (from_logits_) {
      float* sm = gr;
      if (!sm) {
        scratch.resize(k);
        sm = scratch.data();
      }
      total += log_softmax_row(z, sm, k) - z[y];
      if (gr) {
        for (int64_t c = 0; c < k; ++c) gr[c] *= inv_rows;
        gr[y] -= inv_rows;
      }
    } else {
      double s = 0;
      for (int64_t c = 0; c < k; ++c) s += z[c];
      const float q = std::clamp(float(z[y] / s), kEps, 1.f - kEps);
      total -= std::log(double(q));
      if (gr) {
        for (int64_t c = 0; c < k; ++c) gr[c] = float(1.0 / s) * inv_rows;
        gr[y] -= inv_rows / std::max(z[y], kEps);
      }
    }
    if (sw) total = before + double(w) * (total - before);
  }
  return total / double(rows);
}

void SparseCategoricalCrossentropy::check_targets(const Tensor& y, const Shape& output_shape) const {
  if (output_shape.empty())
    throw ShapeError("sparse_categorical_crossentropy needs a model output with a class axis");
  const int64_t k = output_shape.back();
  const int64_t per_sample = shape_size(output_shape) / k;
  if (y.rows() == 0 || y.row_size() != per_sample)
    throw ShapeError("sparse_categorical_crossentropy: targets of shape " + shape_to_string(y.shape()) +
                     " need one class index per sample for the output shape " +
                     shape_to_string(with_batch(-1, output_shape), true));
  for (int64_t i = 0; i < y.size(); ++i) {
    const float v = y[i];
    if (!(v >= 0.f && v < float(k)) || v != std::floor(v))
      throw ValueError("sparse_categorical_crossentropy: label " + std::to_string(v) + " at row " +
                       std::to_string(i / per_sample) +
                       " is not a class index in [0, " + std::to_string(k) + ")");
  }
}

std::optional<ActivationKind> SparseCategoricalCrossentropy::fusable_activation() const {
  if (from_logits_) return std::nullopt;
  return ActivationKind::Softmax;
}
std::shared_ptr<Loss> SparseCategoricalCrossentropy::from_logits_version() const {
  return std::make_shared<SparseCategoricalCrossentropy>(true);
}

std::shared_ptr<Loss> get(const std::string& name) {
  if (name == "mean_squared_error" || name == "mse") return std::make_shared<MeanSquaredError>();
  if (name == "mean_absolute_error" || name == "mae") return std::make_shared<MeanAbsoluteError>();
  if (name == "huber" || name == "huber_loss") return std::make_shared<Huber>();
  if (name == "binary_crossentropy") return std::make_shared<BinaryCrossentropy>();
  if (name == "categorical_crossentropy") return std::make_shared<CategoricalCrossentropy>();
  if (name == "sparse_categorical_crossentropy") return std::make_shared<SparseCategoricalCrossentropy>();
  throw ValueError("unknown loss '" + name +
                   "' (known: mean_squared_error/mse, mean_absolute_error/mae, huber, binary_crossentropy, "
                   "categorical_crossentropy, sparse_categorical_crossentropy)");
}

}  // namespace losses
}  // namespace myelin
