// A BatchNormalization folded into the convolution before it in inference passes
// (Layer::can_fold_next): the convolution scales its filters and bias by the normalisation's
// moving statistics, gamma and beta, and applies its relu. Folded passes give what the layers give
// apart within float32 rounding, the graph folds exactly the pairs whose convolution output nobody
// else reads and only in passes no backward follows, and a change to any weight or statistic after
// a pass reaches the next one. An Add after such a pair, whose other input is ready before the
// convolution runs, is folded too (Layer::can_fold_add): the convolution adds that input and the
// Add's relu; so is a max pooling after the pair's relu (Layer::can_fold_pool).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "gradient_check.hpp"
#include "graph/graph.hpp"
#include "graph_nodes.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using layers::Activation;
using layers::BatchNormalization;
using layers::Conv2D;
using myelin::test::input_node;
using myelin::test::node;
using myelin::test::random_tensor;
using myelin::test::relative_difference;

namespace {

// Gives a normalisation statistics and an affine part far from the identity, so that a pass that
// left any of them out would differ by far more than rounding.
void randomise(BatchNormalization& bn, Rng& rng) {
  const Shape s = bn.gamma().shape();
  bn.gamma().copy_from(random_tensor(s, rng, 0.5f, 2.f));
  bn.beta().copy_from(random_tensor(s, rng, -0.5f, 0.5f));
  bn.moving_mean().copy_from(random_tensor(s, rng, -0.5f, 0.5f));
  bn.moving_variance().copy_from(random_tensor(s, rng, 0.2f, 3.f));
}

// input -> conv (bias) -> bn -> relu -> conv (no bias) -> bn -> add(relu 3) -> relu -> global pooling,
// and a second head reading the first convolution's output directly: that one must not fold.
struct Network {
  std::shared_ptr<Conv2D> conv1, conv2;
  std::shared_ptr<BatchNormalization> bn1, bn2;
  graph::Graph g;

  static std::vector<graph::Node> nodes(Network& n, bool second_head) {
    n.conv1 = std::make_shared<Conv2D>(8, layers::Size2(3, 3), "linear", layers::Conv2DOptions{.padding = "same"});
    n.conv2 = std::make_shared<Conv2D>(8, layers::Size2(3, 3), "linear",
                                       layers::Conv2DOptions{.padding = "same", .use_bias = false});
    n.bn1 = std::make_shared<BatchNormalization>();
    n.bn2 = std::make_shared<BatchNormalization>();
    std::vector<graph::Node> v{input_node()};
    v.push_back(node(n.conv1, {0}));                                              // 1
    v.push_back(node(n.bn1, {1}));                                                // 2
    v.push_back(node(std::make_shared<Activation>("relu"), {2}));                 // 3
    v.push_back(node(n.conv2, {3}));                                              // 4
    v.push_back(node(n.bn2, {4}));                                                // 5
    v.push_back(node(std::make_shared<layers::Add>(), {5, 3}));                   // 6
    v.push_back(node(std::make_shared<Activation>("relu"), {6}));                 // 7
    v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {7}));   // 8
    if (second_head) v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {1}));  // 9
    return v;
  }
  explicit Network(bool second_head)
      : g(nodes(*this, second_head), {0}, second_head ? std::vector<int>{8, 9} : std::vector<int>{8}) {
    Rng rng(5);
    g.build({{7, 6, 3}}, rng, "graph");
    randomise(*bn1, rng);
    randomise(*bn2, rng);
    conv1->bias().copy_from(random_tensor(conv1->bias().shape(), rng, -0.3f, 0.3f));
  }
};

}  // namespace

TEST(BatchNormFolding, OnlyALinearConvolutionBeforeABatchNormalizationFolds) {
  Rng rng(2);
  BatchNormalization bn;
  bn.build({6, 6, 4}, rng);
  auto folds = [&](Conv2D conv, const Layer& next) {
    conv.build({6, 6, 2}, rng);
    return conv.can_fold_next(next);
  };
  EXPECT_TRUE(folds(Conv2D(4, {3, 3}, "linear"), bn));
  EXPECT_TRUE(folds(Conv2D(4, {3, 3}, "linear", {.strides = 2, .padding = "same", .use_bias = false}), bn));
  EXPECT_FALSE(folds(Conv2D(4, {3, 3}, "relu"), bn)) << "the normalisation reads the relu's output";
  EXPECT_FALSE(folds(Conv2D(4, {3, 3}, "tanh"), bn));
  EXPECT_FALSE(folds(Conv2D(4, {3, 3}, "linear"), Activation("relu")));
  EXPECT_FALSE(bn.can_fold_next(Activation("relu"))) << "nothing else folds";
  EXPECT_FALSE(layers::Dense(4).can_fold_next(bn));
}

TEST(BatchNormFolding, TheGraphFoldsOnlyWhereNothingElseReadsTheConvolution) {
  Network n(/*second_head=*/true);
  const auto& nodes = n.g.nodes();
  EXPECT_FALSE(nodes[1].folds_next) << "the second head reads the first convolution's output";
  EXPECT_FALSE(nodes[2].folded_in);
  EXPECT_TRUE(nodes[4].folds_next);
  EXPECT_TRUE(nodes[5].folded_in);
  EXPECT_EQ(nodes[5].output_slot, -1) << "a folded normalisation passes the convolution's output on";
  // The relu fusions stay: the second normalisation is read by the Add, the first applies its relu.
  EXPECT_TRUE(nodes[2].fuses_next);
  // The Add reads the second pair and the first relu, ready before the second convolution runs.
  EXPECT_TRUE(nodes[6].folded_in);
  EXPECT_EQ(nodes[6].passes_on, 0);
  EXPECT_EQ(nodes[6].output_slot, -1);
  EXPECT_EQ(nodes[4].folded_addend, 3);
  EXPECT_TRUE(nodes[4].folded_add_relu) << "the relu after the Add";
  EXPECT_EQ(nodes[1].folded_addend, -1);

  Network single(/*second_head=*/false);
  EXPECT_TRUE(single.g.nodes()[1].folds_next);
  EXPECT_TRUE(single.g.nodes()[2].folded_in);
}

TEST(BatchNormFolding, InferencePassesFoldAndGiveWhatTheLayersGiveApart) {
  Network n(/*second_head=*/false);
  Rng rng(7);
  const Tensor x = random_tensor({5, 7, 6, 3}, rng, -1.f, 1.f);
  auto& g = n.g;
  // A pass that a backward may follow runs the layers apart: each normalisation writes its own output.
  const Tensor apart = g.forward({&x}, /*training=*/false, /*for_backward=*/true).clone();
  EXPECT_NE(g.nodes()[2].out, g.nodes()[1].out);
  EXPECT_NE(g.nodes()[5].out, g.nodes()[4].out);
  // Some of the first relu's inputs are negative, or its folding would go untested (read here: an
  // inference pass lends its buffers to later layers).
  int64_t zeros = 0;
  const Tensor& relu1 = *g.nodes()[3].out;
  for (int64_t i = 0; i < relu1.size(); ++i) zeros += relu1[i] == 0.f;
  EXPECT_GT(zeros, relu1.size() / 10);
  EXPECT_LT(zeros, relu1.size() * 9 / 10);
  const Tensor folded = g.forward({&x}, /*training=*/false).clone();
  EXPECT_EQ(g.nodes()[2].out, g.nodes()[1].out) << "the folded normalisation passes its input on";
  EXPECT_EQ(g.nodes()[5].out, g.nodes()[4].out);
  EXPECT_EQ(g.nodes()[6].out, g.nodes()[4].out) << "the folded Add passes the convolution's output on";
  EXPECT_EQ(g.nodes()[7].out, g.nodes()[4].out);
  EXPECT_LT(relative_difference(folded, apart), 2e-6f);

  // Every input of the fold changed after a folded pass reaches the next one.
  auto change_and_compare = [&](const char* what, auto change) {
    SCOPED_TRACE(what);
    change();
    const Tensor expected = g.forward({&x}, false, true).clone();
    const Tensor got = g.forward({&x}, false).clone();
    EXPECT_GT(relative_difference(got, folded), 1e-3f) << "the change made no difference: the test proves nothing";
    EXPECT_LT(relative_difference(got, expected), 2e-6f);
  };
  change_and_compare("kernel", [&] { n.conv2->kernel()[3] += 0.5f; });
  change_and_compare("bias", [&] { n.conv1->bias()[1] += 0.5f; });
  change_and_compare("gamma", [&] { n.bn1->gamma()[2] *= 1.5f; });
  change_and_compare("beta", [&] { n.bn2->beta()[0] += 0.5f; });
  change_and_compare("moving mean", [&] { n.bn2->moving_mean()[4] -= 0.5f; });
  change_and_compare("moving variance", [&] { n.bn1->moving_variance()[5] *= 0.25f; });

  // A training pass runs them apart, and its backward follows.
  g.forward({&x}, /*training=*/true);
  EXPECT_NE(g.nodes()[2].out, g.nodes()[1].out);
}

// A downsampling block's Add reads two folded pairs: the later convolution adds the earlier pair's
// output. An Add whose other input comes after the convolution is not folded.
TEST(BatchNormFolding, TheLaterOfTwoPairsFoldsTheAddAndAnAddendNotYetMadeFoldsNothing) {
  auto conv = [] {
    return std::make_shared<Conv2D>(6, layers::Size2(3, 3), "linear", layers::Conv2DOptions{.padding = "same"});
  };
  auto bn = [] { return std::make_shared<BatchNormalization>(); };
  std::vector<std::shared_ptr<BatchNormalization>> bns{bn(), bn(), bn()};
  std::vector<graph::Node> v{input_node()};
  v.push_back(node(conv(), {0}));                                              // 1
  v.push_back(node(bns[0], {1}));                                              // 2
  v.push_back(node(conv(), {0}));                                              // 3
  v.push_back(node(bns[1], {3}));                                              // 4
  v.push_back(node(std::make_shared<layers::Add>(), {2, 4}));                  // 5: folded into 3
  v.push_back(node(std::make_shared<Activation>("relu"), {5}));                // 6
  v.push_back(node(conv(), {6}));                                              // 7
  v.push_back(node(bns[2], {7}));                                              // 8
  v.push_back(node(std::make_shared<Conv2D>(6, layers::Size2(1, 1), "tanh"), {6}));  // 9
  v.push_back(node(std::make_shared<layers::Add>(), {8, 9}));                  // 10: 9 comes after 7
  v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {10}));  // 11
  graph::Graph g(std::move(v), {0}, {11});
  Rng rng(13);
  g.build({{6, 5, 2}}, rng, "graph");
  for (auto& b : bns) randomise(*b, rng);
  const auto& nodes = g.nodes();
  EXPECT_TRUE(nodes[5].folded_in);
  EXPECT_EQ(nodes[5].passes_on, 1);
  EXPECT_EQ(nodes[3].folded_addend, 2);
  EXPECT_TRUE(nodes[3].folded_add_relu);
  EXPECT_EQ(nodes[1].folded_addend, -1);
  EXPECT_FALSE(nodes[10].folded_in);
  EXPECT_EQ(nodes[7].folded_addend, -1);

  const Tensor x = random_tensor({4, 6, 5, 2}, rng, -1.f, 1.f);
  const Tensor apart = g.forward({&x}, /*training=*/false, /*for_backward=*/true).clone();
  const Tensor folded = g.forward({&x}, /*training=*/false).clone();
  EXPECT_EQ(g.nodes()[5].out, g.nodes()[3].out);
  EXPECT_NE(g.nodes()[10].out, g.nodes()[7].out);
  EXPECT_GT(relative_difference(folded, Tensor::full(folded.shape(), 0.f)), 1e-2f);
  EXPECT_LT(relative_difference(folded, apart), 2e-6f);
}

// A stem, convolution ('same', no bias), normalisation, relu and 2x2 max pooling: inference passes
// run it as one pass (Layer::can_fold_pool), unless something else reads the relu.
TEST(BatchNormFolding, AStemFoldsItsPoolingAfterTheRelu) {
  for (const bool relu_read_twice : {false, true}) {
    SCOPED_TRACE(relu_read_twice ? "the relu read by a second head" : "the stem alone");
    auto bn = std::make_shared<BatchNormalization>();
    std::vector<graph::Node> v{input_node()};
    v.push_back(node(std::make_shared<Conv2D>(20, layers::Size2(3, 3), "linear",
                                              layers::Conv2DOptions{.padding = "same", .use_bias = false}),
                     {0}));                                                                    // 1
    v.push_back(node(bn, {1}));                                                                // 2
    v.push_back(node(std::make_shared<Activation>("relu"), {2}));                              // 3
    v.push_back(node(std::make_shared<layers::MaxPooling2D>(layers::Size2(2, 2)), {3}));       // 4
    v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {4}));               // 5
    if (relu_read_twice) v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {3}));  // 6
    graph::Graph g(std::move(v), {0}, relu_read_twice ? std::vector<int>{5, 6} : std::vector<int>{5});
    Rng rng(17);
    g.build({{10, 9, 1}}, rng, "graph");
    randomise(*bn, rng);
    EXPECT_TRUE(g.nodes()[1].folds_next);
    EXPECT_EQ(g.nodes()[1].folded_pool, relu_read_twice ? -1 : 4);
    EXPECT_EQ(g.nodes()[4].folded_in, !relu_read_twice);

    const Tensor x = random_tensor({3, 10, 9, 1}, rng, -1.f, 1.f);
    const Tensor apart = g.forward({&x}, /*training=*/false, /*for_backward=*/true).clone();
    const Tensor pooled_apart = g.nodes()[4].out->clone();
    const Tensor second_apart = relu_read_twice ? g.output(1).clone() : Tensor();
    const Tensor folded = g.forward({&x}, /*training=*/false).clone();
    if (relu_read_twice) {
      EXPECT_LT(relative_difference(g.output(1), second_apart), 2e-6f);
    } else {
      EXPECT_EQ(g.nodes()[4].out, g.nodes()[1].out) << "the folded pooling passes the convolution's output on";
      EXPECT_EQ(g.nodes()[1].out->shape(), (Shape{3, 5, 4, 20}));
    }
    EXPECT_LT(relative_difference(folded, apart), 2e-6f);
    int64_t zeros = 0;
    for (int64_t i = 0; i < pooled_apart.size(); ++i) zeros += pooled_apart[i] == 0.f;
    EXPECT_GT(zeros, 0) << "some windows wholly negative: the relu must matter";
    EXPECT_LT(zeros, pooled_apart.size() / 2);
  }
}

TEST(BatchNormFolding, AResidualModelPredictsWhatItsLayersGiveApartAfterTraining) {
  // Training moves the moving statistics and the weights; predict then folds them all.
  auto conv_bn = [](const SymbolicTensor& x, int64_t filters, int64_t stride) {
    auto y = Conv2D(filters, {3, 3}, "linear", {.strides = stride, .padding = "same", .use_bias = false})(x);
    return BatchNormalization()(y);
  };
  auto in = layers::Input({8, 8, 1});
  auto x = layers::MaxPooling2D({2, 2})(Activation("relu")(conv_bn(in, 4, 1)));
  auto y = conv_bn(Activation("relu")(conv_bn(x, 4, 1)), 4, 1);
  x = Activation("relu")(layers::Add()({y, x}));
  Model model(in, layers::Dense(3, "softmax")(layers::GlobalAveragePooling2D()(x)));
  model.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy");
  Rng rng(9);
  const Tensor xs = random_tensor({48, 8, 8, 1}, rng, -1.f, 1.f);
  Tensor ys(Shape{48, 1});
  for (int i = 0; i < 48; ++i) ys[i] = float(i % 3);
  model.fit(xs, ys, {.epochs = 2, .batch_size = 16, .verbose = 0, .seed = 1});
  const Tensor folded = model.predict(xs, 16).clone();
  // The same network with a linear Activation between each convolution and its normalisation,
  // which folds nothing, holding the same weights.
  auto conv_apart = [](const SymbolicTensor& x, int64_t filters, int64_t stride) {
    auto y = Conv2D(filters, {3, 3}, "linear", {.strides = stride, .padding = "same", .use_bias = false})(x);
    return BatchNormalization()(Activation("linear")(y));
  };
  auto in2 = layers::Input({8, 8, 1});
  auto x2 = layers::MaxPooling2D({2, 2})(Activation("relu")(conv_apart(in2, 4, 1)));
  auto y2 = conv_apart(Activation("relu")(conv_apart(x2, 4, 1)), 4, 1);
  x2 = Activation("relu")(layers::Add()({y2, x2}));
  Model apart(in2, layers::Dense(3, "softmax")(layers::GlobalAveragePooling2D()(x2)));
  apart.build();
  apart.set_weights(model.get_weights());
  EXPECT_LT(relative_difference(folded, apart.predict(xs, 16)), 2e-6f);
}
