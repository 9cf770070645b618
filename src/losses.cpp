#include "myelin/losses.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/checks.hpp"
#include "kernels/cpu/loss.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"

namespace myelin {

namespace {
void prepare_grad(Tensor* grad, const Tensor& y_pred) {
  if (grad) grad->resize(y_pred.shape());
}

// The probabilities a cross-entropy writes only from logits (compute_into's contract).
void prepare_probabilities(Tensor* probabilities, const Tensor& y_pred, bool from_logits) {
  if (probabilities && from_logits) probabilities->resize(y_pred.shape());
}

// How many of `values` loss values (or rows) each sample of y_pred holds: the sample weights' stride.
int64_t per_sample(int64_t values, const Tensor& y_pred) {
  const int64_t rows = y_pred.ndim() ? y_pred.rows() : 1;
  return rows ? std::max<int64_t>(1, values / rows) : 1;
}

double regression(kernels::RegressionLoss kind, float delta, const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                  const float* sw) {
  if (y_true.size() != y_pred.size())
    throw ShapeError("loss: targets " + shape_to_string(y_true.shape()) + " do not match predictions " +
                     shape_to_string(y_pred.shape()));
  prepare_grad(grad, y_pred);
  const int64_t n = y_pred.size();
  return kernels::regression_loss(kind, delta, y_true.data(), y_pred.data(), sw, grad ? grad->data() : nullptr, n,
                                  per_sample(n, y_pred));
}
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

double Loss::compute_activated(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sample_weight,
                               ActivationKind activation, Tensor& activated) const {
  const double value = sample_weight ? compute_weighted(y_true, y_pred, grad, sample_weight)
                                     : compute(y_true, y_pred, grad);
  activated.resize(y_pred.shape());
  const int64_t width = y_pred.ndim() ? y_pred.dim(-1) : 1;
  kernels::bias_activation_forward(activation, y_pred.data(), nullptr, nullptr, activated.data(),
                                   width ? y_pred.size() / width : 0, width);
  return value;
}

namespace losses {

nlohmann::json Huber::get_config() const { return {{"delta", delta_}}; }

double Crossentropy::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  return compute_into(t, p, g, sw, nullptr);
}

double Crossentropy::compute_activated(const Tensor& t, const Tensor& p, Tensor* g, const float* sw,
                                       ActivationKind activation, Tensor& activated) const {
  if (!from_logits_ || activation != absorbed_) return Loss::compute_activated(t, p, g, sw, activation, activated);
  return compute_into(t, p, g, sw, &activated);
}

std::optional<ActivationKind> Crossentropy::fusable_activation() const {
  if (from_logits_) return std::nullopt;
  return absorbed_;
}

nlohmann::json Crossentropy::get_config() const { return {{"from_logits", from_logits_}}; }

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
  return regression(kernels::RegressionLoss::MeanSquared, 0.f, t, p, g, sw);
}

double MeanAbsoluteError::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  return regression(kernels::RegressionLoss::MeanAbsolute, 0.f, t, p, g, sw);
}

double Huber::compute_weighted(const Tensor& t, const Tensor& p, Tensor* g, const float* sw) const {
  return regression(kernels::RegressionLoss::Huber, delta_, t, p, g, sw);
}

double BinaryCrossentropy::compute_into(const Tensor& t, const Tensor& p, Tensor* g, const float* sw,
                                        Tensor* probabilities) const {
  if (t.size() != p.size())
    throw ShapeError("binary_crossentropy: targets " + shape_to_string(t.shape()) + " do not match predictions " +
                     shape_to_string(p.shape()));
  prepare_grad(g, p);
  prepare_probabilities(probabilities, p, from_logits_);
  const int64_t n = p.size();
  return kernels::binary_crossentropy(t.data(), p.data(), sw, g ? g->data() : nullptr,
                                      probabilities ? probabilities->data() : nullptr, n, per_sample(n, p),
                                      from_logits_);
}

void BinaryCrossentropy::check_targets(const Tensor& y, const Shape& output_shape) const {
  Loss::check_targets(y, output_shape);
  const int64_t i = kernels::first_outside(y.data(), y.size(), 0.f, 1.f);
  if (i >= 0)
    throw ValueError("binary_crossentropy: target " + std::to_string(y[i]) + " at row " +
                     std::to_string(i / y.row_size()) + " is outside [0, 1]");
}

std::shared_ptr<Loss> BinaryCrossentropy::from_logits_version() const {
  return std::make_shared<BinaryCrossentropy>(true);
}

double CategoricalCrossentropy::compute_into(const Tensor& t, const Tensor& p, Tensor* g, const float* sw,
                                             Tensor* probabilities) const {
  if (t.size() != p.size() || p.ndim() < 1)
    throw ShapeError("categorical_crossentropy: targets " + shape_to_string(t.shape()) +
                     " do not match predictions " + shape_to_string(p.shape()));
  prepare_grad(g, p);
  prepare_probabilities(probabilities, p, from_logits_);
  const int64_t k = p.dim(-1), rows = p.size() / k;
  return kernels::categorical_crossentropy(t.data(), p.data(), sw, g ? g->data() : nullptr,
                                           probabilities ? probabilities->data() : nullptr, rows, k,
                                           per_sample(rows, p), from_logits_);
}

std::shared_ptr<Loss> CategoricalCrossentropy::from_logits_version() const {
  return std::make_shared<CategoricalCrossentropy>(true);
}

double SparseCategoricalCrossentropy::compute_into(const Tensor& t, const Tensor& p, Tensor* g, const float* sw,
                                                   Tensor* probabilities) const {
  const int64_t k = p.ndim() >= 2 ? p.dim(-1) : 0;
  const int64_t rows = k ? p.size() / k : 0;
  if (k == 0 || t.size() != rows)
    throw ShapeError("sparse_categorical_crossentropy: targets " + shape_to_string(t.shape()) +
                     " need one class index per prediction row of " + shape_to_string(p.shape()));
  const int64_t bad = kernels::first_label_outside(t.data(), rows, k);
  if (bad >= 0) {
    const float v = t[bad];
    throw ValueError("sparse_categorical_crossentropy: label " +
                     (std::isfinite(v) ? std::to_string(static_cast<int64_t>(v)) : std::to_string(v)) +
                     " at row " + std::to_string(bad * t.rows() / rows) + " is outside [0, " + std::to_string(k) +
                     ")");
  }
  prepare_grad(g, p);
  prepare_probabilities(probabilities, p, from_logits_);
  return kernels::sparse_categorical_crossentropy(t.data(), p.data(), sw, g ? g->data() : nullptr,
                                                  probabilities ? probabilities->data() : nullptr, rows, k,
                                                  per_sample(rows, p), from_logits_);
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
  const int64_t i = kernels::first_non_class_index(y.data(), y.size(), k);
  if (i >= 0)
    throw ValueError("sparse_categorical_crossentropy: label " + std::to_string(y[i]) + " at row " +
                     std::to_string(i / per_sample) + " is not a class index in [0, " + std::to_string(k) + ")");
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
