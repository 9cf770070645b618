// Tests of the activation functions: values at chosen points worked out by hand (Keras's
// constants: leaky_relu slope 0.2, elu alpha 1, exact gelu), softmax rows, numerical stability at
// large inputs, and name lookup.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "myelin/activations.hpp"
#include "myelin/error.hpp"

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
