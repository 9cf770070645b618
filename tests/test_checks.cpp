// first_non_finite: finds the first NaN or infinity wherever it sits (first block, a later block
// searched in parallel, the last partial block), and reports -1 for finite data.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/checks.hpp"

using myelin::kernels::first_non_finite;

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
