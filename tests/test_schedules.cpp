// Learning-rate schedules at chosen steps, against values worked out in the comments.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "myelin/error.hpp"
#include "myelin/schedules.hpp"

using namespace myelin;
using namespace myelin::schedules;

TEST(ExponentialDecay, Smooth) {
  // 0.1 * 0.5^(step/10)
  ExponentialDecay s(0.1, 10, 0.5);
  EXPECT_DOUBLE_EQ(s(0), 0.1);
  EXPECT_NEAR(s(5), 0.0707106781186548, 1e-15);  // 0.1 * sqrt(0.5)
  EXPECT_NEAR(s(10), 0.05, 1e-15);
  EXPECT_NEAR(s(25), 0.1 * std::pow(0.5, 2.5), 1e-15);  // 0.0176776695
}

TEST(ExponentialDecay, Staircase) {
  // The exponent is floor(step/10): 0.1 until step 9, 0.05 from 10 to 19, 0.025 from 20.
  ExponentialDecay s(0.1, 10, 0.5, true);
  EXPECT_DOUBLE_EQ(s(0), 0.1);
  EXPECT_DOUBLE_EQ(s(5), 0.1);
  EXPECT_DOUBLE_EQ(s(9), 0.1);
  EXPECT_DOUBLE_EQ(s(10), 0.05);
  EXPECT_DOUBLE_EQ(s(19), 0.05);
  EXPECT_DOUBLE_EQ(s(20), 0.025);
}

TEST(ExponentialDecay, RejectsNonPositiveDecaySteps) {
  EXPECT_THROW(ExponentialDecay(0.1, 0, 0.5), ValueError);
  EXPECT_THROW(ExponentialDecay(0.1, -3, 0.5), ValueError);
}

TEST(StepDecay, MultipliesByFactorEveryStepSize) {
  // 1.0 for steps 0..2, 0.1 for 3..5, 0.01 from 6.
  StepDecay s(1.0, 3, 0.1);
  EXPECT_DOUBLE_EQ(s(0), 1.0);
  EXPECT_DOUBLE_EQ(s(2), 1.0);
  EXPECT_NEAR(s(3), 0.1, 1e-15);
  EXPECT_NEAR(s(5), 0.1, 1e-15);
  EXPECT_NEAR(s(6), 0.01, 1e-15);
  EXPECT_THROW(StepDecay(1.0, 0), ValueError);
}

TEST(PiecewiseConstantDecay, BoundariesAreInclusive) {
  // Keras: values[0] while step <= 10, values[1] while step <= 20, values[2] after.
  PiecewiseConstantDecay s({10, 20}, {1.0, 0.5, 0.1});
  EXPECT_DOUBLE_EQ(s(0), 1.0);
  EXPECT_DOUBLE_EQ(s(10), 1.0);
  EXPECT_DOUBLE_EQ(s(11), 0.5);
  EXPECT_DOUBLE_EQ(s(20), 0.5);
  EXPECT_DOUBLE_EQ(s(21), 0.1);
  EXPECT_DOUBLE_EQ(s(100000), 0.1);
}

TEST(PiecewiseConstantDecay, Errors) {
  // One more value than boundaries is required.
  EXPECT_THROW(PiecewiseConstantDecay({10, 20}, {1.0, 0.5}), ValueError);
  EXPECT_THROW(PiecewiseConstantDecay({10}, {1.0, 0.5, 0.1}), ValueError);
  // Boundaries must increase.
  EXPECT_THROW(PiecewiseConstantDecay({20, 10}, {1.0, 0.5, 0.1}), ValueError);
}

TEST(CosineDecay, HandValues) {
  // lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, 100) / 100)) + alpha), lr 1, alpha 0.1:
  // step 0: 1; step 25: 0.9 * 0.5 * (1 + cos(pi/4)) + 0.1 = 0.9 * 0.8535533906 + 0.1 = 0.8681980515;
  // step 50: 0.9 * 0.5 + 0.1 = 0.55; step 100 and after: alpha = 0.1.
  CosineDecay s(1.0, 100, 0.1);
  EXPECT_NEAR(s(0), 1.0, 1e-12);
  EXPECT_NEAR(s(25), 0.8681980515339464, 1e-12);
  EXPECT_NEAR(s(50), 0.55, 1e-12);
  EXPECT_NEAR(s(100), 0.1, 1e-12);
  EXPECT_NEAR(s(250), 0.1, 1e-12);
}

TEST(CosineDecay, DefaultAlphaDecaysToZero) {
  // alpha 0, lr 2: step 75: 2 * 0.5 * (1 + cos(3pi/4)) = 1 - 0.7071067812 = 0.2928932188.
  CosineDecay s(2.0, 100);
  EXPECT_NEAR(s(75), 0.2928932188134524, 1e-12);
  EXPECT_NEAR(s(100), 0.0, 1e-12);
  EXPECT_THROW(CosineDecay(1.0, 0), ValueError);
}
