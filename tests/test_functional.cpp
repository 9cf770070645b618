// Functional models: merge layers (forward by hand, backward against finite differences), graphs
// with fan-out checked against finite differences, a chain built functionally equal to the same
// Sequential, the errors of graph construction and of functional configs, files, the summary's
// "Connected to" column, and bit-identical runs from one seed.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "expect_error.hpp"
#include "myelin/myelin.hpp"
#include "myelin/threading.hpp"

using namespace myelin;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {

// Checks d(sum(w * layer(x...)))/d(x_k) for every input k against central differences.
void check_merge_gradients(Layer& layer, std::vector<Tensor> xs, uint64_t seed) {
  Rng rng(seed);
  std::vector<Shape> shapes;
  for (const auto& x : xs) shapes.push_back(Shape(x.shape().begin() + 1, x.shape().end()));
  const Shape out = layer.build_inputs(shapes, rng);
  Tensor w = random_tensor(with_batch(xs[0].dim(0), out), rng, -1.f, 1.f);
  std::vector<const Tensor*> ptrs;
  for (const auto& x : xs) ptrs.push_back(&x);
  auto loss = [&] { return weighted_sum(layer.forward_inputs(ptrs, true), w); };
  for (size_t k = 0; k < xs.size(); ++k) {
    Tensor numeric = numerical_gradient(loss, xs[k], 1e-3);
    layer.forward_inputs(ptrs, true);
    std::vector<const Tensor*> grads(xs.size(), nullptr);
    layer.backward_inputs(w, grads);
    ASSERT_NE(grads[k], nullptr);
    EXPECT_TRUE(gradients_close(*grads[k], numeric, 1e-3, 1e-2)) << layer.class_name() << " input " << k;
  }
}

std::vector<Tensor> distinct_inputs(int count, const Shape& shape, uint64_t seed) {
  // Values well apart, so that Maximum/Minimum have no ties within the finite-difference step.
  Rng rng(seed);
  std::vector<Tensor> xs;
  for (int k = 0; k < count; ++k) xs.push_back(random_tensor(shape, rng, -2.f, 2.f));
  for (int64_t i = 0; i < xs[0].size(); ++i)
    for (int k = 0; k < count; ++k) xs[size_t(k)][i] = float(k) * 0.7f - 1.f + 0.3f * xs[size_t(k)][i] * float(i % 3 == 0 ? -1 : 1);
  return xs;
}

// Inputs of the given shapes (batch first) whose values are all distinct, at least 0.05 apart, so
// that Maximum/Minimum have no ties within the finite-difference step wherever broadcasting pairs
// them up.
std::vector<Tensor> distinct_values(const std::vector<Shape>& shapes, uint64_t seed) {
  std::vector<float> pool;
  for (const auto& s : shapes) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    for (int64_t i = 0; i < n; ++i) pool.push_back(-2.f + 0.05f * float(pool.size()));
  }
  Rng rng(seed);
  for (size_t i = pool.size(); i > 1; --i) std::swap(pool[i - 1], pool[size_t(rng.uniform(0.f, float(i) - 0.01f))]);
  std::vector<Tensor> xs;
  size_t next = 0;
  for (const auto& s : shapes) {
    Tensor t(s);
    for (int64_t i = 0; i < t.size(); ++i) t[i] = pool[next++];
    xs.push_back(std::move(t));
  }
  return xs;
}

}  // namespace

TEST(MergeLayers, ForwardByHand) {
  Tensor a(Shape{1, 3}), b(Shape{1, 3});
  for (int i = 0; i < 3; ++i) a[i] = float(i + 1), b[i] = float(2 - 2 * i);  // a = 1 2 3, b = 2 0 -2
  Rng rng(0);
  auto run = [&](Layer&& l) {
    l.build_inputs({{3}, {3}}, rng);
    const Tensor& y = l.forward_inputs({&a, &b}, false);
    return std::vector<float>(y.data(), y.data() + y.size());
  };
  EXPECT_EQ(run(layers::Add()), (std::vector<float>{3, 2, 1}));
  EXPECT_EQ(run(layers::Subtract()), (std::vector<float>{-1, 2, 5}));
  EXPECT_EQ(run(layers::Multiply()), (std::vector<float>{2, 0, -6}));
  EXPECT_EQ(run(layers::Average()), (std::vector<float>{1.5f, 1, 0.5f}));
  EXPECT_EQ(run(layers::Maximum()), (std::vector<float>{2, 2, 3}));
  EXPECT_EQ(run(layers::Minimum()), (std::vector<float>{1, 0, -2}));
  EXPECT_EQ(run(layers::Concatenate()), (std::vector<float>{1, 2, 3, 2, 0, -2}));
}

TEST(MergeLayers, ConcatenateAlongAMiddleAxisByHand) {
  // Two samples of shape (2, 1) and (2, 2) joined along axis 2 (the last): rows interleave.
  Tensor a(Shape{1, 2, 1}), b(Shape{1, 2, 2});
  a[0] = 1, a[1] = 2;
  b[0] = 10, b[1] = 11, b[2] = 20, b[3] = 21;
  layers::Concatenate cat(-1);
  Rng rng(0);
  EXPECT_EQ(cat.build_inputs({{2, 1}, {2, 2}}, rng), (Shape{2, 3}));
  const Tensor& y = cat.forward_inputs({&a, &b}, false);
  EXPECT_EQ(std::vector<float>(y.data(), y.data() + 6), (std::vector<float>{1, 10, 11, 2, 20, 21}));
  // Axis 1 (the samples' first axis) stacks the rows instead.
  layers::Concatenate rows(1);
  Tensor c(Shape{1, 1, 1});
  c[0] = 7;
  EXPECT_EQ(rows.build_inputs({{2, 1}, {1, 1}}, rng), (Shape{3, 1}));
  const Tensor& z = rows.forward_inputs({&a, &c}, false);
  EXPECT_EQ(std::vector<float>(z.data(), z.data() + 3), (std::vector<float>{1, 2, 7}));
}

TEST(MergeLayers, BackwardMatchesFiniteDifferences) {
  {
    layers::Add l;
    check_merge_gradients(l, distinct_inputs(3, {4, 5}, 1), 11);
  }
  {
    layers::Subtract l;
    check_merge_gradients(l, distinct_inputs(2, {4, 5}, 2), 12);
  }
  {
    layers::Multiply l;
    check_merge_gradients(l, distinct_inputs(3, {4, 5}, 3), 13);
  }
  {
    layers::Average l;
    check_merge_gradients(l, distinct_inputs(3, {4, 5}, 4), 14);
  }
  {
    layers::Maximum l;
    check_merge_gradients(l, distinct_inputs(3, {4, 5}, 5), 15);
  }
  {
    layers::Minimum l;
    check_merge_gradients(l, distinct_inputs(2, {4, 5}, 6), 16);
  }
  {
    Rng rng(7);
    layers::Concatenate l(2);
    check_merge_gradients(l, {random_tensor({3, 2, 3, 2}, rng, -1, 1), random_tensor({3, 2, 1, 2}, rng, -1, 1)}, 17);
  }
}

TEST(MergeLayers, BroadcastShapesFollowKeras) {
  Rng rng(0);
  EXPECT_EQ(layers::Add().build_inputs({{4, 3}, {1, 3}}, rng), (Shape{4, 3}));
  EXPECT_EQ(layers::Add().build_inputs({{4, 3}, {3}}, rng), (Shape{4, 3}));       // (3) taken as (1, 3)
  EXPECT_EQ(layers::Multiply().build_inputs({{4, 1}, {1, 5}}, rng), (Shape{4, 5}));  // both repeat
  EXPECT_EQ(layers::Maximum().build_inputs({{2, 1, 3}, {4, 1}, {1}}, rng), (Shape{2, 4, 3}));
  EXPECT_EQ(layers::Average().build_inputs({{1}, {1}}, rng), (Shape{1}));
  auto a = layers::Input({4, 3});
  auto b = layers::Input({1, 3});
  Model m({a, b}, {layers::Subtract()({a, b})});
  m.build();
  EXPECT_EQ(m.output_shape(), (Shape{4, 3}));
}

TEST(MergeLayers, BroadcastForwardAndBackwardByHand) {
  // a = [[1 2 3], [4 5 6]] of shape (2, 3); b = [10 20 30] of shape (3); c = [[2], [-1]] of shape (2, 1).
  Tensor a(Shape{1, 2, 3}), b(Shape{1, 3}), c(Shape{1, 2, 1});
  for (int i = 0; i < 6; ++i) a[i] = float(i + 1);
  for (int i = 0; i < 3; ++i) b[i] = float(10 * (i + 1));
  c[0] = 2, c[1] = -1;
  Rng rng(0);
  auto run = [&](Layer&& l, const Tensor& x1, const Tensor& x2) {
    l.build_inputs({{2, 3}, Shape(x2.shape().begin() + 1, x2.shape().end())}, rng);
    const Tensor& y = l.forward_inputs({&x1, &x2}, false);
    EXPECT_EQ(y.shape(), (Shape{1, 2, 3})) << l.class_name();
    return std::vector<float>(y.data(), y.data() + y.size());
  };
  EXPECT_EQ(run(layers::Add(), a, b), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(run(layers::Subtract(), a, b), (std::vector<float>{-9, -18, -27, -6, -15, -24}));
  EXPECT_EQ(run(layers::Multiply(), a, c), (std::vector<float>{2, 4, 6, -4, -5, -6}));
  EXPECT_EQ(run(layers::Average(), a, c), (std::vector<float>{1.5f, 2, 2.5f, 1.5f, 2, 2.5f}));
  Tensor d(Shape{1, 3});
  d[0] = 2, d[1] = 2, d[2] = 7;
  EXPECT_EQ(run(layers::Maximum(), a, d), (std::vector<float>{2, 2, 7, 4, 5, 7}));
  EXPECT_EQ(run(layers::Minimum(), a, d), (std::vector<float>{1, 2, 3, 2, 2, 6}));

  // Backward: b's gradient sums over the two rows it was repeated into; c's over the three columns.
  Tensor dy(Shape{1, 2, 3});
  for (int i = 0; i < 6; ++i) dy[i] = float(i);  // [[0 1 2], [3 4 5]]
  std::vector<const Tensor*> grads(2);
  layers::Subtract sub;
  sub.build_inputs({{2, 3}, {3}}, rng);
  sub.forward_inputs({&a, &b}, true);
  sub.backward_inputs(dy, grads);
  EXPECT_EQ(grads[0]->to_vector(), dy.to_vector());
  EXPECT_EQ(grads[1]->shape(), (Shape{1, 3}));
  EXPECT_EQ(grads[1]->to_vector(), (std::vector<float>{-3, -5, -7}));
  layers::Multiply mul;
  mul.build_inputs({{2, 3}, {2, 1}}, rng);
  mul.forward_inputs({&a, &c}, true);
  mul.backward_inputs(dy, grads);
  EXPECT_EQ(grads[0]->to_vector(), (std::vector<float>{0, 2, 4, -3, -4, -5}));  // dy * c
  EXPECT_EQ(grads[1]->to_vector(), (std::vector<float>{0 * 1 + 1 * 2 + 2 * 3, 3 * 4 + 4 * 5 + 5 * 6}));
  // Maximum: where a ties with d (a = 2 = d at the second column of the first row) the first input wins.
  layers::Maximum mx;
  mx.build_inputs({{2, 3}, {3}}, rng);
  mx.forward_inputs({&a, &d}, true);
  mx.backward_inputs(dy, grads);
  EXPECT_EQ(grads[0]->to_vector(), (std::vector<float>{0, 1, 0, 3, 4, 0}));
  EXPECT_EQ(grads[1]->to_vector(), (std::vector<float>{0, 0, 2 + 5}));
}

TEST(MergeLayers, BroadcastBackwardMatchesFiniteDifferences) {
  {
    layers::Add l;  // a repeated middle axis and a shorter rank
    check_merge_gradients(l, distinct_values({{3, 4, 5}, {3, 1, 5}, {3, 5}}, 21), 31);
  }
  {
    layers::Subtract l;  // both inputs repeat, along different axes
    check_merge_gradients(l, distinct_values({{3, 4, 1}, {3, 1, 5}}, 22), 32);
  }
  {
    layers::Multiply l;  // rank 3 against a (4, 1) padded to (1, 4, 1)
    check_merge_gradients(l, distinct_values({{3, 2, 4, 3}, {3, 2, 1, 3}, {3, 4, 1}}, 23), 33);
  }
  {
    layers::Average l;
    check_merge_gradients(l, distinct_values({{3, 4, 5}, {3, 4, 1}}, 24), 34);
  }
  {
    layers::Maximum l;
    check_merge_gradients(l, distinct_values({{3, 4, 5}, {3, 1, 5}, {3, 4, 1}}, 25), 35);
  }
  {
    layers::Minimum l;  // the first input is the one repeated
    check_merge_gradients(l, distinct_values({{3, 1, 5}, {3, 4, 5}}, 26), 36);
  }
  {
    layers::Multiply l;  // one value per sample against a vector
    check_merge_gradients(l, distinct_values({{3, 1}, {3, 6}}, 27), 37);
  }
}

TEST(MergeLayers, BroadcastInAModelTrains) {
  // A gate of shape (None, 1, 3) scales each of the 4 rows of x: the model's gradients reach the
  // gate's Dense through the summed broadcast gradient, and fit lowers the loss.
  auto x = layers::Input({4, 3});
  auto g = layers::Input({2});
  auto gate = layers::Reshape({1, 3})(layers::Dense(3, "sigmoid")(g));
  auto y = layers::Dense(1)(layers::Flatten()(layers::Multiply()({x, gate})));
  Model m({x, g}, {y});
  m.compile(optimizers::Adam(0.05), "mse");
  Rng rng(3);
  Tensor xs = random_tensor({64, 4, 3}, rng, -1, 1), gs = random_tensor({64, 2}, rng, -1, 1), ys(Shape{64, 1});
  for (int64_t i = 0; i < 64; ++i) ys[i] = xs[i * 12] * (gs[i * 2] > 0 ? 1.f : 0.f);
  const double before = m.evaluate({xs, gs}, {ys}).at("loss");
  m.fit({xs, gs}, {ys}, {.epochs = 30, .batch_size = 16, .verbose = 0});
  const double after = m.evaluate({xs, gs}, {ys}).at("loss");
  EXPECT_LT(after, 0.5 * before);
}

TEST(MergeLayers, ErrorsNameTheLayerAndShapes) {
  auto in_a = layers::Input({8});
  auto in_b = layers::Input({9});
  expect_error<ValueError>(
      [&] { Model m(in_a, layers::Concatenate()({layers::Dense(8)(in_a), layers::Dense(9)(in_b)})); },
      {"not among the model's inputs"});
  auto x = layers::Input({8});
  auto y = layers::Add("add")({x, layers::Dense(9)(x)});
  Model m(x, y);
  expect_error<ShapeError>([&] { m.build(); }, {"layer 'add'", "(None, 8) and (None, 9)"});
  // Broadcasting admits a size-1 axis, not a different size.
  auto rows = layers::Input({4, 3});
  Model bad(rows, layers::Multiply("mul")({rows, layers::Reshape({2, 3})(layers::Dense(6)(layers::Flatten()(rows)))}));
  expect_error<ShapeError>([&] { bad.build(); }, {"layer 'mul'", "(None, 4, 3) and (None, 2, 3)", "do not broadcast"});
  expect_error<ValueError>([&] { Model(x, layers::Subtract()({x, x, x})).build(); }, {"exactly 2 inputs"});
  expect_error<ValueError>([&] { layers::Add()(x); }, {"at least 2 inputs"});
  expect_error<ValueError>([&] { layers::Dense(3)({x, x}); }, {"takes one input"});
  expect_error<ValueError>([] { layers::Concatenate(0); }, {"batch axis"});
}

namespace {

// in(4) -> a = Dense(5, tanh) -> b = Dense(5, sigmoid)(a) -> Add(a, b) -> c = Dense(3)
// and a second branch Concatenate(a, in) -> Dense(3): the output is their Average. `a` and the input
// feed several layers (fan-out), so their gradients are sums.
Model residual_mlp() {
  auto in = layers::Input({4});
  auto a = layers::Dense(5, "tanh")(in);
  auto b = layers::Dense(5, "sigmoid")(a);
  auto c = layers::Dense(3)(layers::Add()({a, b}));
  auto d = layers::Dense(3)(layers::Concatenate()({a, in}));
  return Model(in, layers::Average()({c, d}), "residual");
}

}  // namespace

TEST(FunctionalModel, GradientsOfAGraphWithFanOutMatchFiniteDifferences) {
  Model m = residual_mlp();
  m.compile(optimizers::SGD(0.0), "mse");  // a zero rate: train_on_batch leaves the gradients, not new weights
  Rng rng(3);
  Tensor x = random_tensor({6, 4}, rng, -1, 1), y = random_tensor({6, 3}, rng, -1, 1);
  m.train_on_batch(x, y);
  for (auto& p : m.parameters()) {
    Tensor analytic = p.grad->clone();
    Tensor numeric = numerical_gradient([&] { return m.evaluate(x, y, {.batch_size = 6})["loss"]; }, *p.value, 1e-2);
    EXPECT_TRUE(gradients_close(analytic, numeric, 2e-3, 2e-2)) << p.name;
  }
}

TEST(FunctionalModel, AChainBuiltFunctionallyEqualsTheSameSequential) {
  auto in = layers::Input({2});
  auto h = layers::Dense(8, "relu")(in);
  Model f(in, layers::Dense(3, "softmax")(h));
  Sequential s({layers::Input({2}), layers::Dense(8, "relu"), layers::Dense(3, "softmax")});
  f.build();
  s.build();
  s.set_weights(f.get_weights());
  Rng rng(5);
  Tensor x = random_tensor({40, 2}, rng, -1, 1), y(Shape{40, 1});
  for (int i = 0; i < 40; ++i) y[i] = float(i % 3);
  f.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy", {"accuracy"});
  s.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy", {"accuracy"});
  const auto hf = f.fit(x, y, {.epochs = 3, .batch_size = 8, .verbose = 0, .seed = 1});
  const auto hs = s.fit(x, y, {.epochs = 3, .batch_size = 8, .verbose = 0, .seed = 1});
  EXPECT_EQ(hf.history.at("loss"), hs.history.at("loss"));
  const auto wf = f.get_weights(), ws = s.get_weights();
  ASSERT_EQ(wf.size(), ws.size());
  for (size_t i = 0; i < wf.size(); ++i)
    for (int64_t j = 0; j < wf[i].size(); ++j) ASSERT_EQ(wf[i][j], ws[i][j]);
}

TEST(FunctionalModel, ConstructionErrorsNameTheLayer) {
  auto x = layers::Input({4});
  auto y = layers::Input({4});
  expect_error<ValueError>([&] { Model(x, layers::Dense(2)(y)); }, {"not among the model's inputs"});
  expect_error<ValueError>([&] { Model(x, layers::Dense(2, "linear", {.name = "same"})(layers::Dense(2, "linear", {.name = "same"})(x))); },
                           {"two layers named 'same'"});
  expect_error<ValueError>([&] { Model(layers::Dense(2)(x), layers::Dense(2)(x)); }, {"layers::Input"});
  expect_error<ValueError>([&] { Model(std::vector<SymbolicTensor>{x}, std::vector<SymbolicTensor>{}); },
                           {"at least one input and one output", "0 outputs"});
}

TEST(FunctionalModel, LayerObjectCalledTwiceIsOneLayer) {
  // A layer variable called again is the same layer (Keras's sharing).
  auto x = layers::Input({4});
  layers::Dense dense(4);
  auto once = dense(x);
  auto twice = dense(once);
  EXPECT_EQ(&once.layer(), &twice.layer());
  Model m(x, twice);
  m.build();
  EXPECT_EQ(m.layers().size(), 2u);  // the input and the one Dense
  EXPECT_EQ(m.count_params(), 4 * 4 + 4);
  expect_error<ValueError>([&] { dense.output(); }, {"called 2 times"});
}

TEST(FunctionalModel, SharedLayerGradientsAreTheSumOfItsCalls) {
  // A siamese-style graph: one Dense applied to two halves of the input, then compared.
  auto x = layers::Input({6});
  auto a = layers::Dense(3, "tanh")(x);
  auto shared = std::make_shared<layers::Dense>(3, "tanh");
  auto s1 = call_layer(shared, {a});
  auto s2 = call_layer(shared, {layers::Dense(3, "sigmoid")(x)});
  auto s3 = call_layer(shared, {s1});  // and once more on its own output
  Model m(x, layers::Dense(2)(layers::Concatenate()({s1, layers::Subtract()({s2, s3})})));
  m.compile(optimizers::SGD(0.0), "mse");
  Rng rng(8);
  Tensor in = random_tensor({5, 6}, rng, -1, 1), target = random_tensor({5, 2}, rng, -1, 1);
  m.train_on_batch(in, target);
  ASSERT_EQ(m.parameters().size(), 8u);  // four Dense layers: the shared one counts once
  for (auto& p : m.parameters()) {
    Tensor analytic = p.grad->clone();
    Tensor numeric = numerical_gradient([&] { return m.evaluate(in, target, {.batch_size = 5})["loss"]; }, *p.value, 1e-2);
    EXPECT_TRUE(gradients_close(analytic, numeric, 2e-3, 2e-2)) << p.name;
  }
  // Saved and loaded, the three calls stay calls of one layer.
  Model again = model_from_json(m.to_json());
  EXPECT_EQ(again.layer_calls(), m.layer_calls());
  EXPECT_EQ(again.count_params(), m.count_params());
  const std::string summary = m.summary_string();
  EXPECT_NE(summary.find("dense[0][0], dense_2[0][0], dense_1[0][0]"), std::string::npos) << summary;
}

TEST(FunctionalModel, FeatureExtractionAndNestedModelsShareWeights) {
  Sequential base({layers::Input({4}), layers::Dense(5, "relu", {.name = "hidden"}), layers::Dense(2, "softmax")});
  base.build();
  Model features(base.input(), base.get_layer("hidden")->output());
  Rng rng(2);
  Tensor x = random_tensor({3, 4}, rng, -1, 1);
  // The extractor's output is the base's hidden layer, computed by hand from its weights.
  const Tensor f = features.predict(x);
  auto dense = std::dynamic_pointer_cast<layers::Dense>(base.get_layer("hidden"));
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t j = 0; j < 5; ++j) {
      double z = dense->bias()[j];
      for (int64_t k = 0; k < 4; ++k) z += double(x.at(r, k)) * dense->kernel().at(k, j);
      EXPECT_NEAR(f.at(r, j), std::max(0.0, z), 1e-5);
    }
  // A softmax head fused in one model must not leak into another model that shares the layer.
  base.compile("adam", "sparse_categorical_crossentropy");
  Tensor y(Shape{3, 1});
  base.train_on_batch(x, y);
  Model head_only(base.input(), base.output());
  const Tensor p = head_only.predict(x);
  for (int64_t r = 0; r < 3; ++r) EXPECT_NEAR(p.at(r, 0) + p.at(r, 1), 1.0, 1e-5);
  // The base used as a layer in a new model: the same weights.
  auto in = layers::Input({4});
  Model outer(in, layers::Dense(1)(base(in)));
  outer.build();
  EXPECT_EQ(outer.count_params(), base.count_params() + 3);
  EXPECT_EQ(outer.get_layer("hidden"), base.get_layer("hidden"));
}

TEST(FunctionalModel, SaveLoadPredictsAndTrainsOnIdentically) {
  Model m = residual_mlp();
  m.compile(optimizers::Adam(0.01), "mse");
  Rng rng(9);
  Tensor x = random_tensor({32, 4}, rng, -1, 1), y = random_tensor({32, 3}, rng, -1, 1);
  m.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 2});
  const std::string path = ::testing::TempDir() + "functional_model.safetensors";
  m.save(path);
  Model loaded = load_model(path);
  EXPECT_FALSE(loaded.is_sequential());
  EXPECT_EQ(loaded.summary_string(), m.summary_string());
  const Tensor p1 = m.predict(x), p2 = loaded.predict(x);
  for (int64_t i = 0; i < p1.size(); ++i) ASSERT_EQ(p1[i], p2[i]);
  m.fit(x, y, {.epochs = 1, .batch_size = 8, .verbose = 0, .seed = 3});
  loaded.fit(x, y, {.epochs = 1, .batch_size = 8, .verbose = 0, .seed = 3});
  const auto w1 = m.get_weights(), w2 = loaded.get_weights();
  for (size_t i = 0; i < w1.size(); ++i)
    for (int64_t j = 0; j < w1[i].size(); ++j) ASSERT_EQ(w1[i][j], w2[i][j]);
  std::remove(path.c_str());
}

TEST(FunctionalModel, ReadsKerasTwoAndKerasThreeConfigs) {
  const std::string keras2 = R"({"class_name": "Model", "config": {"name": "m", "layers": [
    {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []},
    {"class_name": "Dense", "name": "d1", "config": {"name": "d1", "units": 3}, "inbound_nodes": [[["in", 0, 0, {}]]]},
    {"class_name": "Add", "name": "add", "config": {"name": "add"}, "inbound_nodes": [[["in", 0, 0, {}], ["d1", 0, 0, {}]]]},
    {"class_name": "Dense", "name": "out", "config": {"name": "out", "units": 2}, "inbound_nodes": [[["add", 0, 0, {}]]]}],
    "input_layers": [["in", 0, 0]], "output_layers": [["out", 0, 0]]}})";
  Model m = model_from_json(keras2);
  EXPECT_EQ(m.output_shape(), (Shape{2}));
  EXPECT_EQ(m.layer_calls()[2], (std::vector<std::vector<TensorRef>>{{{"in", 0}, {"d1", 0}}}));
  // Written back in Keras 3's form, it reads again to the same graph.
  Model again = model_from_json(m.to_json());
  EXPECT_EQ(again.layer_calls(), m.layer_calls());
  EXPECT_NE(m.to_json().find("keras_history"), std::string::npos);
  expect_error<ValueError>([] { model_from_json(R"({"class_name": "Functional", "config": {"layers": [
    {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []},
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3}, "inbound_nodes": [[["nowhere", 0, 0, {}]]]}],
    "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})"); }, {"'nowhere'", "which the model does not have"});
}

TEST(FunctionalModel, SummaryShowsConnections) {
  Model m = residual_mlp();
  const std::string s = m.summary_string();
  EXPECT_NE(s.find("Connected to"), std::string::npos) << s;
  EXPECT_NE(s.find("dense[0][0], dense_1[0][0]"), std::string::npos) << s;
  EXPECT_NE(s.find("input_layer (InputLayer)"), std::string::npos) << s;
}

TEST(FunctionalModel, ResidualMlpLearns) {
  // Three interleaved classes on rings: the residual MLP separates them.
  Rng rng(4);
  const int n = 300;
  Tensor x(Shape{n, 4}), y(Shape{n, 1});
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    const double a = 0.37 * i;
    x.at(i, 0) = float((c - 1) * 1.5 + 0.4 * std::cos(a));
    x.at(i, 1) = float((c == 1 ? 1.0 : -0.5) + 0.4 * std::sin(a));
    x.at(i, 2) = rng.uniform(-1, 1);
    x.at(i, 3) = rng.uniform(-1, 1);
    y[i] = float(c);
  }
  auto in = layers::Input({4});
  auto h = layers::Dense(16, "relu")(in);
  auto r = layers::Add()({h, layers::Dense(16, "relu")(h)});
  Model m(in, layers::Dense(3, "softmax")(r));
  m.compile(optimizers::Adam(0.02), "sparse_categorical_crossentropy", {"accuracy"});
  m.fit(x, y, {.epochs = 30, .batch_size = 32, .verbose = 0, .seed = 1});
  EXPECT_GE(m.evaluate(x, y)["accuracy"], 0.95);
}

namespace {

// A functional config with an input "in" (3 values) and the given layers after it, whose output is
// `output`.
std::string functional_config(const std::string& layers, const std::string& output) {
  return R"({"class_name": "Functional", "config": {"name": "f", "layers": [
    {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []},
    )" + layers + R"(], "input_layers": [["in", 0, 0]], "output_layers": [[")" + output + R"(", 0, 0]]}})";
}

}  // namespace

TEST(FunctionalModel, ConfigErrorsNameTheLayer) {
  // A layer whose first call reads its own second call: a cycle, never a hang or a crash.
  expect_error<ValueError>([] { model_from_json(functional_config(R"(
    {"class_name": "Dense", "name": "loop", "config": {"name": "loop", "units": 3},
     "inbound_nodes": [[["loop", 1, 0, {}]], [["in", 0, 0, {}]]]})", "loop")); }, {"'loop'", "a cycle"});
  // Two layers reading each other.
  expect_error<ValueError>([] { model_from_json(functional_config(R"(
    {"class_name": "Dense", "name": "a", "config": {"name": "a", "units": 3}, "inbound_nodes": [[["b", 0, 0, {}]]]},
    {"class_name": "Dense", "name": "b", "config": {"name": "b", "units": 3}, "inbound_nodes": [[["a", 0, 0, {}]]]})", "b")); },
                           {"'a'", "a cycle"});
  // An output that names no layer of the model.
  expect_error<ValueError>([] { model_from_json(functional_config(R"(
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3}, "inbound_nodes": [[["in", 0, 0, {}]]]})", "missing")); },
                           {"'output_layers'", "'missing'"});
  // Two layers with one name.
  expect_error<ValueError>([] { model_from_json(functional_config(R"(
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3}, "inbound_nodes": [[["in", 0, 0, {}]]]},
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2}, "inbound_nodes": [[["d", 0, 0, {}]]]})", "d")); },
                           {"layer 2", "two layers named 'd'"});
  // An output computed from an input the model does not list.
  expect_error<ValueError>([] { model_from_json(functional_config(R"(
    {"class_name": "InputLayer", "name": "other", "config": {"batch_input_shape": [null, 3], "name": "other"}, "inbound_nodes": []},
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3}, "inbound_nodes": [[["other", 0, 0, {}]]]})", "d")); },
                           {"'other'", "not among the model's inputs"});
  // A merge of shapes that do not fit, found when the file's model is built.
  expect_error<ShapeError>([] { model_from_json(functional_config(R"(
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 4}, "inbound_nodes": [[["in", 0, 0, {}]]]},
    {"class_name": "Concatenate", "name": "cat", "config": {"name": "cat", "axis": -1}, "inbound_nodes": [[["in", 0, 0, {}], ["d", 0, 0, {}]]]},
    {"class_name": "Multiply", "name": "mul", "config": {"name": "mul"}, "inbound_nodes": [[["cat", 0, 0, {}], ["d", 0, 0, {}]]]})", "mul")).build(); },
                           {"'mul'", "(None, 7) and (None, 4)"});
}

TEST(MergeLayers, ConcatenateOfShapesThatDoNotFitNamesTheLayer) {
  auto in = layers::Input({2, 3});
  auto wide = layers::Dense(5)(in);  // (None, 2, 5): concatenable on the last axis, not on axis 1
  Model ok(in, layers::Concatenate(-1)({in, wide}));
  ok.build();
  EXPECT_EQ(ok.output_shape(), (Shape{2, 8}));
  Model bad(in, layers::Concatenate(1, "join")({in, wide}));
  expect_error<ShapeError>([&] { bad.build(); }, {"'join'", "(None, 2, 3)", "(None, 2, 5)"});
}

namespace {

// A residual block with dropout inside, trained with `threads` threads from the global seed `seed`.
std::vector<Tensor> train_residual_with_dropout(uint64_t seed, int threads) {
  const int before = num_threads();
  set_num_threads(threads);
  set_random_seed(seed);
  Rng rng(6);
  Tensor x = random_tensor({96, 8}, rng, -1, 1), y(Shape{96, 1});
  for (int i = 0; i < 96; ++i) y[i] = float(x.at(i, 0) * x.at(i, 1) > 0);
  auto in = layers::Input({8});
  auto h = layers::Dense(64, "relu")(in);
  auto block = layers::Dense(64, "relu")(layers::Dropout(0.3f)(h));
  auto r = layers::Dropout(0.2f)(layers::Add()({h, block}));
  Model m(in, layers::Dense(1, "sigmoid")(r));
  m.compile(optimizers::Adam(0.01), "binary_crossentropy");
  m.fit(x, y, {.epochs = 3, .batch_size = 16, .verbose = 0});
  set_num_threads(before);
  return m.get_weights();
}

bool same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].to_vector() != b[i].to_vector()) return false;
  return true;
}

}  // namespace

TEST(Determinism, FunctionalModelWithDropoutRepeatsBitForBit) {
  // The seed sets initialisation, shuffling and both dropouts: a second run is identical, with one
  // thread and with several; another seed gives other weights (so the comparison can fail).
  for (int threads : {1, 2}) {
    const auto a = train_residual_with_dropout(42, threads), b = train_residual_with_dropout(42, threads);
    EXPECT_TRUE(same_weights(a, b)) << threads << " threads";
  }
  EXPECT_FALSE(same_weights(train_residual_with_dropout(42, 2), train_residual_with_dropout(43, 2)));
}
