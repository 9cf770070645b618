// Dot: Keras 3's batched dot product merge. Forward cases worked by hand (vectors, cosine similarity,
// matrices along either axis), the output shapes Keras gives, both inputs' gradients against central
// finite differences for every pairing of axes with and without normalize, the config and a model
// save/load round trip, and errors naming the layer and the shapes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using layers::Dot;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

TEST(Dot, ForwardByHand) {
  Rng rng(0);
  {
    SCOPED_TRACE("vectors: (None, 3) . (None, 3) -> (None, 1)");
    Dot dot(1);
    EXPECT_EQ(dot.build_inputs({{3}, {3}}, rng), (Shape{1}));
    const Tensor a({2, 3}, {1, 2, 3, 1, 0, -1}), b({2, 3}, {4, 5, 6, 2, 7, 2});
    const Tensor& y = dot.forward_inputs({&a, &b}, false);
    ASSERT_EQ(y.shape(), (Shape{2, 1}));
    EXPECT_FLOAT_EQ(y[0], 32.f);  // 4 + 10 + 18
    EXPECT_FLOAT_EQ(y[1], 0.f);   // 2 - 2
  }
  {
    SCOPED_TRACE("normalize: the cosine similarity");
    Dot dot(-1, true);
    dot.build_inputs({{2}, {2}}, rng);
    const Tensor a({3, 2}, {3, 4, 1, 0, 2, 2}), b({3, 2}, {4, 3, 0, 5, -1, -1});
    const Tensor& y = dot.forward_inputs({&a, &b}, false);
    EXPECT_NEAR(y[0], 24.0 / 25.0, 1e-6);  // (12 + 12) / (5 * 5)
    EXPECT_NEAR(y[1], 0.0, 1e-6);          // orthogonal
    EXPECT_NEAR(y[2], -1.0, 1e-6);         // opposite
  }
  {
    SCOPED_TRACE("matrices: (None, 2, 3) . (None, 2, 3) along axis 2 -> (None, 2, 2), a b^T");
    Dot dot(2);
    EXPECT_EQ(dot.build_inputs({{2, 3}, {2, 3}}, rng), (Shape{2, 2}));
    const Tensor a({1, 2, 3}, {1, 2, 3, 4, 5, 6}), b({1, 2, 3}, {1, 0, 1, 0, 1, 0});
    const Tensor& y = dot.forward_inputs({&a, &b}, false);
    const float want[] = {4, 2, 10, 5};
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  }
  {
    SCOPED_TRACE("along axis 1: (None, 2, 3) . (None, 2, 1) -> (None, 3, 1), a^T b");
    Dot dot(1);
    EXPECT_EQ(dot.build_inputs({{2, 3}, {2, 1}}, rng), (Shape{3, 1}));
    const Tensor a({1, 2, 3}, {1, 2, 3, 4, 5, 6}), b({1, 2, 1}, {10, 1});
    const Tensor& y = dot.forward_inputs({&a, &b}, false);
    const float want[] = {14, 25, 36};
    for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  }
  {
    SCOPED_TRACE("axes (1, 2): (None, 2, 3) . (None, 1, 2) -> (None, 3, 1)");
    Dot dot(std::vector<int>{1, 2});
    EXPECT_EQ(dot.build_inputs({{2, 3}, {1, 2}}, rng), (Shape{3, 1}));
    const Tensor a({1, 2, 3}, {1, 2, 3, 4, 5, 6}), b({1, 1, 2}, {10, 1});
    const Tensor& y = dot.forward_inputs({&a, &b}, false);
    const float want[] = {14, 25, 36};
    for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  }
  {
    SCOPED_TRACE("a vector with a matrix: (None, 2) . (None, 2, 3) along (1, 1) -> (None, 3)");
    Dot dot(std::vector<int>{1, 1});
    EXPECT_EQ(dot.build_inputs({{2}, {2, 3}}, rng), (Shape{3}));
    const Tensor a({1, 2}, {1, -1}), b({1, 2, 3}, {1, 2, 3, 4, 5, 7});
    const Tensor& y = dot.forward_inputs({&a, &b}, false);
    const float want[] = {-3, -3, -4};
    for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  }
}

TEST(Dot, GradientsMatchFiniteDifferences) {
  struct Case {
    std::vector<int> axes;
    Shape a, b;
    bool normalize;
  };
  const Case cases[] = {
      {{1}, {4}, {4}, false},           {{1}, {4}, {4}, true},
      {{2}, {3, 4}, {5, 4}, false},     {{-1}, {3, 4}, {5, 4}, true},
      {{1}, {3, 4}, {3, 2}, false},     {{1}, {3, 4}, {3, 2}, true},
      {{1, 2}, {3, 4}, {2, 3}, false},  {{2, 1}, {3, 4}, {4, 2}, true},
      {{1, 1}, {3}, {3, 2}, true},      {{2, -1}, {2, 3}, {3}, false},
  };
  int k = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + std::to_string(k));
    Rng rng(uint64_t(10 + k++));
    Dot dot(c.axes, c.normalize);
    dot.build_inputs({c.a, c.b}, rng);
    Tensor a = random_tensor(with_batch(2, c.a), rng, -1.5f, 1.5f), b = random_tensor(with_batch(2, c.b), rng, -1.5f, 1.5f);
    const Tensor w = random_tensor(dot.forward_inputs({&a, &b}, true).shape(), rng, -1, 1);
    auto loss = [&] { return weighted_sum(dot.forward_inputs({&a, &b}, true), w); };
    loss();
    std::vector<const Tensor*> grads(2);
    dot.backward_inputs(w, grads);
    ASSERT_TRUE(grads[0] && grads[1]);
    const Tensor da = grads[0]->clone(), db = grads[1]->clone();
    EXPECT_TRUE(gradients_close(da, numerical_gradient(loss, a, 1e-2), 1e-3, 1e-2)) << "first input";
    EXPECT_TRUE(gradients_close(db, numerical_gradient(loss, b, 1e-2), 1e-3, 1e-2)) << "second input";
  }
}

TEST(Dot, ZeroVectorUnderNormalizeStaysFinite) {
  // Keras's floor on the norm: a zero vector normalises to zero, its cosine is 0, gradients finite.
  Rng rng(1);
  Dot dot(1, true);
  dot.build_inputs({{3}, {3}}, rng);
  const Tensor a({1, 3}), b({1, 3}, {1, 2, 3});
  EXPECT_EQ(dot.forward_inputs({&a, &b}, true)[0], 0.f);
  std::vector<const Tensor*> grads(2);
  const Tensor w({1, 1}, {1});
  dot.backward_inputs(w, grads);
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite((*grads[0])[i]) && std::isfinite((*grads[1])[i]));
}

TEST(Dot, ConfigAndModelRoundTrip) {
  Dot pair(std::vector<int>{1, 2}, true, "similarity");
  const nlohmann::json c = pair.get_config();
  EXPECT_EQ(c.at("axes"), nlohmann::json::array({1, 2}));
  EXPECT_EQ(c.at("normalize"), true);
  EXPECT_EQ(Dot(-1).get_config().at("axes"), -1);  // one axis stays an integer, as Keras writes it
  auto back = std::dynamic_pointer_cast<Dot>(layers::from_config("Dot", c));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->axes(), (std::vector<int>{1, 2}));
  EXPECT_TRUE(back->normalize());
  EXPECT_EQ(back->get_config(), c);

  set_random_seed(2);
  auto a = layers::Input({4, 3}, "a");
  auto b = layers::Input({5, 3}, "b");
  auto y = layers::Dot(2, true)({layers::Dense(3)(a), b});
  Model model({a, b}, {layers::Flatten()(y)});
  Rng rng(3);
  const Tensor xa = random_tensor({6, 4, 3}, rng, -1, 1), xb = random_tensor({6, 5, 3}, rng, -1, 1);
  const Tensor before = model.predict({xa, xb})[0];
  ASSERT_EQ(before.shape(), (Shape{6, 20}));
  for (int64_t i = 0; i < before.size(); ++i) EXPECT_LE(std::abs(before[i]), 1.f + 1e-5f);  // cosines
  const fs::path file = fs::temp_directory_path() / ("dot_" + std::to_string(::getpid()) + ".safetensors");
  model.save(file.string());
  Model loaded = load_model(file.string());
  fs::remove(file);
  const Tensor after = loaded.predict({xa, xb})[0];
  for (int64_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i], after[i]);
}

TEST(Dot, ErrorsNameTheLayerAndShapes) {
  Rng rng(0);
  expect_error<ValueError>([] { Dot(0); }, {"Dot", "axis 0", "batch"});
  expect_error<ValueError>([] { Dot(std::vector<int>{1, 2, 3}); }, {"Dot", "pair"});
  expect_error<ShapeError>([&] { Dot(2, false, "d").build_inputs({{3, 4}, {3, 5}}, rng); },
                           {"Dot 'd'", "4 and 5", "(None, 3, 4)", "(None, 3, 5)"});
  expect_error<ShapeError>([&] { Dot(3, false, "d").build_inputs({{3, 4}, {3, 4}}, rng); },
                           {"Dot 'd'", "axis 3", "(None, 3, 4)"});
  expect_error<ShapeError>([&] { Dot(1, false, "d").build_inputs({{2, 3, 4}, {2, 3, 4}}, rng); },
                           {"Dot 'd'", "(None, 2, 3, 4)"});
  expect_error<ValueError>([&] { Dot(1, false, "d").build_inputs({{2}, {2}, {2}}, rng); }, {"Dot 'd'", "exactly 2"});
  expect_error<ValueError>([] { layers::from_config("Dot", {{"axes", "last"}}); }, {"Dot", "axes"});
}
