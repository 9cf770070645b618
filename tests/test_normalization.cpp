// Normalization: adapt() statistics by hand, forward and backward (finite differences), and a model
// that starts with it predicts on raw inputs what a model without it predicts on standardised ones.
#include <gtest/gtest.h>

#include <cmath>

#include "gradient_check.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;

TEST(Normalization, AdaptComputesPopulationStatistics) {
  layers::Normalization norm;
  // Column 0: 1, 3, 5 -> mean 3, variance (4+0+4)/3; column 1: constant 2 -> variance 0.
  norm.adapt(Tensor({3, 2}, {1, 2, 3, 2, 5, 2}));
  EXPECT_FLOAT_EQ(norm.mean()[0], 3.f);
  EXPECT_FLOAT_EQ(norm.mean()[1], 2.f);
  EXPECT_FLOAT_EQ(norm.variance()[0], 8.f / 3.f);
  EXPECT_FLOAT_EQ(norm.variance()[1], 0.f);
  Rng rng(0);
  norm.build({2}, rng);
  const Tensor& y = norm.forward(Tensor({1, 2}, {5, 2}), false);
  EXPECT_NEAR(y[0], 2.f / std::sqrt(8.f / 3.f), 1e-6);
  EXPECT_EQ(y[1], 0.f);  // a constant feature maps to 0, not NaN
}

TEST(Normalization, BackwardMatchesFiniteDifferences) {
  layers::Normalization norm(std::nullopt, {0.5f, -1.f, 2.f}, {4.f, 0.25f, 1.f});
  Rng rng(3);
  norm.build({3}, rng);
  Tensor x = test::random_tensor({4, 3}, rng, -2.f, 2.f);
  Tensor w = test::random_tensor({4, 3}, rng, -1.f, 1.f);
  auto loss = [&] { return test::weighted_sum(norm.forward(x, true), w); };
  Tensor numeric = test::numerical_gradient(loss, x, 1e-2);
  norm.forward(x, true);
  Tensor analytic = norm.backward(w).clone();
  EXPECT_TRUE(test::gradients_close(analytic, numeric, 1e-3, 1e-2));
}

TEST(Normalization, StatisticsAreNonTrainableWeights) {
  layers::Normalization norm(Shape{3});
  norm.adapt(Tensor({2, 3}, {1, 2, 3, 3, 4, 5}));
  Sequential model({norm, layers::Dense(1, "linear")});
  model.compile("sgd", "mse");
  EXPECT_EQ(model.parameters().size(), 2u);  // dense kernel and bias only
  EXPECT_EQ(model.weights().size(), 4u);
  EXPECT_NE(model.summary_string().find("Non-trainable params: 6"), std::string::npos) << model.summary_string();
  EXPECT_THROW(layers::Normalization(std::nullopt, {1.f}, {1.f, 2.f}), ValueError);
  layers::Normalization wrong(std::nullopt, {0.f, 0.f}, {1.f, 1.f});
  Sequential bad({layers::Input({3}), wrong});
  EXPECT_THROW(bad.build(), ShapeError);
}

TEST(Normalization, ModelOnRawInputsEqualsModelOnStandardisedInputs) {
  auto data = datasets::boston_housing();
  layers::Normalization norm(Shape{13});
  norm.adapt(data.x);
  set_random_seed(5);
  Sequential with({norm, layers::Dense(4, "relu"), layers::Dense(1)});
  set_random_seed(5);
  Sequential without({layers::Dense(4, "relu", Shape{13}), layers::Dense(1)});
  without.build();
  with.build();
  // Same dense weights in both (the normalization statistics come first in `with`).
  auto w = with.get_weights();
  without.set_weights({w[2], w[3], w[4], w[5]});
  StandardScaler scaler;
  Tensor standardised = scaler.fit_transform(data.x);
  Tensor a = with.predict(data.x), b = without.predict(standardised);
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::fabs(b[i])));
}
