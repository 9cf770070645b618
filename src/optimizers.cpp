#include "myelin/optimizers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "kernels/cpu/optimizer.hpp"
#include "kernels/cpu/subnormals.hpp"
#include "myelin/error.hpp"

namespace myelin {

Optimizer::Optimizer(double learning_rate, OptimizerOptions options) : lr_(learning_rate), options_(options) {
  if (!(learning_rate >= 0)) throw ValueError("optimizer: learning_rate must be >= 0");
}

double Optimizer::learning_rate() const { return schedule_ ? (*schedule_)(iterations_) : lr_; }

void Optimizer::set_learning_rate(double lr) {
  lr_ = lr;
  schedule_.reset();
}

void Optimizer::set_schedule(std::shared_ptr<LearningRateSchedule> schedule) { schedule_ = std::move(schedule); }

void Optimizer::clip(const std::vector<Param>& params) {
  if (options_.clipvalue > 0)
    for (const auto& p : params) kernels::clip_by_value(p.grad->data(), p.grad->size(), float(options_.clipvalue));
  auto sq_norm = [](const Tensor& g) { return kernels::squared_norm(g.data(), g.size()); };
  auto scale = [](Tensor& g, double f) { kernels::scale_gradient(g.data(), g.size(), f); };
  if (options_.clipnorm > 0)
    for (const auto& p : params) {
      const double n = std::sqrt(sq_norm(*p.grad));
      if (n > options_.clipnorm) scale(*p.grad, options_.clipnorm / n);
    }
  if (options_.global_clipnorm > 0) {
    double total = 0;
    for (const auto& p : params) total += sq_norm(*p.grad);
    const double n = std::sqrt(total);
    if (n > options_.global_clipnorm)
      for (const auto& p : params) scale(*p.grad, options_.global_clipnorm / n);
  }
}

void Optimizer::ensure_built(const std::vector<Param>& params) {
  if (built_) return;
  build(params);
  built_ = true;
  weights_.clear();
  for (const auto& p : params) weights_.push_back(p.value);
}

bool Optimizer::built_for(const std::vector<Param>& params) const {
  if (params.size() != weights_.size()) return false;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].value != weights_[i]) return false;
  return true;
}

void Optimizer::rebuild_for(const std::vector<Param>& params) {
  // Slots are named "<index>/<slot>" (detail::add_slots): copy the old ones, build fresh state for
  // the new list, then put each kept weight's old slots back under its new index.
  std::map<std::string, Tensor> old;
  for (const auto& [name, t] : slots()) old.emplace(name, t->clone());
  const std::vector<const Tensor*> previous = weights_;
  built_ = false;
  ensure_built(params);
  for (const auto& [name, t] : slots()) {
    const size_t slash = name.find('/');
    const size_t index = std::stoul(name.substr(0, slash));
    const auto was = std::find(previous.begin(), previous.end(), params[index].value);
    if (was == previous.end()) continue;
    const auto kept = old.find(std::to_string(was - previous.begin()) + name.substr(slash));
    if (kept != old.end()) t->copy_from(kept->second);
  }
}

nlohmann::json Optimizer::get_config() const {
  return {{"learning_rate", learning_rate()},
          {"clipnorm", options_.clipnorm > 0 ? nlohmann::json(options_.clipnorm) : nlohmann::json(nullptr)},
          {"clipvalue", options_.clipvalue > 0 ? nlohmann::json(options_.clipvalue) : nlohmann::json(nullptr)},
          {"global_clipnorm",
           options_.global_clipnorm > 0 ? nlohmann::json(options_.global_clipnorm) : nlohmann::json(nullptr)}};
}

namespace detail {
void add_slots(std::vector<std::pair<std::string, Tensor*>>& out, const char* slot, std::vector<Tensor>& tensors) {
  for (size_t i = 0; i < tensors.size(); ++i) out.emplace_back(std::to_string(i) + "/" + slot, &tensors[i]);
}
}  // namespace detail

void Optimizer::apply(const std::vector<Param>& params) {
  if (!built_) ensure_built(params);
  else if (!built_for(params)) rebuild_for(params);
  if (options_.clipnorm > 0 || options_.clipvalue > 0 || options_.global_clipnorm > 0) clip(params);
  const float lr = float(learning_rate());
  const kernels::SubnormalsFlushed flushed;  // moments decaying towards zero stay off the slow path
  for (size_t i = 0; i < params.size(); ++i) update(i, *params[i].value, *params[i].grad, lr);
  ++iterations_;
}

namespace optimizers {

namespace {
std::vector<Tensor> zeros_like(const std::vector<Param>& params, float value = 0.f) {
  std::vector<Tensor> out;
  for (const auto& p : params) out.push_back(Tensor::full(p.value->shape(), value));
  return out;
}
}  // namespace

SGD::SGD(double lr, double momentum, bool nesterov, OptimizerOptions o)
    : Optimizer(lr, o), momentum_(float(momentum)), nesterov_(nesterov) {
  if (momentum < 0 || momentum > 1) throw ValueError("SGD: momentum must be in [0, 1]");
}

void SGD::build(const std::vector<Param>& params) {
  if (momentum_ != 0.f) velocity_ = zeros_like(params);
}

void SGD::update(size_t index, Tensor& w, const Tensor& g, float lr) {
  if (momentum_ == 0.f)
    kernels::sgd_update(w.data(), g.data(), w.size(), lr);
  else
    kernels::sgd_momentum_update(w.data(), g.data(), velocity_[index].data(), w.size(), lr, momentum_, nesterov_);
}

Adam::Adam(double lr, double b1, double b2, double eps, OptimizerOptions o)
    : Optimizer(lr, o), beta_1_(float(b1)), beta_2_(float(b2)), epsilon_(float(eps)) {}

void Adam::build(const std::vector<Param>& params) {
  m_ = zeros_like(params);
  v_ = zeros_like(params);
}

void Adam::update(size_t index, Tensor& w, const Tensor& g, float lr) {
  const double t = double(iterations() + 1);
  const float alpha = float(lr * std::sqrt(1.0 - std::pow(double(beta_2_), t)) /
                            (1.0 - std::pow(double(beta_1_), t)));
  kernels::adam_update(w.data(), g.data(), m_[index].data(), v_[index].data(), w.size(), alpha, beta_1_, beta_2_,
                       epsilon_);
}

AdamW::AdamW(double lr, double weight_decay, double b1, double b2, double eps, OptimizerOptions o)
    : Adam(lr, b1, b2, eps, o), weight_decay_(float(weight_decay)) {}

void AdamW::update(size_t index, Tensor& w, const Tensor& g, float lr) {
  kernels::scale_weights(w.data(), w.size(), 1.f - lr * weight_decay_);
  Adam::update(index, w, g, lr);
}

RMSprop::RMSprop(double lr, double rho, double eps, OptimizerOptions o)
    : Optimizer(lr, o), rho_(float(rho)), epsilon_(float(eps)) {}

void RMSprop::build(const std::vector<Param>& params) { v_ = zeros_like(params); }

void RMSprop::update(size_t index, Tensor& w, const Tensor& g, float lr) {
  kernels::rmsprop_update(w.data(), g.data(), v_[index].data(), w.size(), lr, rho_, epsilon_);
}

Adagrad::Adagrad(double lr, double initial, double eps, OptimizerOptions o)
    : Optimizer(lr, o), initial_(float(initial)), epsilon_(float(eps)) {}

void Adagrad::build(const std::vector<Param>& params) { a_ = zeros_like(params, initial_); }

void Adagrad::update(size_t index, Tensor& w, const Tensor& g, float lr) {
  kernels::adagrad_update(w.data(), g.data(), a_[index].data(), w.size(), lr, epsilon_);
}

nlohmann::json SGD::get_config() const {
  auto c = Optimizer::get_config();
  c["momentum"] = momentum_;
  c["nesterov"] = nesterov_;
  return c;
}
std::vector<std::pair<std::string, Tensor*>> SGD::slots() {
  std::vector<std::pair<std::string, Tensor*>> s;
  detail::add_slots(s, "momentum", velocity_);
  return s;
}

nlohmann::json Adam::get_config() const {
  auto c = Optimizer::get_config();
  c["beta_1"] = beta_1_;
  c["beta_2"] = beta_2_;
  c["epsilon"] = epsilon_;
  return c;
}
std::vector<std::pair<std::string, Tensor*>> Adam::slots() {
  std::vector<std::pair<std::string, Tensor*>> s;
  detail::add_slots(s, "m", m_);
  detail::add_slots(s, "v", v_);
  return s;
}

nlohmann::json AdamW::get_config() const {
  auto c = Adam::get_config();
  c["weight_decay"] = weight_decay_;
  return c;
}

nlohmann::json RMSprop::get_config() const {
  auto c = Optimizer::get_config();
  c["rho"] = rho_;
  c["epsilon"] = epsilon_;
  return c;
}
std::vector<std::pair<std::string, Tensor*>> RMSprop::slots() {
  std::vector<std::pair<std::string, Tensor*>> s;
  detail::add_slots(s, "velocity", v_);
  return s;
}

nlohmann::json Adagrad::get_config() const {
  auto c = Optimizer::get_config();
  c["initial_accumulator_value"] = initial_;
  c["epsilon"] = epsilon_;
  return c;
}
std::vector<std::pair<std::string, Tensor*>> Adagrad::slots() {
  std::vector<std::pair<std::string, Tensor*>> s;
  detail::add_slots(s, "accumulator", a_);
  return s;
}

std::shared_ptr<Optimizer> from_config(const std::string& class_name, const nlohmann::json& c) {
  auto num = [&](const char* key, double fallback) {
    if (!c.contains(key) || !c[key].is_number()) return fallback;
    // Hyper-parameters become floats: a value beyond float's range would be undefined to convert.
    const double v = c[key].get<double>();
    if (!(std::fabs(v) <= double(std::numeric_limits<float>::max())))
      throw ValueError(class_name + ": config '" + key + "' is out of range: " + c[key].dump());
    return v;
  };
  OptimizerOptions o{num("clipnorm", 0), num("clipvalue", 0), num("global_clipnorm", 0)};
  const double lr = num("learning_rate", -1);
  std::shared_ptr<Optimizer> opt;
  if (class_name == "SGD")
    opt = std::make_shared<SGD>(lr < 0 ? 0.01 : lr, num("momentum", 0), c.value("nesterov", false), o);
  else if (class_name == "Adam")
    opt = std::make_shared<Adam>(lr < 0 ? 0.001 : lr, num("beta_1", 0.9), num("beta_2", 0.999), num("epsilon", 1e-7), o);
  else if (class_name == "AdamW")
    opt = std::make_shared<AdamW>(lr < 0 ? 0.001 : lr, num("weight_decay", 0.004), num("beta_1", 0.9),
                                  num("beta_2", 0.999), num("epsilon", 1e-7), o);
  else if (class_name == "RMSprop")
    opt = std::make_shared<RMSprop>(lr < 0 ? 0.001 : lr, num("rho", 0.9), num("epsilon", 1e-7), o);
  else if (class_name == "Adagrad")
    opt = std::make_shared<Adagrad>(lr < 0 ? 0.001 : lr, num("initial_accumulator_value", 0.1), num("epsilon", 1e-7), o);
  else
    throw ValueError("unknown optimizer class '" + class_name + "' (known: SGD, Adam, AdamW, RMSprop, Adagrad)");
  return opt;
}

std::shared_ptr<Optimizer> get(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "sgd") return std::make_shared<SGD>();
  if (n == "adam") return std::make_shared<Adam>();
  if (n == "adamw") return std::make_shared<AdamW>();
  if (n == "rmsprop") return std::make_shared<RMSprop>();
  if (n == "adagrad") return std::make_shared<Adagrad>();
  throw ValueError("unknown optimizer '" + name + "' (known: sgd, adam, adamw, rmsprop, adagrad)");
}

}  // namespace optimizers
}  // namespace myelin
