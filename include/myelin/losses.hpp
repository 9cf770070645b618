// Losses by Keras's names. Each returns the batch mean (optionally weighted per sample) and, on
// request, its gradient.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "myelin/activations.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

class Loss {
 public:
  virtual ~Loss() = default;
  /// Keras's full name ("mean_squared_error").
  virtual std::string name() const = 0;
  /// Mean loss over the batch. When `grad` is not null it is resized to y_pred's shape and
  /// receives d(mean loss)/d(y_pred).
  virtual double compute(const Tensor& y_true, const Tensor& y_pred, Tensor* grad) const = 0;
  /// compute() with one weight per row of y_pred (`sample_weight`): each sample's loss is multiplied
  /// by its weight and the sum is still divided by the number of loss values (Keras's
  /// "sum_over_batch_size" reduction), not by the sum of the weights. The built-in losses implement
  /// it; the default throws ValueError (a loss that cannot weigh samples).
  virtual double compute_weighted(const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                                  const float* sample_weight) const;
  /// compute_weighted() (sample_weight may be null) for a model whose output activation this loss
  /// absorbed: y_pred holds logits and `activation` is fusable_activation() of the loss's
  /// probability form. Also writes activation(y_pred), the model's predictions, into `activated`,
  /// resized to y_pred's shape: the same values as the activation layer's. The cross-entropies
  /// write them as they compute the loss; the default applies the activation after compute().
  virtual double compute_activated(const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                                   const float* sample_weight, ActivationKind activation, Tensor& activated) const;
  /// Checks targets against the model's output shape (per sample) once, at fit/evaluate.
  /// Throws ShapeError or ValueError naming the problem (wrong shape, label out of range).
  virtual void check_targets(const Tensor& y_true, const Shape& output_shape) const;
  /// The output activation this loss can absorb (softmax for categorical cross-entropy, sigmoid for
  /// binary cross-entropy) when it is given probabilities; none otherwise.
  virtual std::optional<ActivationKind> fusable_activation() const { return std::nullopt; }
  /// The same loss reading logits (for the fused, numerically stable path).
  virtual std::shared_ptr<Loss> from_logits_version() const { return nullptr; }
  /// Keras's get_config() minus the name: {"from_logits": ...} or {"delta": ...}; {} when none.
  virtual nlohmann::json get_config() const;
};

namespace losses {

class MeanSquaredError : public Loss {
 public:
  std::string name() const override { return "mean_squared_error"; }
  double compute(const Tensor& y_true, const Tensor& y_pred, Tensor* grad) const override {
    return compute_weighted(y_true, y_pred, grad, nullptr);
  }
  double compute_weighted(const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                          const float* sample_weight) const override;
};

class MeanAbsoluteError : public Loss {
 public:
  std::string name() const override { return "mean_absolute_error"; }
  double compute(const Tensor& y_true, const Tensor& y_pred, Tensor* grad) const override {
    return compute_weighted(y_true, y_pred, grad, nullptr);
  }
  double compute_weighted(const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                          const float* sample_weight) const override;
};

/// 0.5 e^2 where |e| <= delta, delta (|e| - 0.5 delta) beyond (Keras's default delta is 1).
class Huber : public Loss {
 public:
  explicit Huber(float delta = 1.f) : delta_(delta) {}
  std::string name() const override { return "huber"; }
  double compute(const Tensor& y_true, const Tensor& y_pred, Tensor* grad) const override {
    return compute_weighted(y_true, y_pred, grad, nullptr);
  }
  double compute_weighted(const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                          const float* sample_weight) const override;
  nlohmann::json get_config() const override;

 private:
  float delta_;
};

/// What the cross-entropies share: from probabilities (Keras's default) or from logits, and the
/// output activation they absorb from probabilities to logits (softmax, or sigmoid for the binary
/// one) when a model fuses its output layer with the loss.
class Crossentropy : public Loss {
 public:
  double compute(const Tensor& y_true, const Tensor& y_pred, Tensor* grad) const override {
    return compute_weighted(y_true, y_pred, grad, nullptr);
  }
  double compute_weighted(const Tensor& y_true, const Tensor& y_pred, Tensor* grad,
                          const float* sample_weight) const override;
  double compute_activated(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sample_weight,
                           ActivationKind activation, Tensor& activated) const override;
  std::optional<ActivationKind> fusable_activation() const override;
  nlohmann::json get_config() const override;

 protected:
  Crossentropy(bool from_logits, ActivationKind absorbed) : from_logits_(from_logits), absorbed_(absorbed) {}
  /// The loss, its gradient when grad is set, and, from logits, the absorbed activation of y_pred
  /// when `probabilities` is set (resized to y_pred's shape).
  virtual double compute_into(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sample_weight,
                              Tensor* probabilities) const = 0;
  bool from_logits_;

 private:
  ActivationKind absorbed_;
};

/// Targets 0/1, one output per target. From probabilities (clipped to [1e-7, 1-1e-7] as Keras) or,
/// with from_logits, from logits by the stable formula max(z,0) - z*y + log(1 + exp(-|z|)).
class BinaryCrossentropy : public Crossentropy {
 public:
  explicit BinaryCrossentropy(bool from_logits = false) : Crossentropy(from_logits, ActivationKind::Sigmoid) {}
  std::string name() const override { return "binary_crossentropy"; }
  void check_targets(const Tensor& y_true, const Shape& output_shape) const override;
  std::shared_ptr<Loss> from_logits_version() const override;

 protected:
  double compute_into(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sample_weight,
                      Tensor* probabilities) const override;
};

/// One-hot targets. From logits it uses log-sum-exp; from probabilities, Keras's clipping.
class CategoricalCrossentropy : public Crossentropy {
 public:
  explicit CategoricalCrossentropy(bool from_logits = false) : Crossentropy(from_logits, ActivationKind::Softmax) {}
  std::string name() const override { return "categorical_crossentropy"; }
  std::shared_ptr<Loss> from_logits_version() const override;

 protected:
  double compute_into(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sample_weight,
                      Tensor* probabilities) const override;
};

/// Integer class targets (shape {n} or {n, 1}).
class SparseCategoricalCrossentropy : public Crossentropy {
 public:
  explicit SparseCategoricalCrossentropy(bool from_logits = false)
      : Crossentropy(from_logits, ActivationKind::Softmax) {}
  std::string name() const override { return "sparse_categorical_crossentropy"; }
  void check_targets(const Tensor& y_true, const Shape& output_shape) const override;
  std::shared_ptr<Loss> from_logits_version() const override;

 protected:
  double compute_into(const Tensor& y_true, const Tensor& y_pred, Tensor* grad, const float* sample_weight,
                      Tensor* probabilities) const override;
};

/// A loss by name: full Keras names, and the short ones "mse", "mae".
/// Throws ValueError naming an unknown loss.
std::shared_ptr<Loss> get(const std::string& name);
/// A loss from its name and get_config() (as saved with a model).
std::shared_ptr<Loss> from_config(const std::string& name, const nlohmann::json& config);

}  // namespace losses

/// What compile() takes as a loss: a name or a loss object.
class LossArg {
 public:
  LossArg(const char* name) : ptr_(losses::get(name)) {}
  LossArg(const std::string& name) : ptr_(losses::get(name)) {}
  template <class L, class = std::enable_if_t<std::is_base_of_v<Loss, std::decay_t<L>>>>
  LossArg(L&& loss) : ptr_(std::make_shared<std::decay_t<L>>(std::forward<L>(loss))) {}
  LossArg(std::shared_ptr<Loss> loss) : ptr_(std::move(loss)) {}
  const std::shared_ptr<Loss>& get() const { return ptr_; }

 private:
  std::shared_ptr<Loss> ptr_;
};

}  // namespace myelin
