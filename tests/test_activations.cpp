// Tests of the activation functions: values at chosen points worked out by hand (Keras's
// constants: leaky_relu slope 0.2, elu alpha 1, exact gelu), every activation's value and gradient
// against PyTorch's, softmax rows, numerical stability at large inputs, and name lookup; the vector
// forms (exp, expm1, tanh, the logistic function, the normal CDF, GELU, softplus) against the
// library's functions in double over every 61st float, and the softmax's rows of every width.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/activation_lanes.hpp"
#include "kernels/cpu/exp.hpp"
#include "myelin/activations.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/activation.hpp"
#include "torch_reference.hpp"

using myelin::activation_from_name;
using myelin::activation_name;
using myelin::ActivationKind;
using myelin::Shape;
using myelin::Tensor;

namespace {

// The activation at each point, through activations::apply on a one-row tensor.
std::vector<float> at_points(const std::string& name, const std::vector<float>& xs) {
  const Tensor y = myelin::activations::apply(name, Tensor({1, int64_t(xs.size())}, xs));
  EXPECT_EQ(y.shape(), (Shape{1, int64_t(xs.size())}));
  return y.to_vector();
}

struct Point {
  float x;
  double y;  // reference value, in double
};

void expect_values(const std::string& name, const std::vector<Point>& points) {
  std::vector<float> xs;
  for (const auto& p : points) xs.push_back(p.x);
  const std::vector<float> ys = at_points(name, xs);
  for (size_t i = 0; i < points.size(); ++i)
    EXPECT_NEAR(ys[i], points[i].y, 2e-7 + 2e-6 * std::fabs(points[i].y)) << name << "(" << points[i].x << ")";
}

TEST(Activations, Linear) { expect_values("linear", {{-2.5f, -2.5}, {0.f, 0.}, {3.f, 3.}}); }

TEST(Activations, Relu) { expect_values("relu", {{-2.f, 0.}, {0.f, 0.}, {3.f, 3.}}); }

TEST(Activations, Sigmoid) {
  // sigmoid(x) = 1 / (1 + e^-x); sigmoid(2) = 0.8807970779778823, sigmoid(-2) = 1 - sigmoid(2).
  expect_values("sigmoid", {{0.f, 0.5}, {2.f, 0.8807970779778823}, {-2.f, 0.11920292202211755}, {100.f, 1.0}});
}

TEST(Activations, Tanh) {
  expect_values("tanh", {{0.f, 0.}, {1.f, 0.7615941559557649}, {-0.5f, -0.46211715726000974}});
}

TEST(Activations, LeakyReluUsesKeras3Slope) {
  // Keras 3's default negative slope is 0.2.
  expect_values("leaky_relu", {{-1.f, -0.2}, {-3.f, -0.6}, {2.f, 2.}});
}

TEST(Activations, Elu) {
  // alpha = 1: elu(x) = e^x - 1 for x < 0.
  expect_values("elu", {{-1.f, std::exp(-1.0) - 1.0}, {-0.5f, std::exp(-0.5) - 1.0}, {2.f, 2.}, {0.f, 0.}});
}

TEST(Activations, GeluIsTheExactErfForm) {
  // gelu(x) = x * Phi(x): gelu(1) = Phi(1) = 0.8413447460685429, gelu(-1) = -Phi(-1).
  // (The tanh approximation would give 0.8411920 at 1, outside the tolerance.)
  expect_values("gelu",
                {{0.f, 0.}, {1.f, 0.8413447460685429}, {-1.f, -0.15865525393145707}, {2.f, 1.9544997361036416}});
}

TEST(Activations, Softplus) {
  // softplus(x) = ln(1 + e^x): softplus(0) = ln 2, softplus(-x) = softplus(x) - x.
  expect_values("softplus", {{0.f, std::log(2.0)},
                             {1.f, 1.3132616875182228},
                             {-1.f, 0.31326168751822286},
                             {3.f, 3.048587351573742},
                             {100.f, 100.0}});
}

TEST(Activations, SwishAndSilu) {
  // swish(x) = x * sigmoid(x); "silu" is Keras's other name for it.
  const std::vector<Point> points = {{1.f, 0.7310585786300049}, {-1.f, -0.2689414213699951}, {0.f, 0.}};
  expect_values("swish", points);
  expect_values("silu", points);
}

TEST(Activations, SoftmaxRowsByHand) {
  // softmax([1, 2, 3]) = e^[1,2,3] / (e + e^2 + e^3) = [0.09003057, 0.24472847, 0.66524096];
  // softmax([-1, 0, 0.5]) = [0.12195165, 0.33149896, 0.54654939].
  const Tensor y = myelin::activations::apply("softmax", Tensor({2, 3}, {1.f, 2.f, 3.f, -1.f, 0.f, 0.5f}));
  const std::vector<double> want = {0.09003057, 0.24472847, 0.66524096, 0.12195165, 0.33149896, 0.54654939};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(y[i], want[i], 1e-6) << "element " << i;
  for (int r = 0; r < 2; ++r) EXPECT_NEAR(y.at(r, 0) + y.at(r, 1) + y.at(r, 2), 1.0, 1e-6);
}

TEST(Activations, SoftmaxIsShiftInvariantAndStable) {
  // Adding a constant to a row leaves softmax unchanged; 1000 would overflow a naive exp.
  const Tensor y =
      myelin::activations::apply("softmax", Tensor({2, 3}, {1001.f, 1002.f, 1003.f, -1000.f, -1000.f, -1000.f}));
  EXPECT_NEAR(y[0], 0.09003057, 1e-6);
  EXPECT_NEAR(y[1], 0.24472847, 1e-6);
  EXPECT_NEAR(y[2], 0.66524096, 1e-6);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(y.at(1, c), 1.0 / 3.0, 1e-6);
}

TEST(Activations, SoftmaxOfAOneDimensionalTensorUsesTheWholeVector) {
  const Tensor y = myelin::activations::apply("softmax", Tensor({4}, {0.f, 0.f, 0.f, 0.f}));
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i], 0.25f);
}

TEST(Activations, LargeInputsStayFinite) {
  const std::vector<float> xs = {-1e4f, -100.f, 100.f, 1e4f};
  for (const char* name : {"sigmoid", "tanh", "elu", "gelu", "softplus", "swish", "softmax"}) {
    const std::vector<float> ys = at_points(name, xs);
    for (size_t i = 0; i < xs.size(); ++i) EXPECT_TRUE(std::isfinite(ys[i])) << name << "(" << xs[i] << ")";
  }
  // Limits: sigmoid -> 0 and 1, softplus -> 0 and x, elu -> -1.
  const auto sig = at_points("sigmoid", xs);
  EXPECT_NEAR(sig[0], 0.0, 1e-30);
  EXPECT_EQ(sig[3], 1.f);
  const auto sp = at_points("softplus", xs);
  EXPECT_NEAR(sp[0], 0.0, 1e-30);
  EXPECT_FLOAT_EQ(sp[3], 1e4f);
  EXPECT_FLOAT_EQ(at_points("elu", xs)[0], -1.f);
}

// Every activation's value and gradient through the Activation layer against PyTorch's, in float64
// from the same float32 inputs (tests/pytorch/activation_reference.py), over [-14, 14]: the tails,
// where GELU's and softplus's vector forms switch to their own series, included.
TEST(Activations, LayerMatchesPyTorchForwardAndBackward) {
  static const myelin::test::TorchReference reference("activation_reference.py");
  if (!reference.skip_reason().empty()) GTEST_SKIP() << reference.skip_reason();
  ASSERT_EQ(reference.error(), "");
  for (const char* name :
       {"linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu", "softplus", "swish"}) {
    SCOPED_TRACE(name);
    const myelin::test::RefFile ref = reference.load(name);
    ASSERT_FALSE(ref.empty());
    const Tensor x = ref.at("x").to_tensor();
    myelin::layers::Activation layer(name);
    myelin::Rng rng(0);
    layer.build(Shape{x.dim(1)}, rng);
    myelin::test::expect_close(layer.forward(x, true), ref.at("y"), std::string(name) + " forward");
    myelin::test::expect_close(layer.backward(ref.at("w").to_tensor()), ref.at("dx"), std::string(name) + " backward");
  }
}

TEST(Activations, ApplyKeepsShapeAndWorksPerRow) {
  // A 3-D tensor: element-wise activations keep every value's position.
  Tensor x({2, 2, 2}, {-1.f, 2.f, -3.f, 4.f, 0.5f, -0.5f, 6.f, -7.f});
  const Tensor y = myelin::activations::apply(ActivationKind::ReLU, x);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0.f, 2.f, 0.f, 4.f, 0.5f, 0.f, 6.f, 0.f}));
  // The input is not modified.
  EXPECT_EQ(x[0], -1.f);
}

TEST(Activations, NamesRoundTrip) {
  const std::vector<std::pair<std::string, ActivationKind>> names = {
      {"linear", ActivationKind::Linear},     {"relu", ActivationKind::ReLU},
      {"sigmoid", ActivationKind::Sigmoid},   {"tanh", ActivationKind::Tanh},
      {"softmax", ActivationKind::Softmax},   {"leaky_relu", ActivationKind::LeakyReLU},
      {"elu", ActivationKind::ELU},           {"gelu", ActivationKind::GELU},
      {"softplus", ActivationKind::Softplus}, {"swish", ActivationKind::Swish}};
  for (const auto& [name, kind] : names) {
    EXPECT_EQ(activation_from_name(name), kind) << name;
    EXPECT_EQ(activation_name(kind), name);
  }
  EXPECT_EQ(activation_from_name("silu"), ActivationKind::Swish);
  // Keras's activation=None is linear.
  EXPECT_EQ(activation_from_name(""), ActivationKind::Linear);
}

TEST(Activations, UnknownNameIsAnErrorNamingIt) {
  try {
    activation_from_name("relux");
    FAIL() << "no exception for an unknown activation";
  } catch (const myelin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("relux"), std::string::npos) << e.what();
  }
  EXPECT_THROW(myelin::activations::apply("Relu", Tensor({1, 2})), myelin::ValueError);
}

}  // namespace

// --- The softmax kernel: its vector exp and rows of any width -------------------------------------

namespace {

// Distance between two finite floats of one sign in units in the last place.
int64_t ulps_apart(float a, float b) {
  return std::llabs(int64_t(std::bit_cast<int32_t>(a)) - std::bit_cast<int32_t>(b));
}

float exp_of_one_lane(float x) { return myelin::kernels::exp_lanes(myelin::kernels::Floats{} + x)[0]; }

// softmax(z + bias) and the log-sum-exp of one row, in double.
std::vector<double> softmax_in_double(const std::vector<float>& z, const std::vector<float>& bias, double* lse) {
  double m = -INFINITY;
  for (size_t i = 0; i < z.size(); ++i) m = std::max(m, double(z[i]) + (bias.empty() ? 0.0 : bias[i]));
  std::vector<double> y(z.size());
  double s = 0;
  for (size_t i = 0; i < z.size(); ++i) s += y[i] = std::exp(double(z[i]) + (bias.empty() ? 0.0 : bias[i]) - m);
  for (double& v : y) v /= s;
  if (lse) *lse = m + std::log(s);
  return y;
}

}  // namespace

namespace {

// Calls f(x, y) for every 61st float x in [lo, hi] (tens of millions of them), y being
// lanes_function(x) computed in all the build's lanes at once.
template <class LanesFunction, class F>
void every_61st_float(float lo, float hi, LanesFunction lanes_function, F f) {
  myelin::kernels::Floats x{};
  int lane = 0;
  auto flush = [&] {
    const myelin::kernels::Floats y = lanes_function(x);
    for (int i = 0; i < lane; ++i) f(x[i], y[i]);
    lane = 0;
  };
  for (uint32_t bits = 0; bits < 0xffffffffu - 61; bits += 61) {
    const float v = std::bit_cast<float>(bits);
    if (!(v >= lo && v <= hi)) continue;
    x[lane++] = v;
    if (lane == myelin::kernels::kLanes) flush();
  }
  flush();
}

}  // namespace

TEST(SoftmaxKernel, VectorExpIsWithinTwoUlpsOfStdExp) {
  int64_t worst = 0;
  float worst_at = 0;
  every_61st_float(-87.33f, 88.72f, [](auto x) { return myelin::kernels::exp_lanes(x); }, [&](float x, float e) {
    const int64_t d = ulps_apart(e, std::exp(x));
    if (d > worst) worst = d, worst_at = x;
  });
  EXPECT_LE(worst, 2) << "at x = " << worst_at;
  // Outside the range: 0 below, +inf above, NaN stays NaN.
  EXPECT_EQ(exp_of_one_lane(-87.4f), 0.f);
  EXPECT_EQ(exp_of_one_lane(-INFINITY), 0.f);
  EXPECT_EQ(exp_of_one_lane(88.8f), INFINITY);
  EXPECT_EQ(exp_of_one_lane(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(exp_of_one_lane(NAN)));
  EXPECT_EQ(exp_of_one_lane(0.f), 1.f);
}

TEST(ActivationLanes, TanhIsWithinItsBoundOfTanh) {
  // Against tanh in double.
  double worst_abs = 0, worst_rel = 0;
  float worst_abs_at = 0, worst_rel_at = 0;
  every_61st_float(-20.f, 20.f, [](auto x) { return myelin::kernels::tanh_lanes(x); }, [&](float x, float t) {
    const double exact = std::tanh(double(x)), error = std::fabs(double(t) - exact);
    if (error > worst_abs) worst_abs = error, worst_abs_at = x;
    if (std::fabs(x) >= 1e-35f && error / std::fabs(exact) > worst_rel)
      worst_rel = error / std::fabs(exact), worst_rel_at = x;
  });
  EXPECT_LE(worst_abs, 4e-7) << "at x = " << worst_abs_at;
  EXPECT_LE(worst_rel, 4e-7) << "relatively, at x = " << worst_rel_at;
  auto one = [](float v) { return myelin::kernels::tanh_lanes(myelin::kernels::Floats{} + v)[0]; };
  EXPECT_EQ(one(8.f), 1.f);
  EXPECT_EQ(one(-INFINITY), -1.f);
  EXPECT_EQ(one(0.f), 0.f);
  EXPECT_TRUE(std::isnan(one(NAN)));
}

TEST(ActivationLanes, SigmoidIsWithinFourUlpsOfTheLogisticFunction) {
  // Against 1 / (1 + e^-x) in double.
  int64_t worst = 0;
  float worst_at = 0;
  every_61st_float(-87.3f, 88.7f, [](auto x) { return myelin::kernels::sigmoid_lanes(x); }, [&](float x, float s) {
    const int64_t d = ulps_apart(s, float(1.0 / (1.0 + std::exp(-double(x)))));
    if (d > worst) worst = d, worst_at = x;
  });
  EXPECT_LE(worst, 4) << "at x = " << worst_at;
  auto one = [](float v) { return myelin::kernels::sigmoid_lanes(myelin::kernels::Floats{} + v)[0]; };
  EXPECT_EQ(one(-100.f), 0.f);
  EXPECT_EQ(one(100.f), 1.f);
  EXPECT_EQ(one(0.f), 0.5f);
  EXPECT_TRUE(std::isnan(one(NAN)));
}

TEST(ActivationLanes, GateSigmoidIsWithinItsAbsoluteBound) {
  double worst = 0;
  float worst_at = 0;
  for (float v = -30.f; v <= 30.f; v += 1.f / 4096) {
    const float s = myelin::kernels::sigmoid_gate_lanes(myelin::kernels::Floats{} + v)[0];
    const double error = std::fabs(double(s) - 1.0 / (1.0 + std::exp(-double(v))));
    if (error > worst) worst = error, worst_at = v;
  }
  EXPECT_LE(worst, 3e-7) << "at x = " << worst_at;
  EXPECT_EQ(myelin::kernels::sigmoid_gate_lanes(myelin::kernels::Floats{} + 0.f)[0], 0.5f);
  EXPECT_TRUE(std::isnan(myelin::kernels::sigmoid_gate_lanes(myelin::kernels::Floats{} + NAN)[0]));
}

// The value of a lanes function at one point, every lane holding it.
template <class LanesFunction>
float in_one_lane(LanesFunction lanes_function, float x) {
  return lanes_function(myelin::kernels::Floats{} + x)[0];
}

TEST(ActivationLanes, Expm1IsWithinThreeUlpsOfExpm1) {
  const auto expm1_lanes = [](auto x) { return myelin::kernels::expm1_lanes(x); };
  int64_t worst = 0;
  float worst_at = 0;
  every_61st_float(-87.33f, 88.72f, expm1_lanes, [&](float x, float e) {
    const int64_t d = ulps_apart(e, float(std::expm1(double(x))));
    if (d > worst) worst = d, worst_at = x;
  });
  EXPECT_LE(worst, 3) << "at x = " << worst_at;
  // Small inputs keep their digits (e^x - 1 in floats would give 0 here), the ends saturate.
  EXPECT_EQ(in_one_lane(expm1_lanes, 1e-30f), 1e-30f);
  EXPECT_EQ(in_one_lane(expm1_lanes, -1e-9f), -1e-9f);
  EXPECT_EQ(in_one_lane(expm1_lanes, -100.f), -1.f);
  EXPECT_EQ(in_one_lane(expm1_lanes, -INFINITY), -1.f);
  EXPECT_EQ(in_one_lane(expm1_lanes, INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(in_one_lane(expm1_lanes, NAN)));
}

TEST(ActivationLanes, NormalCdfKeepsItsRelativeDigitsInTheLeftTail) {
  // Phi(x) = erfc(-x / sqrt 2) / 2; on the left, 1 + erf(x / sqrt 2) in floats cancels (at x = -5
  // to 10 % of Phi's 2.9e-7).
  const auto cdf_lanes = [](auto x) { return myelin::kernels::normal_cdf_lanes(x); };
  const auto gelu_lanes = [](auto x) { return myelin::kernels::gelu_lanes(x); };
  auto phi = [](float x) { return 0.5 * std::erfc(-double(x) / std::sqrt(2.0)); };
  // Each function's relative error over (1 + x^2), the x^2 being e^(-x^2/2)'s from a rounded x^2.
  double worst = 0;
  float worst_at = 0;
  every_61st_float(-13.f, 10.f, cdf_lanes, [&](float x, float p) {
    const double error = std::fabs(double(p) - phi(x)) / phi(x) / (1 + double(x) * double(x));
    if (error > worst) worst = error, worst_at = x;
  });
  EXPECT_LE(worst, 4e-7) << "at x = " << worst_at;
  double worst_gelu = 0;
  float worst_gelu_at = 0;
  every_61st_float(-13.f, 1e30f, gelu_lanes, [&](float x, float y) {
    const double exact = double(x) * phi(x);
    if (std::fabs(exact) < 1e-37) return;  // subnormal results carry fewer digits
    const double error = std::fabs(double(y) - exact) / std::fabs(exact) / (1 + double(x) * double(x));
    if (error > worst_gelu) worst_gelu = error, worst_gelu_at = x;
  });
  EXPECT_LE(worst_gelu, 5e-7) << "at x = " << worst_gelu_at;
  EXPECT_EQ(in_one_lane(cdf_lanes, 0.f), 0.5f);
  EXPECT_EQ(in_one_lane(cdf_lanes, -14.f), 0.f);
  EXPECT_EQ(in_one_lane(cdf_lanes, 10.f), 1.f);
  EXPECT_TRUE(std::isnan(in_one_lane(cdf_lanes, NAN)));
  EXPECT_EQ(in_one_lane(gelu_lanes, 1e30f), 1e30f);
}

TEST(ActivationLanes, SoftplusIsWithinFourUlpsOfTheExactValue) {
  const auto softplus_lanes = [](auto x) { return myelin::kernels::softplus_lanes(x); };
  int64_t worst = 0;
  float worst_at = 0;
  every_61st_float(-87.3f, 1e30f, softplus_lanes, [&](float x, float y) {
    const double exact = x > 0 ? double(x) + std::log1p(std::exp(-double(x))) : std::log1p(std::exp(double(x)));
    const int64_t d = ulps_apart(y, float(exact));
    if (d > worst) worst = d, worst_at = x;
  });
  EXPECT_LE(worst, 4) << "at x = " << worst_at;
  EXPECT_EQ(in_one_lane(softplus_lanes, -100.f), 0.f);
  EXPECT_EQ(in_one_lane(softplus_lanes, INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(in_one_lane(softplus_lanes, NAN)));
}

TEST(SoftmaxKernel, PartialLoadsAndStoresTouchOnlyTheirLanes) {
  // The softmax's row ends: load_first fills the lanes past the count, store_first leaves the
  // floats past it alone.
  using myelin::kernels::kLanes;
  std::vector<float> src(2 * kLanes), dst(2 * kLanes);
  for (int64_t i = 0; i < 2 * kLanes; ++i) src[size_t(i)] = float(i + 1);
  for (int64_t count = 0; count <= kLanes; ++count) {
    const myelin::kernels::Floats v = myelin::kernels::load_first(src.data(), count, -7.f);
    for (int64_t i = 0; i < kLanes; ++i) EXPECT_EQ(v[i], i < count ? float(i + 1) : -7.f) << count << ", " << i;
    std::fill(dst.begin(), dst.end(), -1.f);
    myelin::kernels::store_first(dst.data(), count, v);
    for (int64_t i = 0; i < 2 * kLanes; ++i)
      EXPECT_EQ(dst[size_t(i)], i < count ? float(i + 1) : -1.f) << count << ", " << i;
  }
}

TEST(SoftmaxKernel, RowsOfEveryWidthMatchDoubleArithmetic) {
  // Widths below, at and past one vector of lanes, and many classes; wide-ranging values.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 8.f);
  for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 31, 33, 100, 1000}) {
    std::vector<float> z(static_cast<size_t>(n)), y(static_cast<size_t>(n));
    for (float& v : z) v = normal(rng);
    double want_lse = 0;
    const std::vector<double> want = softmax_in_double(z, {}, &want_lse);
    const double lse = myelin::kernels::softmax_row(z.data(), y.data(), n);
    EXPECT_NEAR(lse, want_lse, 1e-5 * std::max(1.0, std::abs(want_lse))) << "width " << n;
    EXPECT_EQ(myelin::kernels::softmax_row(z.data(), nullptr, n), lse) << "width " << n << ": log-sum-exp alone";
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(y[size_t(i)], want[size_t(i)], 2e-6 * want[size_t(i)] + 1e-12) << "width " << n << ", value " << i;
  }
}

TEST(SoftmaxKernel, BiasAddedInPlaceAsDenseCallsIt) {
  // Dense's output layer: y = softmax(x + bias) written over x, for rows of 10 and of 40.
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.f, 3.f);
  for (int64_t cols : {10, 40}) {
    const int64_t rows = 5;
    std::vector<float> x(static_cast<size_t>(rows * cols)), bias(static_cast<size_t>(cols));
    for (float& v : x) v = normal(rng);
    for (float& v : bias) v = normal(rng);
    const std::vector<float> before = x;
    myelin::kernels::bias_activation_forward(ActivationKind::Softmax, x.data(), bias.data(), nullptr, x.data(), rows,
                                             cols);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> row(before.begin() + r * cols, before.begin() + (r + 1) * cols);
      const std::vector<double> want = softmax_in_double(row, bias, nullptr);
      for (int64_t c = 0; c < cols; ++c)
        EXPECT_NEAR(x[size_t(r * cols + c)], want[size_t(c)], 2e-6 * want[size_t(c)] + 1e-12)
            << cols << " columns, row " << r << ", column " << c;
    }
  }
}

TEST(SoftmaxKernel, ANanAnywhereInTheRowMakesTheRowNan) {
  for (int64_t n : {10, 40}) {
    for (int64_t at : {int64_t(0), int64_t(5), n - 1}) {
      std::vector<float> z(static_cast<size_t>(n), 1.f), y(static_cast<size_t>(n));
      z[size_t(at)] = NAN;
      EXPECT_TRUE(std::isnan(myelin::kernels::softmax_row(z.data(), y.data(), n)));
      for (int64_t i = 0; i < n; ++i)
        EXPECT_TRUE(std::isnan(y[size_t(i)])) << "width " << n << ", NaN at " << at << ", value " << i;
    }
  }
}
