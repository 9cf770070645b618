// Embedding: a lookup worked by hand, the embeddings' gradient against central finite differences
// and against a plain double-precision scatter-add, the same gradient bit for bit whatever the
// thread count, ids refused with their batch row and position, config and save/load round trips,
// a toy task learnt (does token 3 occur?), and outputs and gradients against PyTorch's F.embedding
// on shared weights (tests/pytorch/embedding_layernorm_reference.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"
#include "torch_reference.hpp"

using namespace myelin;
using layers::Embedding;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {
// Ids drawn uniformly from [0, input_dim), as whole-number floats.
Tensor random_ids(const Shape& shape, int64_t input_dim, Rng& rng) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = float(rng.below(uint64_t(input_dim)));
  return t;
}
}  // namespace

TEST(Embedding, LookupByHand) {
  Rng rng(0);
  Embedding e(4, 2);
  EXPECT_EQ(e.build({3}, rng), (Shape{3, 2}));
  e.embeddings().copy_from(Tensor({4, 2}, {0, 1, 10, 11, 20, 21, 30, 31}));
  const Tensor x({2, 3}, {0, 3, 3, 2, 1, 0});
  const Tensor& y = e.forward(x, false);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 1, 30, 31, 30, 31, 20, 21, 10, 11, 0, 1}));
  // dy = 1 everywhere: each row's gradient counts its uses; row 3 is used twice, row 1 once.
  Tensor dy(y.shape());
  dy.fill(1.f);
  e.backward(dy);
  EXPECT_EQ(e.params()[0].grad->to_vector(), (std::vector<float>{2, 2, 1, 1, 1, 1, 2, 2}));
}

TEST(Embedding, AnyPerSampleShapeGainsTheOutputAxis) {
  Rng rng(0);
  Embedding e(9, 5);
  EXPECT_EQ(e.build({2, 3}, rng), (Shape{2, 3, 5}));
  EXPECT_EQ(e.plan({7})->output_shape, (Shape{7, 5}));
  EXPECT_EQ(e.plan({7})->trainable_values, 45);
  EXPECT_EQ(e.params().size(), 1u);
  EXPECT_EQ(e.params()[0].name, "embeddings");
  expect_error<ShapeError>([&] { e.plan({}); }, {"Embedding", "per-sample shape ()"});
}

// Keras's default, RandomUniform(-0.05, 0.05): values in range, spread as a uniform draw, and the
// same for the same seed.
TEST(Embedding, DefaultInitializerIsKerasUniform) {
  Rng a(5), b(5);
  Embedding e(200, 50), f(200, 50);
  e.build({4}, a);
  f.build({4}, b);
  double sum = 0, sq = 0;
  const Tensor& w = e.embeddings();
  for (int64_t i = 0; i < w.size(); ++i) {
    ASSERT_GE(w[i], -0.05f);
    ASSERT_LE(w[i], 0.05f);
    sum += w[i];
    sq += double(w[i]) * w[i];
  }
  const double mean = sum / w.size(), sd = std::sqrt(sq / w.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(sd, 0.1 / std::sqrt(12.0), 0.001);
  EXPECT_EQ(w.to_vector(), f.embeddings().to_vector());
}

TEST(Embedding, EmbeddingsGradientMatchesFiniteDifferences) {
  Rng rng(3);
  Embedding e(6, 4);
  e.build({5}, rng);
  e.embeddings().copy_from(random_tensor({6, 4}, rng, -1, 1));
  Tensor x = random_ids({3, 5}, 5, rng);  // row 5 is never used
  x[0] = x[1] = x[2] = 4;                  // and row 4 at least three times
  const Tensor w = random_tensor({3, 5, 4}, rng, -1, 1);
  auto loss = [&] { return weighted_sum(e.forward(x, true), w); };
  const Tensor numeric = numerical_gradient(loss, e.embeddings(), 1e-2);
  e.forward(x, true);
  e.backward(w);
  EXPECT_TRUE(gradients_close(*e.params()[0].grad, numeric, 1e-3, 1e-3));
  for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(e.params()[0].grad->at(5, c), 0.f) << "unused row, column " << c;
}

// Ids are not differentiable: a layer asked for its input gradient returns zeros of the ids' shape;
// a first layer returns none.
TEST(Embedding, InputGradientIsZeroOrAbsent) {
  Rng rng(1);
  Embedding e(5, 3);
  e.build({4}, rng);
  const Tensor x = random_ids({2, 4}, 5, rng);
  const Tensor dy = random_tensor({2, 4, 3}, rng, -1, 1);
  e.forward(x, true);
  const Tensor& dx = e.backward(dy);
  ASSERT_EQ(dx.shape(), x.shape());
  for (int64_t i = 0; i < dx.size(); ++i) EXPECT_EQ(dx[i], 0.f);
  e.set_needs_input_grad(false);
  e.forward(x, true);
  EXPECT_EQ(e.backward(dy).size(), 0);
}

// The scatter-add sums each row's positions in one fixed order: 1 and 3 threads give the same bits,
// and both agree with a double-precision sum within float32 rounding.
TEST(Embedding, ScatterAddIsTheSameWhateverTheThreadCount) {
  Rng rng(7);
  const int64_t vocab = 20, dim = 32;
  Embedding e(vocab, dim);
  e.build({50}, rng);
  const Tensor x = random_ids({64, 50}, vocab, rng);  // 3200 ids, 160 per row: heavy repeats
  const Tensor dy = random_tensor({64, 50, dim}, rng, -1, 1);
  std::vector<std::vector<float>> grads;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    e.forward(x, true);
    e.backward(dy);
    grads.push_back(e.params()[0].grad->to_vector());
  }
  set_num_threads(0);
  EXPECT_EQ(grads[0], grads[1]);
  std::vector<double> want(size_t(vocab * dim), 0.0);
  for (int64_t i = 0; i < x.size(); ++i)
    for (int64_t c = 0; c < dim; ++c) want[size_t(int64_t(x[i]) * dim + c)] += dy[i * dim + c];
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(grads[0][k], want[k], 1e-4) << k;
}

TEST(Embedding, BadIdsNameTheirRowPositionAndValue) {
  Rng rng(0);
  Embedding e(5, 2, {.name = "tokens"});
  e.build({4}, rng);
  Tensor x({2, 4}, {0, 1, 2, 3, 4, 0, 0, 0});
  EXPECT_NO_THROW(e.forward(x, false));
  struct Case {
    int64_t at;
    float id;
    std::vector<std::string> parts;
  };
  const Case cases[] = {
      {5, -1.f, {"'tokens'", "id -1 ", "batch row 1", "position [1]", "[0, 5)"}},
      {2, 5.f, {"id 5 ", "batch row 0", "position [2]", "input_dim=5"}},
      {7, 2.5f, {"id 2.5 ", "batch row 1", "position [3]"}},
      {0, 1e10f, {"id 1e+10 ", "batch row 0", "position [0]"}},
      {3, std::numeric_limits<float>::quiet_NaN(), {"id nan", "batch row 0", "position [3]"}},
  };
  for (const Case& c : cases) {
    Tensor bad = x.clone();
    bad[c.at] = c.id;
    expect_error<IndexError>([&] { e.forward(bad, false); }, c.parts);
  }
  // A per-sample shape of two axes names both indices.
  Embedding g(3, 2);
  g.build({2, 3}, rng);
  Tensor y({1, 2, 3}, {0, 1, 2, 2, 1, 3});
  expect_error<IndexError>([&] { g.forward(y, false); }, {"id 3 ", "batch row 0", "position [1, 2]"});
}

TEST(Embedding, BadArgumentsAreRefused) {
  expect_error<ValueError>([] { Embedding(0, 3); }, {"Embedding", "input_dim=0"});
  expect_error<ValueError>([] { Embedding(3, -1); }, {"Embedding", "output_dim=-1"});
  expect_error<ValueError>([] { Embedding((int64_t(1) << 24) + 1, 2); }, {"Embedding", "16777217", "2^24"});
  EXPECT_NO_THROW(Embedding(int64_t(1) << 24, 2));  // nothing is allocated before build
  // mask_zero is supported (tests/test_masks.cpp) and read back from a config.
  EXPECT_TRUE(std::static_pointer_cast<Embedding>(
                  layers::from_config("Embedding", {{"input_dim", 3}, {"output_dim", 2}, {"mask_zero", true}}))
                  ->options()
                  .mask_zero);
  expect_error<ValueError>([] { layers::from_config("Embedding", {{"input_dim", 3}}); }, {"output_dim"});
}

// A Keras 3 config (and Keras 2's input_length, ignored) builds the layer; get_config gives back
// Keras's names, and from_config(get_config()) the same layer.
TEST(Embedding, ConfigRoundTrip) {
  const auto keras = nlohmann::json::parse(R"({
    "name": "emb", "trainable": true, "dtype": "float32", "input_dim": 12, "output_dim": 3,
    "embeddings_initializer": {"module": "keras.initializers", "class_name": "RandomUniform",
                               "config": {"minval": -0.1, "maxval": 0.2, "seed": null}, "registered_name": null},
    "embeddings_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}},
    "activity_regularizer": null, "embeddings_constraint": null, "mask_zero": false, "input_length": 7})");
  auto layer = layers::from_config("Embedding", keras);
  const auto c = layer->get_config();
  EXPECT_EQ(c["name"], "emb");
  EXPECT_EQ(c["input_dim"], 12);
  EXPECT_EQ(c["output_dim"], 3);
  EXPECT_EQ(c["mask_zero"], false);
  EXPECT_EQ(c["embeddings_initializer"]["class_name"], "RandomUniform");
  EXPECT_FLOAT_EQ(c["embeddings_initializer"]["config"]["minval"].get<float>(), -0.1f);
  EXPECT_FLOAT_EQ(c["embeddings_initializer"]["config"]["maxval"].get<float>(), 0.2f);
  EXPECT_FLOAT_EQ(c["embeddings_regularizer"]["config"]["l2"].get<float>(), 0.01f);
  EXPECT_EQ(layers::from_config("Embedding", c)->get_config(), c);
  Rng rng(2);
  layer->build({7}, rng);
  const Tensor& w = *layer->params()[0].value;
  for (int64_t i = 0; i < w.size(); ++i) {
    EXPECT_GE(w[i], -0.1f);
    EXPECT_LE(w[i], 0.2f);
  }
  EXPECT_NE(layer->params()[0].regularizer, nullptr);
  // The default initializer's name and its Keras spelling.
  EXPECT_EQ(Embedding(3, 2).get_config()["embeddings_initializer"]["class_name"], "RandomUniform");
}

namespace {
// Sequences of 6 tokens from 10; the label is whether token 3 occurs (about half of them).
void token_task(int64_t n, Tensor& x, Tensor& y, uint64_t seed) {
  Rng rng(seed);
  x = random_ids({n, 6}, 10, rng);
  y = Tensor({n, 1});
  for (int64_t r = 0; r < n; ++r) {
    float has = 0.f;
    for (int64_t t = 0; t < 6; ++t) has = x.at(r, t) == 3.f ? 1.f : has;
    y[r] = has;
  }
}
}  // namespace

// Embedding first in a model (no input gradient), Flatten, then Dense: fit learns the task, and a
// saved model predicts exactly what it did.
TEST(Embedding, ModelLearnsWhetherTokenThreeOccursAndSurvivesSaveLoad) {
  set_random_seed(11);
  Tensor x, y, xt, yt;
  token_task(600, x, y, 1);
  token_task(200, xt, yt, 2);
  Sequential model({Embedding(10, 4, {.input_shape = Shape{6}}), layers::Flatten(), layers::Dense(16, "relu"),
                    layers::Dense(1, "sigmoid")});
  model.compile(optimizers::Adam(0.01), "binary_crossentropy", {"accuracy"});
  model.fit(x, y, {.epochs = 40, .batch_size = 32, .verbose = 0, .seed = 3});
  const double accuracy = model.evaluate(xt, yt).at("accuracy");
  EXPECT_GE(accuracy, 0.95) << "held-out accuracy";

  const auto path = std::filesystem::temp_directory_path() / ("myelin_embedding_" + std::to_string(::getpid()) +
                                                               ".safetensors");
  model.save(path.string());
  Model loaded = load_model(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.predict(xt).to_vector(), model.predict(xt).to_vector());
  EXPECT_EQ(loaded.get_layer("embedding")->get_config(), model.get_layer("embedding")->get_config());
  // A bad id at the model's boundary names the layer, the row of the caller's array (past the first
  // batch, and in fit, whose batches are shuffled) and the position.
  xt.at(150, 4) = 10.f;
  expect_error<IndexError>([&] { loaded.predict(xt); },
                           {"predict: x: Embedding 'embedding'", "id 10 at row 150, position [4]"});
  xt.at(150, 4) = -2.f;
  expect_error<IndexError>([&] { model.fit(xt, yt, {.epochs = 1, .verbose = 0}); }, {"id -2 at row 150, position [4]"});
  expect_error<IndexError>([&] { model.evaluate(xt, yt); }, {"id -2 at row 150, position [4]"});
}

// In a functional model after an Input, with a second branch that needs no gradient from it.
TEST(Embedding, FunctionalModelTrainsOnlyTheRowsItUses) {
  set_random_seed(4);
  auto inputs = layers::Input({3});
  auto h = Embedding(8, 2)(inputs);
  Model model(inputs, layers::Dense(1)(layers::Flatten()(h)));
  model.compile(optimizers::SGD(0.1), "mse");
  model.build();
  const Tensor before = model.get_layer("embedding")->params()[0].value->clone();
  const Tensor x({2, 3}, {1, 2, 2, 5, 1, 1});
  const Tensor y({2, 1}, {1, -1});
  model.train_on_batch(x, y);
  const Tensor& after = *model.get_layer("embedding")->params()[0].value;
  for (int64_t row = 0; row < 8; ++row) {
    const bool used = row == 1 || row == 2 || row == 5;
    for (int64_t c = 0; c < 2; ++c) {
      if (used)
        EXPECT_NE(after.at(row, c), before.at(row, c)) << row;
      else
        EXPECT_EQ(after.at(row, c), before.at(row, c)) << row;
    }
  }
}

class EmbeddingPyTorch : public ::testing::Test {
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

TEST_F(EmbeddingPyTorch, LookupAndEmbeddingsGradient) {
  for (const char* name : {"embedding", "embedding_2d_ids"}) {
    SCOPED_TRACE(name);
    const test::RefFile ref = ref_->load(name);
    const Tensor table = ref.at("embeddings").to_tensor(), x = ref.at("x").to_tensor();
    Embedding e(table.shape()[0], table.shape()[1]);
    Rng rng(0);
    e.build(Shape(x.shape().begin() + 1, x.shape().end()), rng);
    e.embeddings().copy_from(table);
    test::expect_close(e.forward(x, true), ref.at("y"), std::string(name) + " forward");
    e.backward(ref.at("w").to_tensor());
    test::expect_close(*e.params()[0].grad, ref.at("dembeddings"), std::string(name) + " embeddings gradient");
  }
}

// Embedding -> LayerNormalization -> Flatten -> Dense softmax with sparse cross-entropy: prediction,
// loss and every weight's gradient.
TEST_F(EmbeddingPyTorch, SequenceModelPredictLossAndGradients) {
  const test::RefFile ref = ref_->load("sequence_model");
  const Tensor x = ref.at("x").to_tensor(), y = ref.at("y").to_tensor();
  const int64_t vocab = ref.at("w0/embedding/embeddings").shape[0], dim = ref.at("w0/embedding/embeddings").shape[1];
  Sequential model({Embedding(vocab, dim, {.input_shape = Shape{x.shape()[1]}}), layers::LayerNormalization(),
                    layers::Flatten(), layers::Dense(ref.at("w0/dense/bias").shape[0], "softmax")});
  model.compile(optimizers::SGD(0.01), "sparse_categorical_crossentropy");
  model.build();
  std::vector<Tensor> w0;
  for (const auto& p : model.weights()) w0.push_back(ref.at("w0/" + p.name).to_tensor());
  model.set_weights(w0);
  test::expect_close(model.predict(x, int(x.rows())), ref.at("pred"), "predict");
  const double loss = model.train_on_batch(x, y);
  test::expect_close(Tensor({1}, {float(loss)}), ref.at("loss"), "training loss");
  int checked = 0;
  for (const auto& p : model.parameters()) {
    test::expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name);
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}
