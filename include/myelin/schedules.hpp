// Learning-rate schedules: the rate as a function of the optimizer's step count (Keras's
// keras.optimizers.schedules). Give one to an optimizer with set_schedule().
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace myelin {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  /// The learning rate at optimizer step `step` (0 for the first update).
  virtual double operator()(int64_t step) const = 0;
};

namespace schedules {

/// lr * rate^(step / decay_steps); with staircase, the exponent is floored (step decay).
class ExponentialDecay : public LearningRateSchedule {
 public:
  ExponentialDecay(double initial_learning_rate, int64_t decay_steps, double decay_rate, bool staircase = false);
  double operator()(int64_t step) const override;

 private:
  double lr_;
  int64_t steps_;
  double rate_;
  bool staircase_;
};

/// Step decay: the rate times `factor` every `step_size` steps (ExponentialDecay with staircase).
class StepDecay : public ExponentialDecay {
 public:
  StepDecay(double initial_learning_rate, int64_t step_size, double factor = 0.1)
      : ExponentialDecay(initial_learning_rate, step_size, factor, true) {}
};

/// Constant pieces: values[i] while step <= boundaries[i] (values has one more entry).
class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  PiecewiseConstantDecay(std::vector<int64_t> boundaries, std::vector<double> values);
  double operator()(int64_t step) const override;

 private:
  std::vector<int64_t> boundaries_;
  std::vector<double> values_;
};

/// Cosine decay from lr to lr*alpha over decay_steps, then constant (Keras's CosineDecay).
class CosineDecay : public LearningRateSchedule {
 public:
  CosineDecay(double initial_learning_rate, int64_t decay_steps, double alpha = 0.0);
  double operator()(int64_t step) const override;

 private:
  double lr_;
  int64_t steps_;
  double alpha_;
};

}  // namespace schedules
}  // namespace myelin
