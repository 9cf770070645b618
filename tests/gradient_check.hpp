// Helpers for checking gradients against central finite differences.
//
// Usage, for a layer:
//   Rng rng(1);
//   Tensor x = myelin::test::random_tensor({3, 5}, rng, -1.f, 1.f);
//   Tensor w = myelin::test::random_tensor({3, 4}, rng, -1.f, 1.f);     // dL/dy = w
//   auto loss = [&] { return myelin::test::weighted_sum(layer.forward(x, true), w); };
//   Tensor numeric = myelin::test::numerical_gradient(loss, x, 1e-2);  // perturbs x in place
//   layer.forward(x, true);                                             // forward at x again,
//   Tensor analytic = layer.backward(w).clone();                        // then backward
//   EXPECT_TRUE(myelin::test::gradients_close(analytic, numeric, 1e-3, 1e-2));
//
// The same works for a parameter tensor (pass *param.value as x) or a loss (f = loss.compute(...)).
//
// Precision: layers compute in float32, so the function's rounding error (about 1e-7 of its
// magnitude) is divided by the step. Steps of 1e-2..1e-3 with tolerances around 1e-3 absolute and
// 1e-2 relative suit float32; keep inputs away from kinks (relu at 0, |e| = delta for huber) by more
// than the step. The step actually taken is measured after rounding x +- h to float, so the
// representation error of the perturbed value does not enter the quotient.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "myelin/random.hpp"
#include "myelin/tensor.hpp"

namespace myelin::test {

/// A tensor of the given shape with values drawn uniformly from [lo, hi).
inline Tensor random_tensor(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = rng.uniform(lo, hi);
  return t;
}

/// max |a - b| / max(1, max |b|): a difference scaled by the reference's largest entry.
inline float relative_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  float d = 0.f, scale = 1.f;
  for (int64_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return d / scale;
}

/// sum_i y_i * w_i in double: a scalar whose gradient with respect to y is exactly w.
inline double weighted_sum(const Tensor& y, const Tensor& w) {
  EXPECT_EQ(y.size(), w.size()) << "weighted_sum: sizes differ";
  double s = 0;
  for (int64_t i = 0; i < y.size() && i < w.size(); ++i) s += double(y[i]) * double(w[i]);
  return s;
}

/// d f / d x by central differences: for each element, (f(x + h) - f(x - h)) / (actual step).
/// `f` takes no arguments and reads `x` (by reference) itself; `x` is perturbed in place one
/// element at a time and restored exactly afterwards.
template <class F>
Tensor numerical_gradient(F&& f, Tensor& x, double h) {
  Tensor g(x.shape());
  for (int64_t i = 0; i < x.size(); ++i) {
    const float orig = x[i];
    const float up = static_cast<float>(orig + h);
    const float down = static_cast<float>(orig - h);
    x[i] = up;
    const double f_up = f();
    x[i] = down;
    const double f_down = f();
    x[i] = orig;
    g[i] = static_cast<float>((f_up - f_down) / (double(up) - double(down)));
  }
  return g;
}

/// Passes when |a_i - b_i| <= atol + rtol * |b_i| for every element (and shapes match);
/// otherwise names the worst element and both values.
inline ::testing::AssertionResult gradients_close(const Tensor& analytic, const Tensor& numeric, double atol,
                                                  double rtol) {
  if (analytic.shape() != numeric.shape())
    return ::testing::AssertionFailure() << "shapes differ: analytic " << shape_to_string(analytic.shape())
                                         << ", numeric " << shape_to_string(numeric.shape());
  int64_t worst = -1;
  double worst_excess = 0;
  for (int64_t i = 0; i < analytic.size(); ++i) {
    const double a = analytic[i], b = numeric[i];
    const double excess = std::fabs(a - b) - (atol + rtol * std::fabs(b));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worst_excess))) {  // NaN counts as a failure
      worst = i;
      worst_excess = excess;
    }
  }
  if (worst < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << worst << ": analytic " << analytic[worst] << ", numeric "
                                       << numeric[worst] << " (atol " << atol << ", rtol " << rtol << ")";
}

}  // namespace myelin::test
