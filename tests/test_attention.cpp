// MultiHeadAttention: forward cases worked by hand (with and without the causal mask), every
// gradient (inputs and the eight weights) against central finite differences for self- and
// cross-attention, causal and explicit masks, dropout, value_dim and output_shape; outputs and
// gradients against PyTorch's nn.MultiheadAttention on shared weights and against Keras's einsums
// written in torch (tests/pytorch/attention_reference.py); config and save/load round trips; a
// two-block Transformer encoder that trains; errors naming the layer and shapes.
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
using layers::MultiHeadAttention;
using layers::MultiHeadAttentionOptions;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {
// One head of width 1 with every kernel 1 and every bias 0: y_i = sum_j softmax_j(x_i x_j) x_j.
MultiHeadAttention unit_attention(bool causal, const Shape& in, Rng& rng) {
  MultiHeadAttention mha(1, 1, {.use_causal_mask = causal});
  mha.build_inputs({in, in}, rng);
  for (auto& p : mha.params()) p.value->fill(p.name.ends_with("kernel") ? 1.f : 0.f);
  return mha;
}
}  // namespace

TEST(MultiHeadAttention, ForwardByHand) {
  Rng rng(0);
  const Tensor x({1, 3, 1}, {1, 2, 3});
  const double e = std::exp(1.0);
  {
    SCOPED_TRACE("causal");
    MultiHeadAttention mha = unit_attention(true, {3, 1}, rng);
    const Tensor y = mha.forward_inputs({&x, &x}, true).clone();  // a training pass keeps the probabilities
    ASSERT_EQ(y.shape(), (Shape{1, 3, 1}));
    // Step 0 sees itself only; step 1 scores 2 and 4 against steps 0 and 1; step 2 scores 3, 6, 9.
    EXPECT_NEAR(y[0], 1.0, 1e-6);
    EXPECT_NEAR(y[1], (std::pow(e, 2) + 2 * std::pow(e, 4)) / (std::pow(e, 2) + std::pow(e, 4)), 1e-5);
    EXPECT_NEAR(y[2], (std::pow(e, 3) + 2 * std::pow(e, 6) + 3 * std::pow(e, 9)) /
                          (std::pow(e, 3) + std::pow(e, 6) + std::pow(e, 9)), 1e-5);
    EXPECT_FLOAT_EQ(mha.attention_probs()[1], 0.f);  // step 0 never sees step 1
  }
  {
    SCOPED_TRACE("no mask");
    MultiHeadAttention mha = unit_attention(false, {3, 1}, rng);
    const Tensor y = mha.forward_inputs({&x, &x}, false).clone();
    EXPECT_NEAR(y[0], (e + 2 * e * e + 3 * e * e * e) / (e + e * e + e * e * e), 1e-5);
  }
  {
    SCOPED_TRACE("explicit mask: step 0 attends step 2 only; key_dim 4 scales scores by 1/2");
    MultiHeadAttention mha(1, 4);
    mha.build_inputs({{3, 1}, {3, 1}, {3, 1}, {3, 3}}, rng);
    for (auto& p : mha.params()) p.value->fill(0.f);
    for (auto& p : mha.params())
      if (p.name == "value/kernel" || p.name == "attention_output/kernel") p.value->fill(0.5f);
    // value/kernel 0.5 per unit, attention_output/kernel 0.5: y = sum of 4 units * 0.25 = v.
    const Tensor mask({1, 3, 3}, {0, 0, 1, 1, 1, 1, 1, 1, 1});
    const Tensor y = mha.forward_inputs({&x, &x, &x, &mask}, false).clone();
    EXPECT_NEAR(y[0], 3.0, 1e-6);
    EXPECT_NEAR(y[1], 2.0, 1e-6);  // zero query kernel: uniform weights, the mean
  }
}

namespace {
struct Case {
  const char* what;
  Shape query, value;
  std::optional<Shape> key;
  bool self = false, causal = false, mask = false;
  int64_t heads = 2, key_dim = 3;
  std::optional<int64_t> value_dim, output_shape;
  float dropout = 0.f;
};

void check_gradients(const Case& c, int64_t batch, uint64_t seed) {
  SCOPED_TRACE(c.what);
  Rng rng(seed);
  MultiHeadAttention mha(c.heads, c.key_dim,
                         {.value_dim = c.value_dim, .dropout = c.dropout, .output_shape = c.output_shape,
                          .use_causal_mask = c.causal});
  std::vector<Shape> shapes{c.query, c.self ? c.query : c.value};
  if (c.key || c.mask) shapes.push_back(c.key.value_or(shapes[1]));
  if (c.mask) shapes.push_back({c.query[0], shapes[1][0]});
  mha.build_inputs(shapes, rng);
  for (auto& p : mha.params())
    for (int64_t i = 0; i < p.value->size(); ++i) (*p.value)[i] = rng.uniform(-0.7f, 0.7f);
  std::vector<Tensor> xs;
  for (size_t j = 0; j < shapes.size(); ++j) xs.push_back(random_tensor(with_batch(batch, shapes[j]), rng, -1.5f, 1.5f));
  if (c.mask) {
    Tensor& m = xs.back();
    for (int64_t i = 0; i < m.size(); ++i) m[i] = rng.uniform(0.f, 1.f) < 0.35f ? 0.f : 1.f;
    for (int64_t r = 0; r < m.size() / shapes[1][0]; ++r) m[r * shapes[1][0]] = 1.f;  // nobody fully masked
  }
  auto inputs = [&] {
    std::vector<const Tensor*> in;
    for (size_t j = 0; j < xs.size(); ++j) in.push_back(c.self && j == 1 ? &xs[0] : &xs[j]);
    return in;
  };
  const Tensor y0 = mha.forward_inputs(inputs(), true).clone();
  const Tensor w = random_tensor(y0.shape(), rng, -1, 1);
  // With dropout, every evaluation draws the same mask.
  auto loss = [&] {
    Rng r(seed + 100);
    mha.reseed(r);
    return weighted_sum(mha.forward_inputs(inputs(), true), w);
  };
  loss();
  std::vector<const Tensor*> grads(xs.size());
  mha.backward_inputs(w, grads);
  std::vector<Tensor> dx;
  for (auto* g : grads) dx.push_back(g ? g->clone() : Tensor());
  std::vector<Tensor> dw;
  auto params = mha.params();
  for (auto& p : params) dw.push_back(p.grad->clone());
  if (c.self) {  // the query's gradient takes both paths
    for (int64_t i = 0; i < dx[0].size(); ++i) dx[0][i] += dx[1][i];
  }
  const double h = 1e-2;
  for (size_t j = 0; j < xs.size(); ++j) {
    if (c.self && j == 1) continue;
    if (c.mask && j + 1 == xs.size()) {
      EXPECT_EQ(grads[j], nullptr) << "the mask gets no gradient";
      continue;
    }
    const Tensor n = numerical_gradient(loss, xs[j], h);
    EXPECT_TRUE(gradients_close(dx[j], n, 2e-3, 1e-2)) << "input " << j;
  }
  for (size_t k = 0; k < params.size(); ++k) {
    const Tensor n = numerical_gradient(loss, *params[k].value, h);
    EXPECT_TRUE(gradients_close(dw[k], n, 2e-3, 1e-2)) << params[k].name;
  }
}
}  // namespace

TEST(MultiHeadAttention, GradientsMatchFiniteDifferences) {
  check_gradients({.what = "self", .query = {4, 5}, .value = {}, .self = true}, 2, 1);
  check_gradients({.what = "self causal", .query = {5, 4}, .value = {}, .self = true, .causal = true}, 2, 2);
  check_gradients({.what = "cross, key from value", .query = {3, 4}, .value = {5, 6}}, 2, 3);
  check_gradients({.what = "cross with key, value_dim and output_shape",
                   .query = {3, 4}, .value = {5, 2}, .key = Shape{5, 3}, .heads = 3, .key_dim = 2,
                   .value_dim = 4, .output_shape = 5},
                  2, 4);
  check_gradients({.what = "explicit mask and causal", .query = {4, 3}, .value = {4, 5}, .causal = true,
                   .mask = true},
                  3, 5);
  check_gradients({.what = "dropout on the probabilities", .query = {4, 3}, .value = {6, 3}, .dropout = 0.3f},
                  2, 6);
}

TEST(MultiHeadAttention, DropoutOnlyWhileTraining) {
  Rng rng(3);
  MultiHeadAttention mha(2, 4, {.dropout = 0.5f});
  mha.build_inputs({{6, 8}, {6, 8}}, rng);
  const Tensor x = random_tensor({2, 6, 8}, rng, -1, 1);
  const Tensor a = mha.forward_inputs({&x, &x}, false).clone();
  EXPECT_EQ(mha.forward_inputs({&x, &x}, false).to_vector(), a.to_vector());
  EXPECT_NE(mha.forward_inputs({&x, &x}, true).to_vector(), a.to_vector());
}

TEST(MultiHeadAttention, WeightsAsKerasNamesAndShapesThem) {
  Rng rng(0);
  MultiHeadAttention mha(3, 4, {.value_dim = 5, .output_shape = 7});
  EXPECT_EQ(mha.build_inputs({{10, 6}, {8, 2}, {8, 9}}, rng), (Shape{10, 7}));
  std::vector<std::pair<std::string, Shape>> got;
  for (auto& p : mha.params()) got.push_back({p.name, p.value->shape()});
  const std::vector<std::pair<std::string, Shape>> want{
      {"query/kernel", {6, 3, 4}}, {"query/bias", {3, 4}}, {"key/kernel", {9, 3, 4}}, {"key/bias", {3, 4}},
      {"value/kernel", {2, 3, 5}}, {"value/bias", {3, 5}}, {"attention_output/kernel", {3, 5, 7}},
      {"attention_output/bias", {7}}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(mha.count_params(), 6 * 12 + 12 + 9 * 12 + 12 + 2 * 15 + 15 + 15 * 7 + 7);
  MultiHeadAttention no_bias(2, 2, {.use_bias = false});
  no_bias.build_inputs({{3, 4}, {3, 4}}, rng);
  EXPECT_EQ(no_bias.params().size(), 4u);
}

class MultiHeadAttentionPyTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new test::TorchReference("attention_reference.py"); }
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

TEST_F(MultiHeadAttentionPyTorch, ForwardAndGradients) {
  struct R {
    const char* name;
    bool causal;
    std::optional<int64_t> value_dim, output_shape;
  };
  for (const R& r : {R{"torch_self", false}, R{"torch_self_causal", true}, R{"torch_cross", false},
                     R{"torch_cross_value_is_key", false}, R{"plain", true, 5, 4}}) {
    SCOPED_TRACE(r.name);
    const test::RefFile ref = ref_->load(r.name);
    const Tensor query = ref.at("query").to_tensor(), value = ref.at("value").to_tensor();
    const bool self = ref.count("dvalue") == 0;
    std::vector<Tensor> extra;
    if (ref.count("key")) extra.push_back(ref.at("key").to_tensor());
    if (ref.count("mask")) {
      if (extra.empty()) extra.push_back(value);
      extra.push_back(ref.at("mask").to_tensor());
    }
    std::vector<const Tensor*> in{&query, self ? &query : &value};
    for (auto& t : extra) in.push_back(&t);
    std::vector<Shape> shapes;
    for (auto* t : in) shapes.push_back(Shape(t->shape().begin() + 1, t->shape().end()));
    const Shape& qk = ref.at("query/kernel").shape;
    MultiHeadAttention mha(qk[1], qk[2], {.value_dim = r.value_dim, .output_shape = r.output_shape,
                                          .use_causal_mask = r.causal});
    Rng rng(0);
    mha.build_inputs(shapes, rng);
    auto params = mha.params();
    for (auto& p : params) p.value->copy_from(ref.at(p.name).to_tensor());
    test::expect_close(mha.forward_inputs(in, true), ref.at("y"), "forward");
    std::vector<const Tensor*> grads(in.size());
    mha.backward_inputs(ref.at("w").to_tensor(), grads);
    Tensor dq = grads[0]->clone();
    if (self)
      for (int64_t i = 0; i < dq.size(); ++i) dq[i] += (*grads[1])[i];
    test::expect_close(dq, ref.at("dquery"), "query gradient");
    if (!self) test::expect_close(*grads[1], ref.at("dvalue"), "value gradient");
    if (ref.count("dkey")) test::expect_close(*grads[2], ref.at("dkey"), "key gradient");
    for (auto& p : params) {
      // A key bias adds the same q.b to a query's every score, which the softmax ignores: its
      // gradient is zero up to rounding, which a relative tolerance cannot judge.
      if (p.name == "key/bias") {
        for (int64_t i = 0; i < p.grad->size(); ++i) EXPECT_NEAR((*p.grad)[i], 0.0, 1e-6) << p.name;
        continue;
      }
      test::expect_close(*p.grad, ref.at("d/" + p.name), p.name + " gradient");
    }
  }
}

TEST(MultiHeadAttention, ConfigRoundTrip) {
  const nlohmann::json keras = {
      {"name", "mha"},          {"trainable", true},     {"num_heads", 4},         {"key_dim", 8},
      {"value_dim", 6},         {"dropout", 0.1},        {"use_bias", false},      {"output_shape", {12}},
      {"attention_axes", {1}},  {"kernel_initializer", {{"class_name", "GlorotUniform"}, {"config", {{"seed", nullptr}}}}},
      {"bias_initializer", {{"class_name", "Zeros"}, {"config", nlohmann::json::object()}}},
      {"kernel_regularizer", nullptr}, {"bias_regularizer", nullptr}, {"activity_regularizer", nullptr},
      {"kernel_constraint", nullptr}, {"bias_constraint", nullptr}, {"seed", nullptr}};
  auto layer = layers::from_config("MultiHeadAttention", keras);
  auto* mha = dynamic_cast<MultiHeadAttention*>(layer.get());
  ASSERT_NE(mha, nullptr);
  EXPECT_EQ(mha->num_heads(), 4);
  EXPECT_EQ(mha->key_dim(), 8);
  EXPECT_EQ(mha->value_dim(), 6);
  EXPECT_EQ(mha->options().output_shape, 12);
  EXPECT_FALSE(mha->options().use_bias);
  EXPECT_FALSE(mha->options().use_causal_mask);
  nlohmann::json c = MultiHeadAttention(2, 16, {.use_causal_mask = true}).get_config();
  EXPECT_EQ(c["value_dim"], 16);
  EXPECT_EQ(c["use_causal_mask"], true);
  EXPECT_EQ(layers::from_config("MultiHeadAttention", c)->get_config(), c);
  expect_error<ValueError>([] { layers::from_config("MultiHeadAttention", {{"num_heads", 2}, {"key_dim", 4},
                                                                          {"attention_axes", {2}}}); },
                           {"attention_axes"});
  expect_error<ValueError>([] { layers::from_config("MultiHeadAttention", {{"num_heads", 2}}); }, {"key_dim"});
}

namespace {
// A Transformer encoder block as Keras's examples write it: self-attention and a position-wise
// feed-forward, each added to its input and layer-normalised.
SymbolicTensor encoder_block(const SymbolicTensor& x, int64_t d, bool causal) {
  auto a = MultiHeadAttention(2, d / 2, {.use_causal_mask = causal})({x, x});
  auto h = layers::LayerNormalization({.epsilon = 1e-6f})(layers::Add()({x, a}));
  auto f = layers::Dense(d)(layers::Dense(2 * d, "relu")(h));
  return layers::LayerNormalization({.epsilon = 1e-6f})(layers::Add()({h, f}));
}
}  // namespace

TEST(MultiHeadAttention, TransformerEncoderTrainsAndSurvivesSaveLoad) {
  set_random_seed(7);
  // Whether the sequence's first step exceeds its last: the model must compare two positions, which
  // attention can and a position-wise layer cannot.
  const int64_t n = 256, T = 6, d = 8;
  Rng rng(2);
  Tensor x = random_tensor({n, T, d}, rng, -1, 1);
  Tensor y({n, 1});
  for (int64_t i = 0; i < n; ++i) y[i] = x[i * T * d] > x[i * T * d + (T - 1) * d] ? 1.f : 0.f;
  auto in = layers::Input({T, d});
  auto h = encoder_block(encoder_block(in, d, false), d, true);
  auto out = layers::Dense(1, "sigmoid")(layers::Flatten()(h));
  Model model(in, out);
  model.compile(optimizers::Adam(3e-3), "binary_crossentropy", {"accuracy"});
  const auto history = model.fit(x, y, {.epochs = 30, .batch_size = 32, .verbose = 0, .seed = 1});
  EXPECT_LT(history.history.at("loss").back(), 0.5 * history.history.at("loss").front());
  EXPECT_GT(history.history.at("accuracy").back(), 0.85);
  std::vector<std::string> names;
  for (const auto& p : model.weights()) names.push_back(p.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "multi_head_attention/query/kernel"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "multi_head_attention_1/attention_output/bias"), names.end());

  const auto path = std::filesystem::temp_directory_path() /
                    ("myelin_attention_" + std::to_string(::getpid()) + ".safetensors");
  model.save(path.string());
  Model loaded = load_model(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.predict(x).to_vector(), model.predict(x).to_vector());
  EXPECT_EQ(loaded.get_layer("multi_head_attention_1")->get_config()["use_causal_mask"], true);
}

TEST(MultiHeadAttention, AttentionMaskAsAModelInput) {
  // The mask travels as a second model input; masked value steps cannot change the output.
  set_random_seed(3);
  auto x = layers::Input({4, 6});
  auto m = layers::Input({4, 4});
  Model model({x, m}, {MultiHeadAttention(2, 3)({x, x, x, m})});
  Rng rng(4);
  Tensor xs = random_tensor({2, 4, 6}, rng, -1, 1);
  Tensor mask({2, 4, 4});
  for (int64_t i = 0; i < mask.size(); ++i) mask[i] = (i % 4) < 2 ? 1.f : 0.f;  // steps 2, 3 hidden
  const Tensor a = model.predict(std::vector<Tensor>{xs, mask})[0];
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 2 * 6; i < 4 * 6; ++i) xs[b * 24 + i] += 5.f;  // but the queries at those steps change
  const Tensor b = model.predict(std::vector<Tensor>{xs, mask})[0];
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t i = 0; i < 2 * 6; ++i) EXPECT_NEAR(a[s * 24 + i], b[s * 24 + i], 1e-5) << "sample " << s << " " << i;
  model.compile("adam", "mse");
  const Tensor target({2, 4, 6});
  const double before = model.evaluate({xs, mask}, {target}).at("loss");
  model.fit({xs, mask}, {target}, {.epochs = 20, .batch_size = 2, .verbose = 0});
  EXPECT_LT(model.evaluate({xs, mask}, {target}).at("loss"), before);
}

TEST(MultiHeadAttention, ErrorsNameTheLayerAndShapes) {
  Rng rng(0);
  MultiHeadAttention mha(2, 4, {.name = "att"});
  expect_error<ValueError>([&] { mha.build_once({{5, 8}}, rng); }, {"att", "(None, 5, 8)"});
  expect_error<ShapeError>([&] { mha.build_inputs({{5, 8}, {5, 8, 2}}, rng); }, {"att", "(None, 5, 8, 2)"});
  expect_error<ShapeError>([&] { mha.build_inputs({{5, 8}, {6, 8}, {7, 8}}, rng); }, {"att", "(None, 6, 8)", "(None, 7, 8)"});
  expect_error<ShapeError>([&] { mha.build_inputs({{5, 8}, {6, 8}, {6, 8}, {6, 5}}, rng); },
                           {"att", "attention_mask", "(batch, 5, 6)", "(None, 6, 5)"});
  expect_error<ValueError>([&] { mha.build_inputs({{5, 8}, {6, 8}, {6, 8}, {5, 6}, {5, 6}}, rng); }, {"att", "5 inputs"});
  expect_error<ValueError>([] { MultiHeadAttention(0, 4); }, {"num_heads"});
  expect_error<ValueError>([] { MultiHeadAttention(2, 4, {.dropout = 1.f}); }, {"dropout"});
  auto x = layers::Input({4, 6});
  expect_error<ValueError>([&] { MultiHeadAttention(2, 3)(x); }, {"MultiHeadAttention", "at least 2"});
}

// Attention (Luong's dot product): y_i = sum_j softmax_j(q_i . k_j) v_j.
TEST(Attention, ForwardByHand) {
  Rng rng(0);
  layers::Attention att;
  EXPECT_EQ(att.build_inputs({{2, 2}, {3, 1}, {3, 2}}, rng), (Shape{2, 1}));
  const Tensor q({1, 2, 2}, {1, 0, 0, 0});
  const Tensor v({1, 3, 1}, {1, 2, 3});
  const Tensor k({1, 3, 2}, {0, 0, 1, 0, 2, 5});
  const Tensor y = att.forward_inputs({&q, &v, &k}, false).clone();
  const double e = std::exp(1.0);
  EXPECT_NEAR(y[0], (1 + 2 * e + 3 * e * e) / (1 + e + e * e), 1e-5);  // scores 0, 1, 2
  EXPECT_NEAR(y[1], 2.0, 1e-6);                                          // scores all 0: the mean
  layers::Attention causal({.use_causal_mask = true});
  causal.build_inputs({{2, 2}, {3, 1}, {3, 2}}, rng);
  const Tensor yc = causal.forward_inputs({&q, &v, &k}, false).clone();
  EXPECT_NEAR(yc[0], 1.0, 1e-6);  // step 0 sees value step 0 only
  EXPECT_NEAR(yc[1], 1.5, 1e-6);
}

TEST(Attention, GradientsMatchFiniteDifferences) {
  struct C {
    const char* what;
    std::vector<Shape> shapes;
    bool causal;
    float dropout;
  };
  for (const C& c : {C{"query, value", {{3, 4}, {5, 4}}, false, 0.f}, C{"with key", {{3, 4}, {5, 2}, {5, 4}}, false, 0.f},
                     C{"causal", {{4, 3}, {4, 3}}, true, 0.f}, C{"dropout", {{3, 4}, {5, 4}}, false, 0.25f}}) {
    SCOPED_TRACE(c.what);
    Rng rng(11);
    layers::Attention att({.dropout = c.dropout, .use_causal_mask = c.causal});
    att.build_inputs(c.shapes, rng);
    std::vector<Tensor> xs;
    for (const auto& s : c.shapes) xs.push_back(random_tensor(with_batch(2, s), rng, -1.5f, 1.5f));
    auto inputs = [&] {
      std::vector<const Tensor*> in;
      for (auto& x : xs) in.push_back(&x);
      return in;
    };
    const Tensor w = random_tensor(att.forward_inputs(inputs(), true).shape(), rng, -1, 1);
    auto loss = [&] {
      Rng r(5);
      att.reseed(r);
      return weighted_sum(att.forward_inputs(inputs(), true), w);
    };
    loss();
    std::vector<const Tensor*> grads(xs.size());
    att.backward_inputs(w, grads);
    std::vector<Tensor> dx;
    for (auto* g : grads) dx.push_back(g->clone());
    for (size_t j = 0; j < xs.size(); ++j)
      EXPECT_TRUE(gradients_close(dx[j], numerical_gradient(loss, xs[j], 1e-2), 2e-3, 1e-2)) << "input " << j;
  }
}

TEST(Attention, ConfigRoundTripAndErrors) {
  const nlohmann::json c = layers::Attention({.dropout = 0.2f, .use_causal_mask = true}).get_config();
  EXPECT_EQ(c["score_mode"], "dot");
  EXPECT_EQ(layers::from_config("Attention", c)->get_config(), c);
  expect_error<ValueError>([] { layers::from_config("Attention", {{"use_scale", true}}); }, {"use_scale"});
  expect_error<ValueError>([] { layers::from_config("Attention", {{"score_mode", "concat"}}); }, {"score_mode"});
  Rng rng(0);
  layers::Attention att({.name = "att"});
  expect_error<ShapeError>([&] { att.build_inputs({{3, 4}, {5, 2}}, rng); }, {"att", "(None, 3, 4)", "(None, 5, 2)"});
  expect_error<ValueError>([&] { att.build_once({{3, 4}}, rng); }, {"att", "(None, 3, 4)"});
}

TEST(Attention, SelfAttentionInAModelTrains) {
  set_random_seed(2);
  auto x = layers::Input({5, 4});
  auto h = layers::Dense(4)(x);
  auto y = layers::Dense(1)(layers::Flatten()(layers::Attention()({h, h})));
  Model model(x, y);
  model.compile(optimizers::Adam(0.01), "mse");
  Rng rng(3);
  const Tensor xs = random_tensor({64, 5, 4}, rng, -1, 1);
  Tensor ys({64, 1});
  for (int64_t i = 0; i < 64; ++i) ys[i] = xs[i * 20] - xs[i * 20 + 19];
  const double before = model.evaluate(xs, ys).at("loss");
  model.fit(xs, ys, {.epochs = 30, .batch_size = 16, .verbose = 0});
  EXPECT_LT(model.evaluate(xs, ys).at("loss"), 0.5 * before);
}
