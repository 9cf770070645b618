// LayerNormalization: a forward case worked by hand, gradients (input, gamma, beta) against central
// finite differences, rows normalised independently of the batch and of the thread count, weights,
// config and save/load round trips, errors for unsupported axes and arguments, and outputs and
// gradients against PyTorch's F.layer_norm with eps=1e-3 (tests/pytorch/embedding_layernorm_reference.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"
#include "torch_reference.hpp"

using namespace myelin;
using layers::LayerNormalization;
using layers::LayerNormalizationOptions;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

// Row 0: 1, 2, 3, 4 (mean 2.5, biased variance 1.25); row 1: 5 everywhere (variance 0: y = beta).
TEST(LayerNormalization, ForwardByHand) {
  Rng rng(0);
  LayerNormalization ln;  // epsilon 1e-3
  ln.build({4}, rng);
  ln.gamma().copy_from(Tensor({4}, {1, 2, 1, 1}));
  ln.beta().copy_from(Tensor({4}, {0, 0, 1, 0}));
  const Tensor x({2, 4}, {1, 2, 3, 4, 5, 5, 5, 5});
  const Tensor y = ln.forward(x, true).clone();
  const float s = 1.f / std::sqrt(1.25f + 1e-3f);
  const float want[] = {-1.5f * s, 2 * -0.5f * s, 0.5f * s + 1, 1.5f * s, 0, 0, 1, 0};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y[i], want[i], 1e-6) << i;
  // Training and inference normalise alike: there are no moving statistics.
  EXPECT_EQ(ln.forward(x, false).to_vector(), y.to_vector());
}

namespace {
void check_gradients(const Shape& in, int64_t batch, LayerNormalizationOptions o, uint64_t seed) {
  Rng rng(seed);
  LayerNormalization ln(o);
  ln.build(in, rng);
  const int64_t C = in.back();
  for (int64_t c = 0; c < C; ++c) {
    if (o.scale) ln.gamma()[c] = rng.uniform(0.5f, 1.5f);
    if (o.center) ln.beta()[c] = rng.uniform(-0.5f, 0.5f);
  }
  Tensor x = random_tensor(with_batch(batch, in), rng, -2, 2);
  const Tensor w = random_tensor(x.shape(), rng, -1, 1);
  auto loss = [&] { return weighted_sum(ln.forward(x, true), w); };
  const Tensor nx = numerical_gradient(loss, x, 1e-2);
  ln.forward(x, true);
  const Tensor dx = ln.backward(w).clone();
  EXPECT_TRUE(gradients_close(dx, nx, 1e-3, 1e-2)) << "input";
  auto p = ln.params();
  ASSERT_EQ(p.size(), size_t(o.scale) + size_t(o.center));
  size_t k = 0;
  if (o.scale) {
    const Tensor ng = numerical_gradient(loss, ln.gamma(), 1e-2);
    EXPECT_TRUE(gradients_close(*p[k++].grad, ng, 1e-3, 1e-2)) << "gamma";
  }
  if (o.center) {
    const Tensor nb = numerical_gradient(loss, ln.beta(), 1e-2);
    EXPECT_TRUE(gradients_close(*p[k].grad, nb, 1e-3, 1e-2)) << "beta";
  }
}
}  // namespace

TEST(LayerNormalization, GradientsMatchFiniteDifferences) {
  {
    SCOPED_TRACE("dense, 7 features");
    check_gradients({7}, 4, {}, 1);
  }
  {
    SCOPED_TRACE("sequence 3 x 8");
    check_gradients({3, 8}, 2, {}, 2);
  }
  {
    SCOPED_TRACE("no scale, no center, epsilon 1e-2");
    check_gradients({5}, 3, {.epsilon = 1e-2f, .center = false, .scale = false}, 3);
  }
  {
    SCOPED_TRACE("scale only, 33 features (past a vector's width)");
    check_gradients({2, 33}, 2, {.center = false}, 4);
  }
}

// Each row's statistics are its own: a row gives the same output alone or in any batch, and the
// output and input gradient are the same bits for any thread count; the parameters' gradients, sums
// over rows, differ only by rounding.
TEST(LayerNormalization, RowsAreIndependentOfTheBatchAndOfTheThreadCount) {
  Rng rng(9);
  const int64_t C = 64;
  LayerNormalization ln;
  ln.build({20, C}, rng);
  for (int64_t c = 0; c < C; ++c) ln.gamma()[c] = rng.uniform(0.5f, 1.5f);
  const Tensor x = random_tensor({40, 20, C}, rng, -3, 3);  // 51200 values: over the parallel threshold
  const Tensor dy = random_tensor(x.shape(), rng, -1, 1);
  std::vector<std::vector<float>> y, dx, dgamma;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    y.push_back(ln.forward(x, true).to_vector());
    dx.push_back(ln.backward(dy).to_vector());
    dgamma.push_back(ln.params()[0].grad->to_vector());
  }
  set_num_threads(0);
  EXPECT_EQ(y[0], y[1]);
  EXPECT_EQ(dx[0], dx[1]);
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(dgamma[0][size_t(c)], dgamma[1][size_t(c)], 1e-5 * std::abs(dgamma[0][size_t(c)]) + 1e-6);
  // Sample 17 alone.
  Tensor one({1, 20, C});
  for (int64_t i = 0; i < one.size(); ++i) one[i] = x[17 * 20 * C + i];
  const std::vector<float> alone = ln.forward(one, false).to_vector();
  EXPECT_EQ(alone, std::vector<float>(y[0].begin() + 17 * 20 * C, y[0].begin() + 18 * 20 * C));
}

TEST(LayerNormalization, WeightsAreGammaThenBeta) {
  Rng rng(0);
  LayerNormalization ln;
  ln.build({5, 6}, rng);
  auto p = ln.params();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "gamma");
  EXPECT_EQ(p[1].name, "beta");
  EXPECT_EQ(p[0].value->shape(), (Shape{6}));
  EXPECT_EQ((*p[0].value)[5], 1.f);
  EXPECT_EQ((*p[1].value)[5], 0.f);
  EXPECT_EQ(ln.count_params(), 12);
  EXPECT_EQ(ln.plan({5, 6})->trainable_values, 12);
  LayerNormalization no_scale({.scale = false});
  no_scale.build({3}, rng);
  ASSERT_EQ(no_scale.params().size(), 1u);
  EXPECT_EQ(no_scale.params()[0].name, "beta");
}

TEST(LayerNormalization, OnlyTheLastAxisAndGoodArgumentsAreAccepted) {
  Rng rng(0);
  expect_error<ValueError>([] { LayerNormalization({.axis = 0}); }, {"LayerNormalization", "axis=0"});
  expect_error<ValueError>([] { LayerNormalization({.axis = -2}); }, {"LayerNormalization", "axis=-2"});
  expect_error<ValueError>([] { LayerNormalization({.epsilon = 0.f}); }, {"LayerNormalization", "epsilon"});
  LayerNormalization axis1({.axis = 1, .name = "ln"});
  expect_error<ValueError>([&] { axis1.build({4, 3}, rng); }, {"'ln'", "axis=1", "(None, 4, 3)"});
  LayerNormalization axis2({.axis = 2});
  EXPECT_NO_THROW(axis2.build({4, 3}, rng));  // Keras counts the batch: 2 is the last axis here
  LayerNormalization dense;
  expect_error<ShapeError>([&] { dense.build({}, rng); }, {"LayerNormalization", "()"});
  expect_error<ValueError>([] { layers::from_config("LayerNormalization", {{"rms_scaling", true}}); },
                           {"rms_scaling"});
  expect_error<ValueError>([] { layers::from_config("LayerNormalization", {{"axis", {1, 2}}}); }, {"axis=[1,2]"});
}

// Keras 3's config (axis as a list) builds the layer; get_config gives Keras's keys and
// from_config(get_config()) the same layer.
TEST(LayerNormalization, ConfigRoundTrip) {
  const auto keras = nlohmann::json::parse(R"({
    "name": "ln", "trainable": true, "dtype": "float32", "axis": [-1], "epsilon": 1e-5, "center": true,
    "scale": false, "rms_scaling": false,
    "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
    "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null},
    "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null})");
  auto layer = layers::from_config("LayerNormalization", keras);
  const auto c = layer->get_config();
  EXPECT_EQ(c["name"], "ln");
  EXPECT_EQ(c["axis"], -1);
  EXPECT_FLOAT_EQ(c["epsilon"].get<float>(), 1e-5f);
  EXPECT_EQ(c["center"], true);
  EXPECT_EQ(c["scale"], false);
  EXPECT_EQ(c["gamma_initializer"]["class_name"], "Ones");
  EXPECT_EQ(layers::from_config("LayerNormalization", c)->get_config(), c);
  Rng rng(0);
  layer->build({3}, rng);
  ASSERT_EQ(layer->params().size(), 1u);
  EXPECT_EQ(layer->params()[0].name, "beta");
}

TEST(LayerNormalization, ModelTrainsAndSurvivesSaveLoad) {
  set_random_seed(5);
  Rng rng(1);
  const Tensor x = random_tensor({64, 4, 6}, rng, -1, 3);
  Tensor y({64, 1});
  for (int64_t r = 0; r < 64; ++r) y[r] = x[r * 24] > x[r * 24 + 1] ? 1.f : 0.f;
  Sequential model({layers::Dense(8, "relu", Shape{4, 6}), LayerNormalization(), layers::Flatten(),
                    layers::Dense(1, "sigmoid")});
  model.compile(optimizers::Adam(0.01), "binary_crossentropy");
  const auto history = model.fit(x, y, {.epochs = 20, .batch_size = 16, .verbose = 0, .seed = 2});
  EXPECT_LT(history.history.at("loss").back(), 0.5 * history.history.at("loss").front());
  std::vector<std::string> names;
  for (const auto& p : model.weights()) names.push_back(p.name);
  EXPECT_EQ(names[2], "layer_normalization/gamma");
  EXPECT_EQ(names[3], "layer_normalization/beta");

  const auto path = std::filesystem::temp_directory_path() /
                    ("myelin_layer_norm_" + std::to_string(::getpid()) + ".safetensors");
  model.save(path.string());
  Model loaded = load_model(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.predict(x).to_vector(), model.predict(x).to_vector());
  EXPECT_EQ(loaded.get_layer("layer_normalization")->get_config(), model.get_layer("layer_normalization")->get_config());
}

class LayerNormalizationPyTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new test::TorchReference("embedding_layernorm_reference.py"); }
  static void TearDownTestSuite() {
    delete ref_;
    ref_ = nullptr;
  }
  void SetUp() override {
    if (!ref_->skip_reason().empty()) GTEST_SKIP() << ref_->skip_reason();
    ASSERT_EQ(ref_->error(), "");
  }
  static inline test::TorchReference* ref_ = nullptr;
};

TEST_F(LayerNormalizationPyTorch, ForwardAndGradients) {
  for (const char* name : {"layernorm_dense", "layernorm_sequence", "layernorm_plain", "layernorm_scale_only"}) {
    SCOPED_TRACE(name);
    const test::RefFile ref = ref_->load(name);
    const Tensor x = ref.at("x").to_tensor();
    const bool scale = ref.count("gamma") > 0, center = ref.count("beta") > 0;
    LayerNormalization ln({.center = center, .scale = scale});
    Rng rng(0);
    ln.build(Shape(x.shape().begin() + 1, x.shape().end()), rng);
    if (scale) ln.gamma().copy_from(ref.at("gamma").to_tensor());
    if (center) ln.beta().copy_from(ref.at("beta").to_tensor());
    const std::string what = name;
    test::expect_close(ln.forward(x, true), ref.at("y"), what + " forward");
    test::expect_close(ln.backward(ref.at("w").to_tensor()), ref.at("dx"), what + " input gradient");
    auto p = ln.params();
    size_t k = 0;
    if (scale) test::expect_close(*p[k++].grad, ref.at("dgamma"), what + " gamma gradient");
    if (center) test::expect_close(*p[k].grad, ref.at("dbeta"), what + " beta gradient");
  }
}
