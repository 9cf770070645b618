// A relu Conv2D fused with the 2x2 max pooling after it (Layer::can_fuse_next): the fused pass gives
// the output and the weight gradients the two layers give apart ('valid' and 'same' padding), the
// graph fuses exactly the pairs whose convolution's output and input gradient nobody else needs,
// and an inference pass through the graph's lent buffers predicts what the training pass computes.
// The model-level comparison with PyTorch is PyTorchConv.SmallCnnPredictLossAndGradients, whose
// first convolution is fused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "graph/graph.hpp"
#include "graph_nodes.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using layers::Conv2D;
using layers::MaxPooling2D;
using myelin::test::input_node;
using myelin::test::node;
using myelin::test::random_tensor;
using myelin::test::relative_difference;

namespace {

Tensor copy_of(const Tensor& t) {
  Tensor c(t.shape());
  c.copy_from(t);
  return c;
}

struct Case {
  std::string what;
  Shape input;  // per sample {H, W, C}
  int64_t filters;
  layers::Size2 kernel;
  bool use_bias;
  int64_t batch;
  std::string padding = "valid";
};

}  // namespace

TEST(ConvPool, FusedPassGivesWhatTheTwoLayersGiveApart) {
  const std::vector<Case> cases = {
      {"the Fashion-MNIST CNN's first layer", {28, 28, 1}, 32, {3, 3}, true, 5},
      {"three channels, filters not a multiple of 16, odd output rows and columns", {11, 10, 3}, 20, {3, 3}, true, 3},
      {"no bias, a 5x2 kernel, 7 filters", {12, 9, 2}, 7, {5, 2}, false, 2},
      {"48 filters (a pair of blocks and one more), one sample", {8, 8, 1}, 48, {3, 3}, true, 1},
      {"'same': the residual CNN's stem", {28, 28, 1}, 32, {3, 3}, false, 2, "same"},
      {"'same' with a 4x3 kernel: more padding after than before", {9, 7, 2}, 20, {4, 3}, true, 3, "same"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Rng rng(7);
    Conv2D conv(c.filters, c.kernel, "relu", {.padding = c.padding, .use_bias = c.use_bias});
    MaxPooling2D pool({2, 2});
    const Shape conv_out = conv.build(c.input, rng);
    const Shape pooled = pool.build(conv_out, rng);
    if (c.use_bias) conv.bias().copy_from(random_tensor(conv.bias().shape(), rng, -0.3f, 0.3f));
    ASSERT_TRUE(conv.can_fuse_next(pool));
    Shape batch_shape{c.batch};
    batch_shape.insert(batch_shape.end(), c.input.begin(), c.input.end());
    const Tensor x = random_tensor(batch_shape, rng, -1.f, 1.f);
    Shape pooled_batch{c.batch};
    pooled_batch.insert(pooled_batch.end(), pooled.begin(), pooled.end());
    const Tensor dy = random_tensor(pooled_batch, rng, -1.f, 1.f);

    // Apart: the convolution with relu, then the pooling; backward through both.
    conv.set_needs_input_grad(false);
    const Tensor y_apart = copy_of(pool.forward(conv.forward(x, true), true));
    conv.backward(pool.backward(dy));
    const Tensor dkernel_apart = copy_of(*conv.params()[0].grad);
    const Tensor dbias_apart = c.use_bias ? copy_of(*conv.params()[1].grad) : Tensor();

    // Fused: the convolution's forward gives the pooled output, its backward takes dy.
    conv.set_fuses_next(true);
    pool.set_takes_fused_input(true);
    const Tensor& pooled_y = pool.forward(conv.forward(x, true), true);
    EXPECT_EQ(pooled_y.shape(), y_apart.shape());
    EXPECT_LT(relative_difference(pooled_y, y_apart), 1e-6f) << "forward";
    int positive = 0;
    for (int64_t i = 0; i < y_apart.size(); ++i) positive += y_apart[i] > 0.f;
    EXPECT_GT(positive, y_apart.size() / 4) << "the case should exercise winners, not only zeros";
    conv.backward(pool.backward(dy));
    EXPECT_LT(relative_difference(*conv.params()[0].grad, dkernel_apart), 1e-5f) << "kernel gradient";
    if (c.use_bias) {
      EXPECT_LT(relative_difference(*conv.params()[1].grad, dbias_apart), 1e-5f) << "bias gradient";
    }

    // An inference pass keeps no winners and computes the same output.
    conv.set_backward_follows(false);
    EXPECT_LT(relative_difference(conv.forward(x, false), y_apart), 1e-6f) << "inference forward";
    EXPECT_THROW(conv.backward(dy), Error);
  }
}

TEST(ConvPool, OnlyRelu2x2PoolingsOfSmallStride1ConvolutionsFuse) {
  Rng rng(1);
  auto fuses = [&](Conv2D conv, std::shared_ptr<Layer> next, Shape input = {12, 12, 1}) {
    const Shape out = conv.build(input, rng);
    next->build(out, rng);
    return conv.can_fuse_next(*next);
  };
  auto pool = [](layers::Size2 size, std::optional<layers::Size2> strides = std::nullopt, std::string padding = "valid") {
    return std::make_shared<MaxPooling2D>(size, strides, padding);
  };
  EXPECT_TRUE(fuses(Conv2D(8, {3, 3}, "relu"), pool({2, 2})));
  EXPECT_TRUE(fuses(Conv2D(8, {3, 3}, "relu"), pool({2, 2}), {12, 12, 3}));  // 27 weights a filter
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu"), pool({2, 2}), {12, 12, 4}));  // 36: too many
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "tanh"), pool({2, 2})));
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu", {.strides = 2}), pool({2, 2})));
  EXPECT_TRUE(fuses(Conv2D(8, {3, 3}, "relu", {.padding = "same"}), pool({2, 2})));
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu", {.dilation_rate = 2}), pool({2, 2})));
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu"), pool({3, 3})));
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu"), pool({2, 2}, layers::Size2(1, 1))));
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu"), pool({2, 2}, std::nullopt, "same")));
  EXPECT_FALSE(fuses(Conv2D(8, {3, 3}, "relu"), std::make_shared<layers::AveragePooling2D>(layers::Size2(2, 2))));
}

TEST(ConvPool, TheGraphFusesOnlyWhereNothingElseNeedsTheConvolution) {
  // input -> conv -> pool -> flatten -> dense: the first convolution needs no input gradient.
  {
    std::vector<graph::Node> nodes{input_node()};
    nodes.push_back(node(std::make_shared<Conv2D>(16, layers::Size2(3, 3), "relu"), {0}));
    nodes.push_back(node(std::make_shared<MaxPooling2D>(layers::Size2(2, 2)), {1}));
    nodes.push_back(node(std::make_shared<layers::Flatten>(), {2}));
    nodes.push_back(node(std::make_shared<layers::Dense>(3), {3}));
    graph::Graph g(std::move(nodes), {0}, {4});
    Rng rng(3);
    g.build({{10, 10, 1}}, rng, "graph");
    EXPECT_TRUE(g.nodes()[1].fuses_next);
    EXPECT_TRUE(g.nodes()[2].takes_fused_input);
    EXPECT_EQ(g.nodes()[2].output_slot, -1) << "the pooling passes the convolution's output on";

    // The inference pass, through the graph's lent buffers, predicts what the training pass computes.
    const Tensor x = random_tensor({6, 10, 10, 1}, rng, -1.f, 1.f);
    const Tensor trained = copy_of(g.forward({&x}, /*training=*/true));
    EXPECT_LT(relative_difference(g.forward({&x}, /*training=*/false), trained), 1e-6f);

    // An explanation's plan needs every input gradient: nothing fuses until the training plan is back.
    g.plan_backward(/*to_inputs=*/true);
    EXPECT_FALSE(g.nodes()[1].fuses_next);
    EXPECT_FALSE(g.nodes()[2].takes_fused_input);
    EXPECT_LT(relative_difference(g.forward({&x}, /*training=*/true), trained), 1e-6f) << "the layers apart";
    g.plan_backward();
    EXPECT_TRUE(g.nodes()[1].fuses_next);
  }
  // A trainable layer below the convolution: it must compute its input gradient, so it does not fuse.
  {
    std::vector<graph::Node> nodes{input_node()};
    nodes.push_back(node(std::make_shared<Conv2D>(1, layers::Size2(1, 1)), {0}));
    nodes.push_back(node(std::make_shared<Conv2D>(16, layers::Size2(3, 3), "relu"), {1}));
    nodes.push_back(node(std::make_shared<MaxPooling2D>(layers::Size2(2, 2)), {2}));
    graph::Graph g(std::move(nodes), {0}, {3});
    Rng rng(3);
    g.build({{10, 10, 1}}, rng, "graph");
    EXPECT_FALSE(g.nodes()[2].fuses_next);
  }
  // The convolution's output also read by another layer, or itself a model output: no fusion.
  {
    std::vector<graph::Node> nodes{input_node()};
    nodes.push_back(node(std::make_shared<Conv2D>(16, layers::Size2(3, 3), "relu"), {0}));
    nodes.push_back(node(std::make_shared<MaxPooling2D>(layers::Size2(2, 2)), {1}));
    nodes.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {1}));
    graph::Graph g(std::move(nodes), {0}, {2, 3});
    Rng rng(3);
    g.build({{10, 10, 1}}, rng, "graph");
    EXPECT_FALSE(g.nodes()[1].fuses_next);
  }
  {
    std::vector<graph::Node> nodes{input_node()};
    nodes.push_back(node(std::make_shared<Conv2D>(16, layers::Size2(3, 3), "relu"), {0}));
    nodes.push_back(node(std::make_shared<MaxPooling2D>(layers::Size2(2, 2)), {1}));
    graph::Graph g(std::move(nodes), {0}, {2, 1});
    Rng rng(3);
    g.build({{10, 10, 1}}, rng, "graph");
    EXPECT_FALSE(g.nodes()[1].fuses_next);
  }
}
