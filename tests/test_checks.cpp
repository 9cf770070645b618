// first_non_finite: finds the first NaN or infinity wherever it sits (first block, a later block
// searched in parallel, the last partial block), and reports -1 for finite data. The target checks
// of the losses: values outside a range, class indices, and labels read by truncation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/checks.hpp"

using myelin::kernels::first_label_outside;
using myelin::kernels::first_non_class_index;
using myelin::kernels::first_non_finite;
using myelin::kernels::first_outside;

TEST(FirstNonFinite, FindsTheFirstBadValueAnywhere) {
  const int64_t n = (1 << 14) * 20 + 77;  // many blocks (the parallel path) and a partial last one
  std::vector<float> x(n, 1.5f);
  EXPECT_EQ(first_non_finite(x.data(), n), -1);
  for (int64_t pos : {int64_t(0), int64_t(5), int64_t(1 << 14), int64_t(300000), n - 1}) {
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
      std::vector<float> y = x;
      y[pos] = bad;
      if (pos + 10 < n) y[pos + 10] = std::nanf("");  // a later bad value must not win
      EXPECT_EQ(first_non_finite(y.data(), n), pos) << "bad value " << bad << " at " << pos;
    }
  }
}

TEST(FirstNonFinite, SmallArraysAndExtremeFiniteValues) {
  std::vector<float> x = {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 0.f, -0.f};
  EXPECT_EQ(first_non_finite(x.data(), 4), -1);
  x[2] = std::nanf("");
  EXPECT_EQ(first_non_finite(x.data(), 4), 2);
  EXPECT_EQ(first_non_finite(x.data(), 0), -1);
}

TEST(TargetChecks, RangeAndClassIndices) {
  const float nan = std::nanf("");
  const std::vector<float> probs = {0.f, 1.f, 0.5f, 1.0000001f, -0.f};
  EXPECT_EQ(first_outside(probs.data(), 3, 0.f, 1.f), -1);
  EXPECT_EQ(first_outside(probs.data(), 5, 0.f, 1.f), 3);
  const std::vector<float> with_nan = {0.25f, nan};
  EXPECT_EQ(first_outside(with_nan.data(), 2, 0.f, 1.f), 1);

  // Class indices in [0, 3): whole numbers only; NaN, negatives, 3 and 2.5 are not.
  const std::vector<float> good = {0.f, 1.f, 2.f, 2.f};
  EXPECT_EQ(first_non_class_index(good.data(), 4, 3), -1);
  for (float bad : {2.5f, 3.f, -1.f, nan, std::numeric_limits<float>::infinity()}) {
    std::vector<float> y = good;
    y[2] = bad;
    EXPECT_EQ(first_non_class_index(y.data(), 4, 3), 2) << bad;
  }
}

TEST(TargetChecks, LabelsReadByTruncation) {
  // A loss called directly truncates its labels: 2.9 and -0.5 name classes 2 and 0; -1, 3, NaN and
  // values beyond any integer do not (and must not reach an undefined conversion).
  const std::vector<float> ok = {0.f, 2.9f, -0.5f, 1.f};
  EXPECT_EQ(first_label_outside(ok.data(), 4, 3), -1);
  for (float bad : {-1.f, 3.f, std::nanf(""), 1e30f, -1e30f}) {
    std::vector<float> y = ok;
    y[1] = bad;
    EXPECT_EQ(first_label_outside(y.data(), 4, 3), 1) << bad;
  }
  EXPECT_EQ(first_label_outside(ok.data(), 0, 3), -1);
}
