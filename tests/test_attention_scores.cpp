// MultiHeadAttention(return_attention_scores): the second output holds the softmax probabilities
// (batch, heads, Tq, Tv) before dropout, as Keras 3 returns them. A case worked by hand, rows that
// sum to 1, the gradient through the scores output (alone, and together with the main output, with
// dropout) against central finite differences, a functional model returning both, the config
// round trip, and a key padding mask from Embedding(mask_zero).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using layers::MultiHeadAttention;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

TEST(MultiHeadAttentionScores, SoftmaxByHandAndRowsSumToOne) {
  Rng rng(0);
  // One head of width 1, kernels 1 and biases 0: score(i, j) = x_i x_j, the probabilities its softmax.
  MultiHeadAttention mha(1, 1, {.return_attention_scores = true});
  EXPECT_EQ(mha.num_outputs(), 2);
  mha.build_inputs({{3, 1}, {3, 1}}, rng);
  for (auto& p : mha.params()) p.value->fill(p.name.ends_with("kernel") ? 1.f : 0.f);
  EXPECT_EQ(mha.extra_output_shape(1), (Shape{1, 3, 3}));
  const Tensor x({1, 3, 1}, {1, 2, 3});
  mha.forward_inputs({&x, &x}, false);
  const Tensor& s = mha.extra_output(1);
  ASSERT_EQ(s.shape(), (Shape{1, 1, 3, 3}));
  for (int i = 0; i < 3; ++i) {
    double z = 0;
    for (int j = 0; j < 3; ++j) z += std::exp(double((i + 1) * (j + 1)));
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(s[i * 3 + j], std::exp(double((i + 1) * (j + 1))) / z, 1e-6);
  }
  // Random weights, two heads, cross-attention: every row of every head sums to 1.
  MultiHeadAttention two(2, 3, {.return_attention_scores = true});
  two.build_inputs({{4, 5}, {6, 2}}, rng);
  const Tensor q = random_tensor({3, 4, 5}, rng, -2, 2), v = random_tensor({3, 6, 2}, rng, -2, 2);
  two.forward_inputs({&q, &v}, false);
  const Tensor& p = two.extra_output(1);
  ASSERT_EQ(p.shape(), (Shape{3, 2, 4, 6}));
  for (int64_t r = 0; r < p.size() / 6; ++r) {
    double sum = 0;
    for (int64_t j = 0; j < 6; ++j) sum += p[r * 6 + j];
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << r;
  }
}

namespace {
// loss = sum(wy * y) + sum(ws * scores), the gradient of each weight and input against central
// differences; `with_output` false leaves only the scores term (the main output has no gradient).
void check_scores_gradients(bool with_output, float dropout, bool causal, uint64_t seed) {
  SCOPED_TRACE(std::string(with_output ? "output and scores" : "scores only") + (dropout > 0 ? ", dropout" : "") +
               (causal ? ", causal" : ""));
  Rng rng(seed);
  MultiHeadAttention mha(2, 3, {.dropout = dropout, .use_causal_mask = causal, .return_attention_scores = true});
  const Shape value = causal ? Shape{4, 2} : Shape{5, 2};
  mha.build_inputs({{4, 3}, value}, rng);
  for (auto& p : mha.params())
    for (int64_t i = 0; i < p.value->size(); ++i) (*p.value)[i] = rng.uniform(-0.7f, 0.7f);
  Tensor q = random_tensor({2, 4, 3}, rng, -1.5f, 1.5f), v = random_tensor(with_batch(2, value), rng, -1.5f, 1.5f);
  const Tensor& y0 = mha.forward_inputs({&q, &v}, true);
  const Tensor wy = random_tensor(y0.shape(), rng, -1, 1);
  const Tensor ws = random_tensor(mha.extra_output(1).shape(), rng, -1, 1);
  auto loss = [&] {
    Rng r(seed + 100);
    mha.reseed(r);  // the same dropout mask at every evaluation
    const double a = weighted_sum(mha.forward_inputs({&q, &v}, true), wy);
    return (with_output ? a : 0.0) + weighted_sum(mha.extra_output(1), ws);
  };
  loss();
  std::vector<const Tensor*> grads(2);
  mha.backward_outputs({with_output ? &wy : nullptr, &ws}, grads);
  ASSERT_TRUE(grads[0] && grads[1]);
  const Tensor dq = grads[0]->clone(), dv = grads[1]->clone();
  auto params = mha.params();
  std::vector<Tensor> dw;
  for (auto& p : params) dw.push_back(p.grad->clone());
  const double h = 1e-2;
  EXPECT_TRUE(gradients_close(dq, numerical_gradient(loss, q, h), 2e-3, 1e-2)) << "query";
  EXPECT_TRUE(gradients_close(dv, numerical_gradient(loss, v, h), 2e-3, 1e-2)) << "value";
  for (size_t k = 0; k < params.size(); ++k)
    EXPECT_TRUE(gradients_close(dw[k], numerical_gradient(loss, *params[k].value, h), 2e-3, 1e-2)) << params[k].name;
}
}  // namespace

TEST(MultiHeadAttentionScores, GradientThroughTheScoresMatchesFiniteDifferences) {
  check_scores_gradients(false, 0.f, false, 1);
  check_scores_gradients(true, 0.f, false, 2);
  check_scores_gradients(true, 0.f, true, 3);
  // The scores are taken before dropout: their gradient bypasses the mask, the output's goes through it.
  check_scores_gradients(true, 0.3f, false, 4);
}

TEST(MultiHeadAttentionScores, FunctionalModelReturnsBothAndConfigRoundTrips) {
  set_random_seed(5);
  auto q = layers::Input({4, 3}, "query");
  auto v = layers::Input({5, 2}, "value");
  auto outs = layers::MultiHeadAttention(2, 3, {.return_attention_scores = true, .name = "mha"}).call_outputs({q, v});
  ASSERT_EQ(outs.size(), 2u);
  Model model({q, v}, {outs[0], outs[1]});
  Rng rng(6);
  const Tensor xq = random_tensor({3, 4, 3}, rng, -1, 1), xv = random_tensor({3, 5, 2}, rng, -1, 1);
  const auto y = model.predict({xq, xv});
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[0].shape(), (Shape{3, 4, 3}));
  ASSERT_EQ(y[1].shape(), (Shape{3, 2, 4, 5}));
  auto mha = std::dynamic_pointer_cast<MultiHeadAttention>(model.get_layer("mha"));
  ASSERT_NE(mha, nullptr);
  const Tensor y0 = mha->forward_inputs({&xq, &xv}, false).clone();
  for (int64_t i = 0; i < y[0].size(); ++i) EXPECT_NEAR(y[0][i], y0[i], 1e-6);
  for (int64_t i = 0; i < y[1].size(); ++i) EXPECT_NEAR(y[1][i], mha->attention_probs()[i], 1e-6);

  const nlohmann::json c = mha->get_config();
  EXPECT_EQ(c.at("return_attention_scores"), true);
  auto back = layers::from_config("MultiHeadAttention", c);
  EXPECT_EQ(back->num_outputs(), 2);
  EXPECT_EQ(back->get_config(), c);
  // Without the option the config stays Keras's, without the key, and the layer has one output.
  MultiHeadAttention plain(2, 3);
  EXPECT_FALSE(plain.get_config().contains("return_attention_scores"));
  EXPECT_EQ(layers::from_config("MultiHeadAttention", plain.get_config())->num_outputs(), 1);
}

TEST(MultiHeadAttentionScores, ErrorsNameTheLayerAndShapes) {
  auto q = layers::Input({4, 3});
  // A layer with two outputs cannot be called as if it had one.
  expect_error<ValueError>([&] { layers::MultiHeadAttention(2, 3, {.return_attention_scores = true})({q, q}); },
                           {"MultiHeadAttention", "2 tensors"});
  Rng rng(1);
  MultiHeadAttention mha(2, 3, {.return_attention_scores = true, .name = "att"});
  mha.build_inputs({{4, 3}, {4, 3}}, rng);
  const Tensor x = random_tensor({2, 4, 3}, rng, -1, 1);
  mha.forward_inputs({&x, &x}, true);
  const Tensor bad({2, 2, 4, 5});
  std::vector<const Tensor*> grads(2);
  expect_error<ShapeError>([&] { mha.backward_outputs({nullptr, &bad}, grads); }, {"'att'", "(2, 2, 4, 5)", "(2, 2, 4, 4)"});
}

// Attention(return_attention_scores): the weights (batch, Tq, Tv), after dropout as Keras 3 returns them.
TEST(AttentionScores, SoftmaxByHandAndGradients) {
  Rng rng(0);
  {
    layers::Attention att({.return_attention_scores = true});
    EXPECT_EQ(att.num_outputs(), 2);
    att.build_inputs({{3, 1}, {3, 1}}, rng);
    EXPECT_EQ(att.extra_output_shape(1), (Shape{3, 3}));
    const Tensor x({1, 3, 1}, {1, 2, 3});
    att.forward_inputs({&x, &x}, false);
    const Tensor& s = att.extra_output(1);
    ASSERT_EQ(s.shape(), (Shape{1, 3, 3}));
    for (int i = 0; i < 3; ++i) {
      double z = 0;
      for (int j = 0; j < 3; ++j) z += std::exp(double((i + 1) * (j + 1)));
      for (int j = 0; j < 3; ++j) EXPECT_NEAR(s[i * 3 + j], std::exp(double((i + 1) * (j + 1))) / z, 1e-6);
    }
  }
  for (const float dropout : {0.f, 0.3f}) {
    for (const bool with_output : {true, false}) {
      SCOPED_TRACE(std::string("dropout ") + std::to_string(dropout) + (with_output ? ", output and weights" : ", weights only"));
      layers::Attention att({.dropout = dropout, .return_attention_scores = true});
      att.build_inputs({{4, 3}, {5, 2}, {5, 3}}, rng);
      Tensor q = random_tensor({2, 4, 3}, rng, -1.5f, 1.5f), v = random_tensor({2, 5, 2}, rng, -1.5f, 1.5f),
             k = random_tensor({2, 5, 3}, rng, -1.5f, 1.5f);
      const Tensor wy = random_tensor(att.forward_inputs({&q, &v, &k}, true).shape(), rng, -1, 1);
      const Tensor ws = random_tensor(att.extra_output(1).shape(), rng, -1, 1);
      auto loss = [&] {
        Rng r(99);
        att.reseed(r);
        const double a = weighted_sum(att.forward_inputs({&q, &v, &k}, true), wy);
        return (with_output ? a : 0.0) + weighted_sum(att.extra_output(1), ws);
      };
      loss();
      if (dropout > 0) {  // while training the weights returned are the dropped ones: some are 0
        int zeros = 0;
        for (int64_t i = 0; i < att.extra_output(1).size(); ++i) zeros += att.extra_output(1)[i] == 0.f;
        EXPECT_GT(zeros, 0);
      }
      std::vector<const Tensor*> grads(3);
      att.backward_outputs({with_output ? &wy : nullptr, &ws}, grads);
      ASSERT_TRUE(grads[0] && grads[1] && grads[2]);
      const Tensor dq = grads[0]->clone(), dv = grads[1]->clone(), dk = grads[2]->clone();
      EXPECT_TRUE(gradients_close(dq, numerical_gradient(loss, q, 1e-2), 2e-3, 1e-2)) << "query";
      EXPECT_TRUE(gradients_close(dv, numerical_gradient(loss, v, 1e-2), 2e-3, 1e-2)) << "value";
      EXPECT_TRUE(gradients_close(dk, numerical_gradient(loss, k, 1e-2), 2e-3, 1e-2)) << "key";
    }
  }
  layers::Attention plain;
  EXPECT_FALSE(plain.get_config().contains("return_attention_scores"));
  layers::Attention with({.return_attention_scores = true});
  EXPECT_EQ(layers::from_config("Attention", with.get_config())->num_outputs(), 2);
}

// A key padding mask from Embedding(mask_zero) feeding MultiHeadAttention(return_attention_scores):
// in a model, a query step that holds data gives padded keys probability exactly 0, and a padded
// query step (nothing allowed, as Keras's _compute_attention_mask) gets a uniform row. At the layer,
// the gradient of output and scores together against central finite differences: the uniform rows
// are constants of the scores, so their part of the scores' gradient must reach nothing.
TEST(MultiHeadAttentionScores, KeyPaddingMaskFromEmbeddingMaskZero) {
  // Three sequences of 5 ids, 0 the padding: full, trailing padding, padding inside and at both ends.
  const Tensor ids({3, 5}, {3, 1, 4, 1, 5, 2, 6, 5, 0, 0, 0, 3, 0, 5, 0});
  {
    set_random_seed(8);
    auto in = layers::Input({5});
    auto x = layers::Embedding(7, 4, {.mask_zero = true})(in);
    auto outs = layers::MultiHeadAttention(2, 3, {.return_attention_scores = true}).call_outputs({x, x});
    ASSERT_EQ(outs.size(), 2u);
    Model model({in}, {outs[0], outs[1]});
    const auto y = model.predict(std::vector<Tensor>{ids});
    ASSERT_EQ(y.size(), 2u);
    const Tensor& s = y[1];
    ASSERT_EQ(s.shape(), (Shape{3, 2, 5, 5}));
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t i = 0; i < 5; ++i) {
          double sum = 0;
          for (int64_t j = 0; j < 5; ++j) {
            const float p = s[((b * 2 + h) * 5 + i) * 5 + j];
            sum += p;
            if (ids[b * 5 + i] == 0.f)
              EXPECT_NEAR(p, 0.2f, 1e-6) << "padded query step " << b << "," << i;
            else if (ids[b * 5 + j] == 0.f)
              EXPECT_EQ(p, 0.f) << "padded key " << b << "," << i << "," << j;
          }
          EXPECT_NEAR(sum, 1.0, 1e-5);
        }
  }
  Rng rng(9);
  layers::Embedding embedding(7, 4, {.mask_zero = true});
  embedding.build({5}, rng);
  embedding.forward(ids, false);
  const Tensor mask = embedding.output_mask()->clone();
  for (const bool with_output : {true, false}) {
    SCOPED_TRACE(with_output ? "output and scores" : "scores only");
    MultiHeadAttention mha(2, 3, {.return_attention_scores = true});
    mha.build_inputs({{5, 4}, {5, 4}}, rng);
    for (auto& p : mha.params())
      for (int64_t i = 0; i < p.value->size(); ++i) (*p.value)[i] = rng.uniform(-0.7f, 0.7f);
    Tensor q = random_tensor({3, 5, 4}, rng, -1.5f, 1.5f), v = random_tensor({3, 5, 4}, rng, -1.5f, 1.5f);
    std::vector<const Tensor*> in{&q, &v};
    mha.set_input_masks({&mask, &mask});  // query and value (and so key) masked as the embedding's
    const Tensor wy = random_tensor(mha.forward_inputs(in, true).shape(), rng, -1, 1);
    const Tensor ws = random_tensor(mha.extra_output(1).shape(), rng, -1, 1);
    auto loss = [&] {
      const double a = weighted_sum(mha.forward_inputs(in, true), wy);
      return (with_output ? a : 0.0) + weighted_sum(mha.extra_output(1), ws);
    };
    loss();
    std::vector<const Tensor*> grads(2);
    mha.backward_outputs({with_output ? &wy : nullptr, &ws}, grads);
    ASSERT_TRUE(grads[0] && grads[1]);
    const Tensor dq = grads[0]->clone(), dv = grads[1]->clone();
    auto params = mha.params();
    std::vector<Tensor> dw;
    for (auto& p : params) dw.push_back(p.grad->clone());
    EXPECT_TRUE(gradients_close(dq, numerical_gradient(loss, q, 1e-2), 2e-3, 1e-2)) << "query";
    EXPECT_TRUE(gradients_close(dv, numerical_gradient(loss, v, 1e-2), 2e-3, 1e-2)) << "value";
    for (size_t k = 0; k < params.size(); ++k)
      EXPECT_TRUE(gradients_close(dw[k], numerical_gradient(loss, *params[k].value, 1e-2), 2e-3, 1e-2))
          << params[k].name;
    // A padded query step's scores are constant (uniform): its query vector, which reaches the loss
    // only through them, gets no gradient.
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = 0; t < 5; ++t)
        if (mask[b * 5 + t] == 0.f)
          for (int64_t f = 0; f < 4; ++f) EXPECT_EQ(dq[(b * 5 + t) * 4 + f], 0.f) << b << "," << t;
  }
}
