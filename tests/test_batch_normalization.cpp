// BatchNormalization: a forward case and moving-statistics update worked by hand, inference with
// the moving statistics, gradients (training and inference mode) against central finite
// differences for dense and image inputs, weights listing, config and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "gradient_check.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/batch_normalization.hpp"

using namespace myelin;
using layers::BatchNormalization;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

// Features: column 0 = 1, 2, 3, 4 (mean 2.5, biased variance 1.25); column 1 = 10 everywhere
// (variance 0: y = beta).
TEST(BatchNormalization, TrainingForwardAndMovingStatisticsByHand) {
  Rng rng(0);
  BatchNormalization bn;  // momentum 0.99, epsilon 1e-3
  bn.build({2}, rng);
  const Tensor x({4, 2}, {1, 10, 2, 10, 3, 10, 4, 10});
  const Tensor y = bn.forward(x, true).clone();
  const float s = 1.f / std::sqrt(1.25f + 1e-3f);
  const float want[] = {-1.5f * s, 0, -0.5f * s, 0, 0.5f * s, 0, 1.5f * s, 0};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y[i], want[i], 1e-6) << i;
  // moving = 0.99 * moving + 0.01 * batch; starting from mean 0, variance 1.
  EXPECT_NEAR(bn.moving_mean()[0], 0.025f, 1e-7);
  EXPECT_NEAR(bn.moving_mean()[1], 0.1f, 1e-7);
  EXPECT_NEAR(bn.moving_variance()[0], 0.99f + 0.0125f, 1e-7);
  EXPECT_NEAR(bn.moving_variance()[1], 0.99f, 1e-7);
}

// Inference normalises with the moving statistics, and leaves them alone.
TEST(BatchNormalization, InferenceUsesMovingStatistics) {
  Rng rng(0);
  BatchNormalization bn({.epsilon = 0.01f});
  bn.build({2, 2, 2}, rng);  // an image: channels are the last axis
  bn.moving_mean().copy_from(Tensor({2}, {1.f, -2.f}));
  bn.moving_variance().copy_from(Tensor({2}, {3.99f, 0.24f}));  // + epsilon: 4 and 0.25
  bn.gamma().copy_from(Tensor({2}, {2.f, 1.f}));
  bn.beta().copy_from(Tensor({2}, {0.5f, 0.f}));
  const Tensor x({1, 2, 2, 2}, {3, -2, 1, -1, -1, -3, 5, 0});
  // channel 0: 2 * (x - 1) / 2 + 0.5 -> 2.5, 0.5, -1.5, 4.5; channel 1: (x + 2) / 0.5 -> 0, 2, -2, 4
  const std::vector<float> want{2.5f, 0, 0.5f, 2, -1.5f, -2, 4.5f, 4};
  const auto got = bn.forward(x, false).to_vector();
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
  EXPECT_FLOAT_EQ(bn.moving_mean()[1], -2.f);
}

namespace {
void check_gradients(const Shape& in, int64_t batch, bool training, uint64_t seed) {
  Rng rng(seed);
  BatchNormalization bn({.momentum = 0.9f});
  bn.build(in, rng);
  const int64_t C = in.back();
  for (int64_t c = 0; c < C; ++c) {
    bn.gamma()[c] = rng.uniform(0.5f, 1.5f);
    bn.beta()[c] = rng.uniform(-0.5f, 0.5f);
    bn.moving_mean()[c] = rng.uniform(-0.5f, 0.5f);
    bn.moving_variance()[c] = rng.uniform(0.5f, 1.5f);
  }
  const Tensor mm = bn.moving_mean().clone(), mv = bn.moving_variance().clone();
  Tensor x = random_tensor(with_batch(batch, in), rng, -2, 2);
  const Tensor w = random_tensor(x.shape(), rng, -1, 1);
  auto loss = [&] {
    const double l = weighted_sum(bn.forward(x, training), w);
    bn.moving_mean().copy_from(mm);  // each probe starts from the same statistics
    bn.moving_variance().copy_from(mv);
    return l;
  };
  const Tensor nx = numerical_gradient(loss, x, 1e-2);
  const Tensor ng = numerical_gradient(loss, bn.gamma(), 1e-2);
  const Tensor nb = numerical_gradient(loss, bn.beta(), 1e-2);
  bn.forward(x, training);
  const Tensor dx = bn.backward(w).clone();
  auto p = bn.params();
  EXPECT_TRUE(gradients_close(dx, nx, 1e-3, 1e-2)) << "input";
  EXPECT_TRUE(gradients_close(*p[0].grad, ng, 1e-3, 1e-2)) << "gamma";
  EXPECT_TRUE(gradients_close(*p[1].grad, nb, 1e-3, 1e-2)) << "beta";
}
}  // namespace

TEST(BatchNormalization, GradientsMatchFiniteDifferences) {
  {
    SCOPED_TRACE("dense, training");
    check_gradients({3}, 5, true, 1);
  }
  {
    SCOPED_TRACE("image 3x5, 4 channels, training");
    check_gradients({3, 5, 4}, 2, true, 2);
  }
  {
    SCOPED_TRACE("image 2x3, one channel, training");
    check_gradients({2, 3, 1}, 3, true, 3);
  }
  {
    SCOPED_TRACE("image, 17 channels, inference");
    check_gradients({2, 3, 17}, 2, false, 4);
  }
}

TEST(BatchNormalization, WeightsListTrainableFirstThenMovingStatistics) {
  Rng rng(0);
  BatchNormalization bn;
  bn.build({4, 4, 8}, rng);
  auto p = bn.params();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].name, "gamma");
  EXPECT_EQ(p[1].name, "beta");
  EXPECT_EQ(p[2].name, "moving_mean");
  EXPECT_EQ(p[3].name, "moving_variance");
  EXPECT_TRUE(p[0].trainable && p[1].trainable);
  EXPECT_FALSE(p[2].trainable || p[3].trainable);
  EXPECT_EQ(p[2].grad, nullptr);
  EXPECT_EQ(p[3].grad, nullptr);
  EXPECT_EQ((*p[0].value)[3], 1.f);  // gamma starts at ones, moving_variance too
  EXPECT_EQ((*p[3].value)[3], 1.f);
  EXPECT_EQ(bn.count_params(), 32);
  EXPECT_EQ(bn.count_params(true), 16);
  BatchNormalization no_scale({.scale = false});
  no_scale.build({3}, rng);
  EXPECT_EQ(no_scale.params().size(), 3u);
  EXPECT_EQ(no_scale.params()[0].name, "beta");
}

TEST(BatchNormalization, ConfigHasKerasKeysAndBadArgumentsAreRefused) {
  const auto c = BatchNormalization({.momentum = 0.9f, .epsilon = 1e-5f}).get_config();
  EXPECT_EQ(c["axis"], -1);
  EXPECT_FLOAT_EQ(c["momentum"].get<float>(), 0.9f);
  EXPECT_FLOAT_EQ(c["epsilon"].get<float>(), 1e-5f);
  EXPECT_EQ(c["center"], true);
  EXPECT_EQ(c["scale"], true);
  EXPECT_EQ(c["gamma_initializer"]["class_name"], "Ones");
  EXPECT_EQ(c["moving_variance_initializer"]["class_name"], "Ones");
  EXPECT_TRUE(c["beta_regularizer"].is_null());
  EXPECT_THROW(BatchNormalization({.momentum = 1.5f}), ValueError);
  EXPECT_THROW(BatchNormalization({.epsilon = 0.f}), ValueError);
  Rng rng(0);
  BatchNormalization axis1({.axis = 1});
  EXPECT_THROW(axis1.build({4, 4, 3}, rng), ValueError);
  BatchNormalization axis3({.axis = 3});
  EXPECT_NO_THROW(axis3.build({4, 4, 3}, rng));
}
