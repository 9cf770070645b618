// A relu Activation applied by the layer before it (Layer::can_fuse_next): a BatchNormalization or an
// Add of equal shapes writes max(y, 0) itself and masks the gradient in its own backward pass. The
// fused layers give bit for bit what the two layers give apart, the graph fuses exactly the pairs
// whose first output nobody else reads, and a residual network trains to the same weights as the
// same network with the relus kept apart.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "graph/graph.hpp"
#include "graph_nodes.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using layers::Activation;
using layers::BatchNormalization;
using myelin::test::input_node;
using myelin::test::node;
using myelin::test::random_tensor;
using myelin::test::relative_difference;

namespace {

// Bit-for-bit equality, naming the first differing element.
::testing::AssertionResult same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << "shapes differ";
  for (int64_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i])) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

// About half of the values below 0 after normalisation, none at 0 exactly.
int64_t count_positive(const Tensor& t) {
  int64_t n = 0;
  for (int64_t i = 0; i < t.size(); ++i) n += t[i] > 0.f;
  return n;
}

}  // namespace

TEST(ReluFusion, BatchNormalizationAppliesTheReluItself) {
  for (const bool trainable : {true, false}) {  // batch statistics, then a frozen layer's fixed ones
    SCOPED_TRACE(trainable ? "batch statistics" : "frozen: moving statistics");
    Rng rng(11);
    BatchNormalization bn;
    Activation relu("relu");
    const Shape shape = bn.build({5, 4, 6}, rng);
    relu.build(shape, rng);
    bn.gamma().copy_from(random_tensor(bn.gamma().shape(), rng, 0.5f, 1.5f));
    bn.beta().copy_from(random_tensor(bn.beta().shape(), rng, -0.3f, 0.3f));
    bn.moving_mean().copy_from(random_tensor(bn.moving_mean().shape(), rng, -0.2f, 0.2f));
    bn.set_trainable(trainable);
    ASSERT_TRUE(bn.can_fuse_next(relu));
    const Tensor x = random_tensor({3, 5, 4, 6}, rng, -1.f, 1.f);
    const Tensor dy = random_tensor({3, 5, 4, 6}, rng, -1.f, 1.f);

    // Inference first, before training passes move the moving statistics.
    const Tensor y_inference_apart = relu.forward(bn.forward(x, false), false).clone();
    bn.set_fuses_next(true);
    relu.set_takes_fused_input(true);
    EXPECT_TRUE(same_values(relu.forward(bn.forward(x, false), false), y_inference_apart)) << "inference";
    bn.set_fuses_next(false);
    relu.set_takes_fused_input(false);

    const Tensor y_apart = relu.forward(bn.forward(x, true), true).clone();
    const Tensor dx_apart = bn.backward(relu.backward(dy)).clone();
    std::vector<Tensor> grads_apart;
    for (auto& p : bn.params())
      if (p.grad) grads_apart.push_back(p.grad->clone());  // gamma and beta, not the moving statistics
    const int64_t positive = count_positive(y_apart);
    EXPECT_GT(positive, y_apart.size() / 4);
    EXPECT_LT(positive, y_apart.size() * 3 / 4);

    bn.set_fuses_next(true);
    relu.set_takes_fused_input(true);
    const Tensor& bn_out = bn.forward(x, true);
    EXPECT_EQ(&relu.forward(bn_out, true), &bn_out) << "the fused relu passes its input on";
    EXPECT_TRUE(same_values(bn_out, y_apart)) << "forward";
    EXPECT_EQ(&relu.backward(dy), &dy) << "and its gradient";
    EXPECT_TRUE(same_values(bn.backward(dy), dx_apart)) << "input gradient";
    if (!trainable) continue;  // a frozen layer lists no gradients
    ASSERT_EQ(grads_apart.size(), 2u);
    EXPECT_TRUE(same_values(*bn.params()[0].grad, grads_apart[0])) << "gamma";
    EXPECT_TRUE(same_values(*bn.params()[1].grad, grads_apart[1])) << "beta";
  }
}

TEST(ReluFusion, AddAppliesTheReluItselfAndGivesBothInputsOneMaskedGradient) {
  Rng rng(5);
  layers::Add add;
  Activation relu("relu");
  const Shape shape = add.build_inputs({{7, 3}, {7, 3}}, rng);
  relu.build(shape, rng);
  ASSERT_TRUE(add.can_fuse_next(relu));
  // 40,000 values a tensor: more than one span of the threaded pass.
  const Tensor a = random_tensor({1905, 7, 3}, rng, -1.f, 1.f), b = random_tensor({1905, 7, 3}, rng, -1.f, 1.f);
  const Tensor dy = random_tensor({1905, 7, 3}, rng, -1.f, 1.f);
  std::vector<const Tensor*> grads(2);

  add.set_needs_input_grad(true);
  const Tensor y_apart = relu.forward(add.forward_inputs({&a, &b}, true), true).clone();
  add.backward_inputs(relu.backward(dy), grads);
  const Tensor da_apart = grads[0]->clone(), db_apart = grads[1]->clone();
  EXPECT_GT(count_positive(y_apart), y_apart.size() / 4);
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_EQ(y_apart[i], std::max(a[i] + b[i], 0.f)) << i;

  add.set_fuses_next(true);
  relu.set_takes_fused_input(true);
  EXPECT_TRUE(same_values(relu.forward(add.forward_inputs({&a, &b}, true), true), y_apart)) << "forward";
  add.backward_inputs(relu.backward(dy), grads);
  EXPECT_EQ(grads[0], grads[1]) << "one gradient for both inputs";
  EXPECT_TRUE(same_values(*grads[0], da_apart));
  EXPECT_TRUE(same_values(*grads[1], db_apart));
  add.set_needs_input_grad(false);
  add.backward_inputs(dy, grads);
  EXPECT_EQ(grads[0], nullptr);
  EXPECT_EQ(grads[1], nullptr);
}

// Three inputs take the Add's general pass and the relu after it (merge_forward's last loop).
TEST(ReluFusion, AddOfThreeInputsAppliesTheReluItself) {
  Rng rng(6);
  layers::Add add;
  Activation relu("relu");
  relu.build(add.build_inputs({{5}, {5}, {5}}, rng), rng);
  ASSERT_TRUE(add.can_fuse_next(relu));
  const Tensor a = random_tensor({9, 5}, rng, -1.f, 1.f), b = random_tensor({9, 5}, rng, -1.f, 1.f),
               c = random_tensor({9, 5}, rng, -1.f, 1.f), dy = random_tensor({9, 5}, rng, -1.f, 1.f);
  std::vector<const Tensor*> grads(3);
  add.set_needs_input_grad(true);
  const Tensor y_apart = relu.forward(add.forward_inputs({&a, &b, &c}, true), true).clone();
  add.backward_inputs(relu.backward(dy), grads);
  const Tensor d_apart = grads[2]->clone();
  EXPECT_GT(count_positive(y_apart), y_apart.size() / 4);
  EXPECT_LT(count_positive(y_apart), y_apart.size());

  add.set_fuses_next(true);
  relu.set_takes_fused_input(true);
  EXPECT_TRUE(same_values(relu.forward(add.forward_inputs({&a, &b, &c}, true), true), y_apart)) << "forward";
  add.backward_inputs(relu.backward(dy), grads);
  for (const Tensor* g : grads) EXPECT_TRUE(same_values(*g, d_apart));
}

TEST(ReluFusion, OnlyAReluAfterABatchNormalizationOrAnAddOfEqualShapesFuses) {
  Rng rng(2);
  BatchNormalization bn;
  bn.build({4, 4, 3}, rng);
  EXPECT_FALSE(bn.can_fuse_next(Activation("tanh")));
  EXPECT_FALSE(bn.can_fuse_next(Activation("linear")));
  EXPECT_FALSE(bn.can_fuse_next(layers::Dense(3, "relu")));
  layers::Add broadcast;
  broadcast.build_inputs({{4, 3}, {1, 3}}, rng);
  EXPECT_FALSE(broadcast.can_fuse_next(Activation("relu"))) << "a broadcast Add";
  layers::Multiply multiply;
  multiply.build_inputs({{4, 3}, {4, 3}}, rng);
  EXPECT_FALSE(multiply.can_fuse_next(Activation("relu")));
}

TEST(ReluFusion, TheGraphFusesOnlyWhereNothingElseReadsTheOutput) {
  // input -> conv -> bn -> relu -> conv -> bn -> add(relu 3) -> relu -> global pooling, and a second
  // head reading the second batch normalisation's output directly: that one must not fuse.
  std::vector<graph::Node> nodes{input_node()};
  nodes.push_back(node(std::make_shared<layers::Conv2D>(4, layers::Size2(3, 3), "linear",
                                                        layers::Conv2DOptions{.padding = "same"}), {0}));  // 1
  nodes.push_back(node(std::make_shared<BatchNormalization>(), {1}));                                      // 2
  nodes.push_back(node(std::make_shared<Activation>("relu"), {2}));                                       // 3
  nodes.push_back(node(std::make_shared<layers::Conv2D>(4, layers::Size2(3, 3), "linear",
                                                        layers::Conv2DOptions{.padding = "same"}), {3}));  // 4
  nodes.push_back(node(std::make_shared<BatchNormalization>(), {4}));                                      // 5
  nodes.push_back(node(std::make_shared<layers::Add>(), {5, 3}));                                         // 6
  nodes.push_back(node(std::make_shared<Activation>("relu"), {6}));                                       // 7
  nodes.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {7}));                         // 8
  nodes.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {5}));                         // 9
  graph::Graph g(std::move(nodes), {0}, {8, 9});
  Rng rng(3);
  g.build({{6, 6, 2}}, rng, "graph");
  EXPECT_TRUE(g.nodes()[2].fuses_next);
  EXPECT_TRUE(g.nodes()[3].takes_fused_input);
  EXPECT_EQ(g.nodes()[3].output_slot, -1) << "the fused relu passes the normalisation's output on";
  EXPECT_FALSE(g.nodes()[5].fuses_next) << "its output is also read by the second head";
  EXPECT_TRUE(g.nodes()[6].fuses_next);
  EXPECT_TRUE(g.nodes()[7].takes_fused_input);
  // The input gradients the fused layers give are needed (the first convolution is trainable): an
  // explanation's plan keeps the fusions.
  g.plan_backward(/*to_inputs=*/true);
  EXPECT_TRUE(g.nodes()[2].fuses_next);
  EXPECT_TRUE(g.nodes()[6].fuses_next);
}

namespace {

// A small residual network in the shape of bench/users_models.hpp's, with its relus either plain
// (fusable) or each behind a linear Activation, which fuses with nothing.
Model residual(bool relus_apart) {
  auto relu = [&](const SymbolicTensor& x) {
    return Activation("relu")(relus_apart ? Activation("linear")(x) : x);
  };
  auto conv_bn = [](const SymbolicTensor& x, int64_t filters, int64_t stride) {
    auto y = layers::Conv2D(filters, {3, 3}, "linear", {.strides = stride, .padding = "same", .use_bias = false})(x);
    return BatchNormalization()(y);
  };
  auto in = layers::Input({8, 8, 1});
  auto x = layers::MaxPooling2D({2, 2})(relu(conv_bn(in, 4, 1)));
  auto y = conv_bn(relu(conv_bn(x, 4, 1)), 4, 1);
  x = relu(layers::Add()({y, x}));
  auto z = conv_bn(relu(conv_bn(x, 6, 2)), 6, 1);
  x = relu(layers::Add()({z, conv_bn(x, 6, 2)}));
  return Model(in, layers::Dense(3, "softmax")(layers::GlobalAveragePooling2D()(x)));
}

}  // namespace

TEST(ReluFusion, AResidualNetworkTrainsToTheWeightsOfItsRelusApart) {
  Model fused = residual(false), apart = residual(true);
  fused.build();
  apart.build();
  apart.set_weights(fused.get_weights());
  Rng rng(9);
  const Tensor x = random_tensor({48, 8, 8, 1}, rng, -1.f, 1.f);
  Tensor y(Shape{48, 1});
  for (int i = 0; i < 48; ++i) y[i] = float(i % 3);
  fused.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy");
  apart.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy");
  const auto hf = fused.fit(x, y, {.epochs = 3, .batch_size = 16, .verbose = 0, .seed = 1});
  const auto ha = apart.fit(x, y, {.epochs = 3, .batch_size = 16, .verbose = 0, .seed = 1});
  EXPECT_EQ(hf.history.at("loss"), ha.history.at("loss"));
  const auto wf = fused.get_weights(), wa = apart.get_weights();
  ASSERT_EQ(wf.size(), wa.size());
  for (size_t i = 0; i < wf.size(); ++i) EXPECT_TRUE(same_values(wf[i], wa[i])) << "weight " << i;
  // Inference folds more where the relus are plain (the sums and the stem's pooling into the
  // convolutions, bench/README.md "The residual CNN's inference"), whose kernels sum in another
  // order: the same predictions within float32 rounding.
  EXPECT_LT(relative_difference(fused.predict(x, 16), apart.predict(x, 16)), 2e-6f);
}
