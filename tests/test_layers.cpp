// Tests of the core layers (Dense, Activation, Dropout, Flatten, Input): backward passes against
// central finite differences, forward values worked out by hand, and each layer's own contract.
//
// Gradients are checked through the scalar L = sum(w * y) with fixed random weights w, so
// dL/dy = w is what backward() receives.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "gradient_check.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/dropout.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/input.hpp"

using myelin::Rng;
using myelin::Shape;
using myelin::Tensor;
using myelin::layers::Activation;
using myelin::layers::Dense;
using myelin::layers::DenseOptions;
using myelin::layers::Dropout;
using myelin::layers::Flatten;
using myelin::layers::Input;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {

// float32 layers with a step of 1e-2: rounding contributes ~1e-5 and truncation h^2/6 ~ 2e-5 times
// the third derivative. These bounds pass with a few times that to spare and still catch a wrong
// term (gradients here are of order 0.1..1).
constexpr double kStep = 1e-2;
constexpr double kAtol = 3e-4;
constexpr double kRtol = 3e-3;
// Pre-activations are kept at least this far from relu/leaky_relu's kink at 0, so no perturbation
// of size kStep (times weights and inputs bounded by 1) crosses it.
constexpr double kKinkMargin = 0.05;

const std::vector<std::string> kActivations = {"linear",     "relu", "sigmoid", "tanh",     "softmax",
                                               "leaky_relu", "elu",  "gelu",    "softplus", "swish"};

// Smallest |x . W + b| over every row and unit, computed in double independently of the layer.
double min_abs_preactivation(const Tensor& x, const Tensor& kernel, const Tensor* bias) {
  const int64_t in = kernel.dim(0), units = kernel.dim(1), rows = x.size() / in;
  double m = 1e30;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t u = 0; u < units; ++u) {
      double z = bias ? (*bias)[u] : 0.0;
      for (int64_t i = 0; i < in; ++i) z += double(x[r * in + i]) * kernel[i * units + u];
      m = std::min(m, std::fabs(z));
    }
  return m;
}

// A tensor with values in [lo, hi] whose magnitudes are all at least kKinkMargin.
Tensor random_away_from_zero(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) {
    float v;
    do v = rng.uniform(lo, hi);
    while (std::fabs(v) < kKinkMargin);
    t[i] = v;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Dense: gradient checks for every activation, with and without bias, on 2-D and 3-D inputs.

using DenseCase = std::tuple<std::string, bool, bool>;  // activation, use_bias, 3-D input

class DenseGradient : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseGradient, BackwardMatchesFiniteDifferences) {
  const auto& [act, use_bias, three_d] = GetParam();
  // Odd sizes so a transposed or mis-strided GEMM cannot pass by symmetry.
  const Shape sample = three_d ? Shape{3, 5} : Shape{5};
  const int64_t batch = three_d ? 2 : 3, units = 4;

  DenseOptions opts;
  opts.use_bias = use_bias;
  Dense layer(units, act, opts);
  Rng rng(11);
  const Shape out_sample = layer.build(sample, rng);
  EXPECT_EQ(out_sample, three_d ? (Shape{3, 4}) : (Shape{4}));

  // Fresh kernel, bias and input, redrawn until no pre-activation sits near relu's kink.
  Tensor x;
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 1000) << "could not draw pre-activations away from 0";
    layer.kernel().copy_from(random_tensor({5, units}, rng, -1.f, 1.f));
    if (use_bias) layer.bias().copy_from(random_tensor({units}, rng, -0.5f, 0.5f));
    x = random_tensor(myelin::with_batch(batch, sample), rng, -1.f, 1.f);
    if (min_abs_preactivation(x, layer.kernel(), use_bias ? &layer.bias() : nullptr) >= kKinkMargin) break;
  }
  const Tensor w = random_tensor(myelin::with_batch(batch, out_sample), rng, -1.f, 1.f);

  // Analytic gradients first: backward() reads the input of the last forward.
  const Tensor& y = layer.forward(x, true);
  ASSERT_EQ(y.shape(), myelin::with_batch(batch, out_sample));
  const Tensor dx = layer.backward(w).clone();
  auto params = layer.params();
  ASSERT_EQ(params.size(), use_bias ? 2u : 1u);
  EXPECT_EQ(params[0].name, "kernel");
  const Tensor dkernel = params[0].grad->clone();
  const Tensor dbias = use_bias ? params[1].grad->clone() : Tensor();

  auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };
  EXPECT_TRUE(gradients_close(dx, numerical_gradient(loss, x, kStep), kAtol, kRtol)) << "input gradient";
  EXPECT_TRUE(gradients_close(dkernel, numerical_gradient(loss, *params[0].value, kStep), kAtol, kRtol))
      << "kernel gradient";
  if (use_bias) {
    EXPECT_EQ(params[1].name, "bias");
    EXPECT_TRUE(gradients_close(dbias, numerical_gradient(loss, *params[1].value, kStep), kAtol, kRtol))
        << "bias gradient";
  }
}

INSTANTIATE_TEST_SUITE_P(AllActivations, DenseGradient,
                         ::testing::Combine(::testing::ValuesIn(kActivations), ::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<DenseCase>& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_bias" : "_nobias") +
                                  (std::get<2>(info.param) ? "_3d" : "_2d");
                         });

TEST(Dense, ForwardAndBackwardByHand) {
  Dense layer(2, "linear");
  Rng rng(0);
  ASSERT_EQ(layer.build({2}, rng), (Shape{2}));
  // kernel is [inputs, units].
  layer.kernel().copy_from(Tensor({2, 2}, {1.f, 2.f, 3.f, 4.f}));
  layer.bias().copy_from(Tensor({2}, {0.5f, -1.f}));
  Tensor x({2, 2}, {1.f, -1.f, 2.f, 0.5f});
  // Row 0: [1*1 + (-1)*3 + 0.5, 1*2 + (-1)*4 - 1] = [-1.5, -3]
  // Row 1: [2*1 + 0.5*3 + 0.5,  2*2 + 0.5*4 - 1]  = [4, 5]
  const Tensor& y = layer.forward(x, false);
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ(y.at(0, 0), -1.5f);
  EXPECT_FLOAT_EQ(y.at(0, 1), -3.f);
  EXPECT_FLOAT_EQ(y.at(1, 0), 4.f);
  EXPECT_FLOAT_EQ(y.at(1, 1), 5.f);

  // With dy = 1: dkernel = x^T 1 = [[1+2, 1+2], [-1+0.5, -1+0.5]], dbias = [2, 2],
  // dx = 1 W^T = [1+2, 3+4] on each row.
  const Tensor& dx = layer.backward(Tensor::full({2, 2}, 1.f));
  const auto params = layer.params();
  EXPECT_EQ(params[0].grad->to_vector(), (std::vector<float>{3.f, 3.f, -0.5f, -0.5f}));
  EXPECT_EQ(params[1].grad->to_vector(), (std::vector<float>{2.f, 2.f}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{3.f, 7.f, 3.f, 7.f}));
}

TEST(Dense, ReluForwardByHand) {
  Dense layer(2, "relu");
  Rng rng(0);
  layer.build({2}, rng);
  layer.kernel().copy_from(Tensor({2, 2}, {1.f, 2.f, 3.f, 4.f}));
  layer.bias().copy_from(Tensor({2}, {0.5f, -1.f}));
  // Pre-activations as in ForwardAndBackwardByHand: [[-1.5, -3], [4, 5]].
  const Tensor& y = layer.forward(Tensor({2, 2}, {1.f, -1.f, 2.f, 0.5f}), false);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0.f, 0.f, 4.f, 5.f}));
}

TEST(Dense, SkipsInputGradientWhenNotNeeded) {
  // Two identical layers; the one told it is first returns no input gradient but the same
  // parameter gradients.
  Rng rng_a(3), rng_b(3), data_rng(4);
  Dense a(4, "tanh"), b(4, "tanh");
  a.build({5}, rng_a);
  b.build({5}, rng_b);
  ASSERT_EQ(a.kernel().to_vector(), b.kernel().to_vector());
  b.set_needs_input_grad(false);
  const Tensor x = random_tensor({3, 5}, data_rng, -1.f, 1.f);
  const Tensor w = random_tensor({3, 4}, data_rng, -1.f, 1.f);
  a.forward(x, true);
  b.forward(x, true);
  const Tensor& dxa = a.backward(w);
  const Tensor& dxb = b.backward(w);
  EXPECT_EQ(dxa.shape(), (Shape{3, 5}));
  EXPECT_TRUE(dxb.empty());
  EXPECT_EQ(a.params()[0].grad->to_vector(), b.params()[0].grad->to_vector());
  EXPECT_EQ(a.params()[1].grad->to_vector(), b.params()[1].grad->to_vector());
}

TEST(Dense, BackwardOverwritesParameterGradients) {
  // The Layer contract: gradients are written, not accumulated, so two backward calls agree.
  Rng rng(5);
  Dense layer(4, "sigmoid");
  layer.build({5}, rng);
  const Tensor x = random_tensor({3, 5}, rng, -1.f, 1.f);
  const Tensor w = random_tensor({3, 4}, rng, -1.f, 1.f);
  layer.forward(x, true);
  layer.backward(w);
  const std::vector<float> first = layer.params()[0].grad->to_vector();
  layer.backward(w);
  EXPECT_EQ(layer.params()[0].grad->to_vector(), first);
}

TEST(Dense, RejectsBadConfiguration) {
  EXPECT_THROW(Dense(0, "relu"), myelin::ValueError);
  EXPECT_THROW(Dense(3, "no_such_activation"), myelin::ValueError);
  Dense layer(3);
  Rng rng(0);
  EXPECT_THROW(layer.build(Shape{}, rng), myelin::ShapeError);
}

// ---------------------------------------------------------------------------------------------
// Activation layer: gradient check for every activation, on a 2-D and a 3-D input.

using ActivationCase = std::tuple<std::string, bool>;  // activation, 3-D input

class ActivationGradient : public ::testing::TestWithParam<ActivationCase> {};

TEST_P(ActivationGradient, BackwardMatchesFiniteDifferences) {
  const auto& [act, three_d] = GetParam();
  const Shape sample = three_d ? Shape{3, 5} : Shape{7};
  const int64_t batch = three_d ? 2 : 3;
  Activation layer(act);
  Rng rng(21);
  ASSERT_EQ(layer.build(sample, rng), sample);

  Tensor x = random_away_from_zero(myelin::with_batch(batch, sample), rng, -2.f, 2.f);
  const Tensor w = random_tensor(x.shape(), rng, -1.f, 1.f);
  const Tensor y = layer.forward(x, true).clone();
  ASSERT_EQ(y.shape(), x.shape());
  const Tensor dx = layer.backward(w).clone();

  // Forward agrees with the stand-alone function.
  EXPECT_EQ(y.to_vector(), myelin::activations::apply(act, x).to_vector());

  auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };
  EXPECT_TRUE(gradients_close(dx, numerical_gradient(loss, x, kStep), kAtol, kRtol));
  EXPECT_TRUE(layer.params().empty());
}

INSTANTIATE_TEST_SUITE_P(AllActivations, ActivationGradient,
                         ::testing::Combine(::testing::ValuesIn(kActivations), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<ActivationCase>& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_3d" : "_2d");
                         });

TEST(ActivationLayer, SoftmaxRunsOverTheLastAxis) {
  Activation layer("softmax");
  Rng rng(0);
  layer.build({2, 3}, rng);
  // Two samples of two rows each; every innermost row of 3 must sum to 1.
  Tensor x({2, 2, 3}, {1.f, 2.f, 3.f, 0.f, 0.f, 0.f, -1.f, 0.f, 0.5f, 5.f, 5.f, 5.f});
  const Tensor& y = layer.forward(x, false);
  // softmax([1, 2, 3]) = [0.09003057, 0.24472847, 0.66524096]
  EXPECT_NEAR(y[0], 0.09003057, 1e-6);
  EXPECT_NEAR(y[1], 0.24472847, 1e-6);
  EXPECT_NEAR(y[2], 0.66524096, 1e-6);
  for (int r = 0; r < 4; ++r) EXPECT_NEAR(y[3 * r] + y[3 * r + 1] + y[3 * r + 2], 1.0, 1e-6) << "row " << r;
  EXPECT_NEAR(y[3], 1.0 / 3.0, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Dropout.

// The mask a training forward applied, recovered as y / x (x has no zeros).
std::vector<float> applied_mask(const Tensor& x, const Tensor& y) {
  std::vector<float> m(x.size());
  for (int64_t i = 0; i < x.size(); ++i) m[i] = y[i] / x[i];
  return m;
}

TEST(Dropout, TrainingBackwardAppliesTheForwardMask) {
  const float rate = 0.4f;
  Dropout layer(rate);
  Rng rng(9);
  ASSERT_EQ(layer.build({6, 7}, rng), (Shape{6, 7}));
  const Tensor x = random_away_from_zero({3, 6, 7}, rng, -2.f, 2.f);
  const Tensor y = layer.forward(x, true).clone();
  ASSERT_EQ(y.shape(), x.shape());
  const std::vector<float> mask = applied_mask(x, y);
  // Inverted dropout: kept elements are scaled by 1/(1 - rate) so the expectation is unchanged.
  const float keep = 1.f / (1.f - rate);
  int dropped = 0;
  for (float m : mask) {
    EXPECT_TRUE(m == 0.f || std::fabs(m - keep) < 1e-5f) << "mask value " << m;
    dropped += m == 0.f;
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, int(mask.size()));

  const Tensor dy = random_tensor(x.shape(), rng, -1.f, 1.f);
  const Tensor& dx = layer.backward(dy);
  ASSERT_EQ(dx.shape(), x.shape());
  for (int64_t i = 0; i < dy.size(); ++i) EXPECT_NEAR(dx[i], dy[i] * mask[i], 1e-6) << "element " << i;
}

TEST(Dropout, InferenceIsTheIdentity) {
  Dropout layer(0.5f);
  Rng rng(1);
  layer.build({5}, rng);
  const Tensor x = random_tensor({4, 5}, rng, -1.f, 1.f);
  EXPECT_EQ(layer.forward(x, false).to_vector(), x.to_vector());
  const Tensor dy = random_tensor({4, 5}, rng, -1.f, 1.f);
  EXPECT_EQ(layer.backward(dy).to_vector(), dy.to_vector());
}

TEST(Dropout, RateZeroIsTheIdentityInTraining) {
  Dropout layer(0.f);
  Rng rng(1);
  layer.build({5}, rng);
  const Tensor x = random_tensor({4, 5}, rng, -1.f, 1.f);
  EXPECT_EQ(layer.forward(x, true).to_vector(), x.to_vector());
  const Tensor dy = random_tensor({4, 5}, rng, -1.f, 1.f);
  EXPECT_EQ(layer.backward(dy).to_vector(), dy.to_vector());
}

TEST(Dropout, DropsAboutTheRateAndKeepsTheMean) {
  const float rate = 0.3f;
  Dropout layer(rate);
  Rng rng(2);
  const int64_t n = 200000;
  layer.build({n}, rng);
  const Tensor x = Tensor::full({1, n}, 1.f);
  const Tensor& y = layer.forward(x, true);
  int64_t dropped = 0;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    dropped += y[i] == 0.f;
    sum += y[i];
  }
  // Binomial standard deviation of the fraction: sqrt(0.3 * 0.7 / 2e5) ~ 0.001, so 0.006 is 6 sigma.
  EXPECT_NEAR(double(dropped) / n, rate, 0.006);
  // The mean of the output is 1 in expectation (std ~ 0.0015).
  EXPECT_NEAR(sum / n, 1.0, 0.01);
}

TEST(Dropout, SameSeedGivesTheSameMask) {
  const Tensor x = Tensor::full({8, 50}, 1.f);
  auto mask_for = [&](uint64_t seed) {
    Dropout layer(0.5f);
    Rng rng(seed);
    layer.build({50}, rng);
    return layer.forward(x, true).to_vector();
  };
  EXPECT_EQ(mask_for(123), mask_for(123));
  EXPECT_NE(mask_for(123), mask_for(124));

  // Successive batches draw fresh masks from the layer's stream.
  Dropout layer(0.5f);
  Rng rng(123);
  layer.build({50}, rng);
  const std::vector<float> first = layer.forward(x, true).to_vector();
  EXPECT_NE(layer.forward(x, true).to_vector(), first);
}

TEST(Dropout, RejectsRatesOutsideTheRange) {
  EXPECT_THROW(Dropout(1.f), myelin::ValueError);
  EXPECT_THROW(Dropout(-0.1f), myelin::ValueError);
}

// ---------------------------------------------------------------------------------------------
// Flatten and Input.

TEST(Flatten, ReshapesForwardAndBack) {
  Flatten layer;
  Rng rng(6);
  ASSERT_EQ(layer.build({2, 3, 4}, rng), (Shape{24}));
  Tensor x = random_tensor({5, 2, 3, 4}, rng, -1.f, 1.f);
  const Tensor& y = layer.forward(x, true);
  EXPECT_EQ(y.shape(), (Shape{5, 24}));
  EXPECT_EQ(y.to_vector(), x.to_vector());  // row-major order is kept

  const Tensor w = random_tensor({5, 24}, rng, -1.f, 1.f);
  const Tensor dx = layer.backward(w).clone();
  EXPECT_EQ(dx.shape(), (Shape{5, 2, 3, 4}));
  EXPECT_EQ(dx.to_vector(), w.to_vector());
  auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };
  EXPECT_TRUE(gradients_close(dx, numerical_gradient(loss, x, kStep), kAtol, kRtol));

  // A smaller batch afterwards gets its own shapes.
  EXPECT_EQ(layer.forward(x.rows(0, 2), false).shape(), (Shape{2, 24}));
  EXPECT_EQ(layer.backward(w.rows(0, 2)).shape(), (Shape{2, 2, 3, 4}));
}

TEST(Input, PassesThrough) {
  Input layer({3, 2});
  EXPECT_EQ(layer.class_name(), "InputLayer");
  ASSERT_TRUE(layer.declared_input_shape().has_value());
  EXPECT_EQ(*layer.declared_input_shape(), (Shape{3, 2}));
  Rng rng(0);
  EXPECT_EQ(layer.build({3, 2}, rng), (Shape{3, 2}));
  const Tensor x = random_tensor({4, 3, 2}, rng, -1.f, 1.f);
  EXPECT_EQ(layer.forward(x, true).to_vector(), x.to_vector());
  const Tensor dy = random_tensor({4, 3, 2}, rng, -1.f, 1.f);
  EXPECT_EQ(layer.backward(dy).to_vector(), dy.to_vector());
  EXPECT_TRUE(layer.params().empty());
  EXPECT_THROW(Input({3, 0}), myelin::ShapeError);
}

}  // namespace
