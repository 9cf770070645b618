#include "myelin/callbacks.hpp"

#include <cmath>
#include <cstdio>

#include "myelin/error.hpp"
#include "myelin/model.hpp"

namespace myelin::callbacks {

bool monitor_maximizes(const std::string& monitor, const std::string& mode) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  if (mode != "auto") throw ValueError("callback mode must be 'auto', 'min' or 'max', got '" + mode + "'");
  for (const char* key : {"acc", "auc", "precision", "recall"})
    if (monitor.find(key) != std::string::npos) return true;
  return false;
}

namespace {
double monitored(const Logs& logs, const std::string& monitor, const char* who) {
  auto it = logs.find(monitor);
  if (it == logs.end())
    throw ValueError(std::string(who) + ": monitored quantity '" + monitor + "' is not in the logs (available: " +
                     logs.keys() + ")");
  return it->second;
}
}  // namespace

EarlyStopping::EarlyStopping(Options options) : o_(std::move(options)) {
  minimize_ = !monitor_maximizes(o_.monitor, o_.mode);
}

bool EarlyStopping::improved(double value, double reference) const {
  return minimize_ ? value < reference - o_.min_delta : value > reference + o_.min_delta;
}

void EarlyStopping::on_train_begin(const Logs&) {
  wait_ = 0;
  stopped_epoch_ = best_epoch_ = -1;
  best_ = minimize_ ? INFINITY : -INFINITY;
  best_weights_.clear();
}

void EarlyStopping::on_epoch_end(int epoch, const Logs& logs) {
  if (epoch < o_.start_from_epoch) return;
  const double value = monitored(logs, o_.monitor, "EarlyStopping");
  ++wait_;
  if (improved(value, best_)) {
    best_ = value;
    best_epoch_ = epoch;
    if (o_.restore_best_weights) best_weights_ = model().get_weights();
    // A baseline must be beaten before patience starts counting from a fresh best.
    if (std::isnan(o_.baseline) || improved(value, o_.baseline)) wait_ = 0;
    return;
  }
  if (wait_ >= o_.patience && epoch > 0) {
    stopped_epoch_ = epoch;
    model().stop_training = true;
  }
}

void EarlyStopping::on_train_end(const Logs&) {
  if (o_.restore_best_weights && !best_weights_.empty()) model().set_weights(best_weights_);
}

void TerminateOnNaN::on_train_batch_end(int batch, const Logs& logs) {
  auto it = logs.find("loss");
  if (it != logs.end() && !std::isfinite(it->second)) {
    std::fprintf(stderr, "TerminateOnNaN: invalid loss %g at epoch %d, batch %d; stopping training\n", it->second,
                 epoch_ + 1, batch);
    terminated_ = true;
    model().stop_training = true;
  }
}

ReduceLROnPlateau::ReduceLROnPlateau(Options options) : o_(std::move(options)) {
  if (o_.factor >= 1.0 || o_.factor <= 0.0) throw ValueError("ReduceLROnPlateau: factor must be in (0, 1)");
  minimize_ = !monitor_maximizes(o_.monitor, o_.mode);
}

void ReduceLROnPlateau::on_train_begin(const Logs&) {
  wait_ = cooldown_left_ = 0;
  best_ = minimize_ ? INFINITY : -INFINITY;
}

void ReduceLROnPlateau::on_epoch_end(int epoch, const Logs& logs) {
  const double value = monitored(logs, o_.monitor, "ReduceLROnPlateau");
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    wait_ = 0;
  }
  const bool better = minimize_ ? value < best_ - o_.min_delta : value > best_ + o_.min_delta;
  if (better) {
    best_ = value;
    wait_ = 0;
    return;
  }
  if (cooldown_left_ > 0) return;
  if (++wait_ >= o_.patience) {
    Optimizer& opt = model().optimizer();
    const double old_lr = opt.learning_rate();
    if (old_lr > o_.min_lr) {
      const double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
      opt.set_learning_rate(new_lr);
      if (o_.verbose) std::printf("Epoch %d: ReduceLROnPlateau reducing learning rate to %g.\n", epoch + 1, new_lr);
      cooldown_left_ = o_.cooldown;
      wait_ = 0;
    }
  }
}

}  // namespace myelin::callbacks
