#include "myelin/schedules.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "myelin/error.hpp"

namespace myelin::schedules {

ExponentialDecay::ExponentialDecay(double lr, int64_t decay_steps, double decay_rate, bool staircase)
    : lr_(lr), steps_(decay_steps), rate_(decay_rate), staircase_(staircase) {
  if (decay_steps <= 0) throw ValueError("ExponentialDecay: decay_steps must be positive");
}

double ExponentialDecay::operator()(int64_t step) const {
  double p = double(step) / double(steps_);
  if (staircase_) p = std::floor(p);
  return lr_ * std::pow(rate_, p);
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<int64_t> boundaries, std::vector<double> values)
    : boundaries_(std::move(boundaries)), values_(std::move(values)) {
  if (values_.size() != boundaries_.size() + 1)
    throw ValueError("PiecewiseConstantDecay: needs one more value than boundaries, got " +
                     std::to_string(values_.size()) + " values for " + std::to_string(boundaries_.size()) +
                     " boundaries");
  if (!std::is_sorted(boundaries_.begin(), boundaries_.end()))
    throw ValueError("PiecewiseConstantDecay: boundaries must be increasing");
}

double PiecewiseConstantDecay::operator()(int64_t step) const {
  for (size_t i = 0; i < boundaries_.size(); ++i)
    if (step <= boundaries_[i]) return values_[i];
  return values_.back();
}

CosineDecay::CosineDecay(double lr, int64_t decay_steps, double alpha) : lr_(lr), steps_(decay_steps), alpha_(alpha) {
  if (decay_steps <= 0) throw ValueError("CosineDecay: decay_steps must be positive");
}

double CosineDecay::operator()(int64_t step) const {
  const double p = std::min<double>(double(step), double(steps_)) / double(steps_);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * p));
  return lr_ * ((1.0 - alpha_) * cosine + alpha_);
}

}  // namespace myelin::schedules
