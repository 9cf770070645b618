// Functional models: merge layers (forward by hand, backward against finite differences), graphs
// with fan-out checked against finite differences, a chain built functionally equal to the same
// Sequential, the errors of graph construction, files, and the summary's "Connected to" column.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {

template <class E, class F>
void expect_error(F&& what, std::vector<std::string> parts) {
  try {
    what();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' missing from: " << msg;
  }
}

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
  auto shared = std::make_shared<layers::Dense>(4);
  auto once = call_layer(shared, {x});
  expect_error<ValueError>([&] { Model(x, call_layer(shared, {once})); }, {"called more than once", "shared"});
  auto y = layers::Input({4});
  expect_error<ValueError>([&] { Model(x, layers::Dense(2)(y)); }, {"not among the model's inputs"});
  expect_error<ValueError>([&] { Model(x, layers::Dense(2, "linear", {.name = "same"})(layers::Dense(2, "linear", {.name = "same"})(x))); },
                           {"two layers named 'same'"});
  expect_error<ValueError>([&] { Model(layers::Dense(2)(x), layers::Dense(2)(x)); }, {"layers::Input"});
  expect_error<ValueError>([&] { Model(std::vector<SymbolicTensor>{x}, std::vector<SymbolicTensor>{}); },
                           {"at least one input and one output", "0 outputs"});
}

TEST(FunctionalModel, LayerObjectCalledTwiceIsOneLayer) {
  // A layer variable called again is the same layer (Keras's sharing), which the graph refuses for now.
  auto x = layers::Input({4});
  layers::Dense dense(4);
  auto once = dense(x);
  auto twice = dense(once);
  EXPECT_EQ(&once.layer(), &twice.layer());
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
  EXPECT_EQ(m.layer_inputs()[2], (std::vector<std::string>{"in", "d1"}));
  // Written back in Keras 3's form, it reads again to the same graph.
  Model again = model_from_json(m.to_json());
  EXPECT_EQ(again.layer_inputs(), m.layer_inputs());
  EXPECT_NE(m.to_json().find("keras_history"), std::string::npos);
  expect_error<ValueError>([] { model_from_json(R"({"class_name": "Functional", "config": {"layers": [
    {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []},
    {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3}, "inbound_nodes": [[["nowhere", 0, 0, {}]]]}],
    "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})"); }, {"'nowhere'", "does not come before it"});
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
