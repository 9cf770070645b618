// Optimizers with Keras's update rules and defaults, gradient clipping and learning-rate schedules.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "myelin/layers/layer.hpp"
#include "myelin/schedules.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

/// Settings every optimizer shares (Keras's keyword arguments).
struct OptimizerOptions {
  double clipnorm = 0;         ///< > 0: each gradient tensor is rescaled to at most this L2 norm
  double clipvalue = 0;        ///< > 0: each gradient element is clipped to [-clipvalue, clipvalue]
  double global_clipnorm = 0;  ///< > 0: all gradients together are rescaled to at most this norm
};

class Optimizer {
 public:
  explicit Optimizer(double learning_rate, OptimizerOptions options = {});
  virtual ~Optimizer() = default;
  /// Keras's name ("adam").
  virtual std::string name() const = 0;

  /// One update of every parameter from its gradient: clipping, then the rule. The first call
  /// creates the optimizer's state (moments) for these parameters. When a later call passes other
  /// parameters (a layer was frozen or unfrozen), the state follows each weight: a weight still
  /// passed keeps its state, a new one starts from fresh state, and a dropped one loses its state.
  void apply(const std::vector<Param>& params);

  /// The rate the next update uses (from the schedule, when one is set).
  double learning_rate() const;
  /// Sets a constant rate (and drops any schedule), as ReduceLROnPlateau does.
  void set_learning_rate(double lr);
  void set_schedule(std::shared_ptr<LearningRateSchedule> schedule);
  /// Whether a schedule sets the rate (set_learning_rate removes it).
  bool has_schedule() const { return schedule_ != nullptr; }
  /// Number of updates done.
  int64_t iterations() const { return iterations_; }
  const OptimizerOptions& options() const { return options_; }

  /// Keras's get_config(): learning_rate, the rule's hyper-parameters and the clipping options.
  /// (A schedule is not saved: the config holds the rate in force.)
  virtual nlohmann::json get_config() const;
  /// Creates the per-parameter state for these parameters if not done yet (apply() does it on its
  /// first call); checkpoints call it to restore state before training resumes.
  void ensure_built(const std::vector<Param>& params);
  /// The state tensors, named "<index>/<slot>" ("0/m", "0/v", ...), for checkpoints. Empty before build.
  virtual std::vector<std::pair<std::string, Tensor*>> slots() { return {}; }
  /// Values of state kept per trainable weight (Adam's m and v: 2; SGD with momentum: 1; plain SGD:
  /// 0): the model counts them before training starts, to refuse a model whose optimizer state
  /// cannot fit in memory (myelin/memory_limit.hpp).
  virtual int state_copies_per_weight() const = 0;
  void set_iterations(int64_t n) { iterations_ = n; }

 protected:
  /// Creates per-parameter state; called once with the parameters' shapes.
  virtual void build(const std::vector<Param>& params) = 0;
  /// Updates parameter `index` with learning rate `lr`; iterations() counts updates done before this one.
  virtual void update(size_t index, Tensor& w, const Tensor& g, float lr) = 0;

 private:
  void clip(const std::vector<Param>& params);
  bool built_for(const std::vector<Param>& params) const;
  void rebuild_for(const std::vector<Param>& params);
  double lr_;
  std::shared_ptr<LearningRateSchedule> schedule_;
  OptimizerOptions options_;
  int64_t iterations_ = 0;
  bool built_ = false;
  std::vector<const Tensor*> weights_;  // the weights the state was built for, in order
};

namespace detail {
/// Names a list of per-parameter slot tensors "<index>/<slot>" (shared by the optimizers' slots()).
void add_slots(std::vector<std::pair<std::string, Tensor*>>& out, const char* slot, std::vector<Tensor>& tensors);
}  // namespace detail

namespace optimizers {

/// w -= lr*g; with momentum m = momentum*m - lr*g, w += m (nesterov: w += momentum*m - lr*g).
class SGD : public Optimizer {
 public:
  explicit SGD(double learning_rate = 0.01, double momentum = 0.0, bool nesterov = false, OptimizerOptions options = {});
  std::string name() const override { return "SGD"; }
  int state_copies_per_weight() const override { return momentum_ != 0.f ? 1 : 0; }
  nlohmann::json get_config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots() override;

 protected:
  void build(const std::vector<Param>& params) override;
  void update(size_t index, Tensor& w, const Tensor& g, float lr) override;

 private:
  float momentum_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

/// Keras's Adam: m, v moments; w -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon).
/// Note epsilon is added to sqrt(v) before bias correction of the rate, as Keras (PyTorch adds it after).
class Adam : public Optimizer {
 public:
  explicit Adam(double learning_rate = 0.001, double beta_1 = 0.9, double beta_2 = 0.999, double epsilon = 1e-7,
                OptimizerOptions options = {});
  std::string name() const override { return "Adam"; }
  int state_copies_per_weight() const override { return 2; }
  nlohmann::json get_config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots() override;

 protected:
  void build(const std::vector<Param>& params) override;
  void update(size_t index, Tensor& w, const Tensor& g, float lr) override;
  float beta_1_, beta_2_, epsilon_;
  std::vector<Tensor> m_, v_;
};

/// Adam with decoupled weight decay: w -= lr * weight_decay * w before the Adam step (Keras's AdamW).
class AdamW : public Adam {
 public:
  explicit AdamW(double learning_rate = 0.001, double weight_decay = 0.004, double beta_1 = 0.9, double beta_2 = 0.999,
                 double epsilon = 1e-7, OptimizerOptions options = {});
  std::string name() const override { return "AdamW"; }
  nlohmann::json get_config() const override;

 protected:
  void update(size_t index, Tensor& w, const Tensor& g, float lr) override;

 private:
  float weight_decay_;
};

/// v = rho*v + (1-rho)*g^2; w -= lr * g / sqrt(v + epsilon) (Keras's RMSprop, momentum 0, not centered).
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(double learning_rate = 0.001, double rho = 0.9, double epsilon = 1e-7, OptimizerOptions options = {});
  std::string name() const override { return "RMSprop"; }
  int state_copies_per_weight() const override { return 1; }
  nlohmann::json get_config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots() override;

 protected:
  void build(const std::vector<Param>& params) override;
  void update(size_t index, Tensor& w, const Tensor& g, float lr) override;

 private:
  float rho_, epsilon_;
  std::vector<Tensor> v_;
};

/// a += g^2; w -= lr * g / sqrt(a + epsilon), a starting at initial_accumulator_value (Keras's Adagrad).
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(double learning_rate = 0.001, double initial_accumulator_value = 0.1, double epsilon = 1e-7,
                   OptimizerOptions options = {});
  std::string name() const override { return "Adagrad"; }
  int state_copies_per_weight() const override { return 1; }
  nlohmann::json get_config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots() override;

 protected:
  void build(const std::vector<Param>& params) override;
  void update(size_t index, Tensor& w, const Tensor& g, float lr) override;

 private:
  float initial_, epsilon_;
  std::vector<Tensor> a_;
};

/// An optimizer by name with Keras's defaults: "sgd", "adam", "adamw", "rmsprop", "adagrad".
std::shared_ptr<Optimizer> get(const std::string& name);
/// An optimizer from its class name ("Adam") and get_config(); missing keys take Keras's defaults.
std::shared_ptr<Optimizer> from_config(const std::string& class_name, const nlohmann::json& config);

}  // namespace optimizers

/// What compile() takes as an optimizer: a name or an optimizer object.
class OptimizerArg {
 public:
  OptimizerArg(const char* name) : ptr_(optimizers::get(name)) {}
  OptimizerArg(const std::string& name) : ptr_(optimizers::get(name)) {}
  template <class O, class = std::enable_if_t<std::is_base_of_v<Optimizer, std::decay_t<O>>>>
  OptimizerArg(O&& o) : ptr_(std::make_shared<std::decay_t<O>>(std::forward<O>(o))) {}
  OptimizerArg(std::shared_ptr<Optimizer> o) : ptr_(std::move(o)) {}
  /// A shared optimizer of a derived type (`std::make_shared<optimizers::Adam>(1e-3)`), kept to set
  /// a schedule or read its state later.
  template <class O, class = std::enable_if_t<std::is_base_of_v<Optimizer, O>>>
  OptimizerArg(std::shared_ptr<O> o) : ptr_(std::move(o)) {}
  const std::shared_ptr<Optimizer>& get() const { return ptr_; }

 private:
  std::shared_ptr<Optimizer> ptr_;
};

}  // namespace myelin
