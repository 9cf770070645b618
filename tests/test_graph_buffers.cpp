// The graph's lent buffers (Layer::lend_buffers): which nodes share a slot, that a view (Flatten,
// Reshape) keeps the value it views alive, that an inference pass with shared slots computes what
// a training pass with the layers' own buffers computes, and that a layer outliving its graph gets
// its own buffers back. Gradients through shared slots are checked against finite differences by
// test_functional's graphs.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include "gradient_check.hpp"
#include "graph/graph.hpp"
#include "graph_nodes.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::input_node;
using myelin::test::node;
using myelin::test::random_tensor;

namespace {

// A chain of `depth` Dense layers on 6 features.
graph::Graph dense_chain(int depth) {
  std::vector<graph::Node> nodes{input_node()};
  for (int k = 0; k < depth; ++k) nodes.push_back(node(std::make_shared<layers::Dense>(8, "tanh"), {k}));
  return graph::Graph(std::move(nodes), {0}, {depth});
}

float max_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  float d = 0.f;
  for (int64_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

}  // namespace

TEST(GraphBuffers, AChainUsesTwoSlotsEachWayWhateverItsDepth) {
  for (int depth : {4, 12}) {
    graph::Graph g = dense_chain(depth);
    Rng rng(1);
    g.build({{6}}, rng, "chain");
    std::set<int> outputs, grads;
    for (int i = 1; i <= depth; ++i) {
      const auto& n = g.nodes()[size_t(i)];
      outputs.insert(n.output_slot);
      if (i > 1) {
        EXPECT_NE(n.output_slot, g.nodes()[size_t(i - 1)].output_slot) << "node " << i << " overwrites its input";
        EXPECT_GE(n.input_grad_slot, 0) << "node " << i;
        grads.insert(n.input_grad_slot);
      }
    }
    EXPECT_EQ(outputs.size(), 2u) << "depth " << depth;
    EXPECT_EQ(grads.size(), 2u) << "depth " << depth;
    // The first layer reads the data, which needs no gradient.
    EXPECT_EQ(g.nodes()[1].input_grad_slot, -1);
  }
}

TEST(GraphBuffers, AViewKeepsTheValueItViewsAlive) {
  // a's output is viewed by Reshape and Flatten and read by b: b must not write into a's slot.
  // Backward, b's input gradient is viewed by Flatten and Reshape and read by a.
  std::vector<graph::Node> nodes{input_node()};
  auto p = std::make_shared<layers::Dense>(6, "tanh");
  nodes.push_back(node(p, {0}));                                                 // 1
  nodes.push_back(node(std::make_shared<layers::Dense>(12, "tanh"), {1}));       // 2: a
  nodes.push_back(node(std::make_shared<layers::Reshape>(Shape{3, 4}), {2}));    // 3
  nodes.push_back(node(std::make_shared<layers::Flatten>(), {3}));               // 4
  nodes.push_back(node(std::make_shared<layers::Dense>(20, "tanh"), {4}));       // 5: b
  nodes.push_back(node(std::make_shared<layers::Dense>(4, "linear"), {5}));      // 6
  graph::Graph g(std::move(nodes), {0}, {6});
  Rng rng(2);
  g.build({{6}}, rng, "views");
  const auto& n = g.nodes();
  EXPECT_EQ(n[3].output_slot, -1);  // views write nothing
  EXPECT_EQ(n[4].output_slot, -1);
  EXPECT_NE(n[5].output_slot, n[2].output_slot);
  EXPECT_NE(n[6].output_slot, n[5].output_slot);
  EXPECT_GE(n[5].input_grad_slot, 0);
  EXPECT_GE(n[2].input_grad_slot, 0);
  EXPECT_NE(n[2].input_grad_slot, n[5].input_grad_slot);

  Tensor x = random_tensor({5, 6}, rng, -1.f, 1.f);
  const Tensor training = g.forward({&x}, true).clone();  // the layers' own buffers
  const Tensor& inference = g.forward({&x}, false);
  EXPECT_EQ(max_difference(training, inference), 0.f);

  // The first layer's kernel gradient, through both views, against central differences.
  Tensor w = random_tensor({5, 4}, rng, -1.f, 1.f);
  Tensor& kernel = *p->params()[0].value;
  auto loss = [&] { return myelin::test::weighted_sum(g.forward({&x}, true), w); };
  const Tensor numeric = myelin::test::numerical_gradient(loss, kernel, 1e-3);
  g.forward({&x}, true);
  g.backward({&w});
  EXPECT_TRUE(myelin::test::gradients_close(*p->params()[0].grad, numeric, 1e-3, 1e-2));
}

TEST(GraphBuffers, AResidualGraphPredictsWhatItsTrainingPassComputes) {
  // Fan-out, a residual Add, a view, a Concatenate with a second branch, and two outputs.
  std::vector<graph::Node> nodes{input_node()};
  nodes.push_back(node(std::make_shared<layers::Conv2D>(4, layers::Size2{3, 3}, "relu",
                                                        layers::Conv2DOptions{.padding = "same"}), {0}));  // 1
  nodes.push_back(node(std::make_shared<layers::Conv2D>(4, layers::Size2{3, 3}, "linear",
                                                        layers::Conv2DOptions{.padding = "same"}), {1}));  // 2
  nodes.push_back(node(std::make_shared<layers::Add>(), {1, 2}));                           // 3
  nodes.push_back(node(std::make_shared<layers::Activation>("relu"), {3}));                 // 4
  nodes.push_back(node(std::make_shared<layers::MaxPooling2D>(layers::Size2{2, 2}), {4}));  // 5
  nodes.push_back(node(std::make_shared<layers::Flatten>(), {5}));                          // 6
  nodes.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {1}));           // 7
  nodes.push_back(node(std::make_shared<layers::Concatenate>(-1), {6, 7}));                 // 8
  nodes.push_back(node(std::make_shared<layers::Dense>(3, "softmax"), {8}));                // 9
  graph::Graph g(std::move(nodes), {0}, {9, 7});
  Rng rng(3);
  g.build({{6, 6, 2}}, rng, "residual");
  std::set<int> slots;
  for (const auto& n : g.nodes())
    if (n.output_slot >= 0) slots.insert(n.output_slot);
  EXPECT_LT(slots.size(), 7u);  // fewer buffers than the 7 layers that write one

  for (int64_t rows : {7, 2, 7}) {  // a smaller batch, then the larger one again
    Tensor x = random_tensor({rows, 6, 6, 2}, rng, -1.f, 1.f);
    g.forward({&x}, true);
    const Tensor out0 = g.output(0).clone(), out1 = g.output(1).clone();
    g.forward({&x}, false);
    EXPECT_LT(max_difference(out0, g.output(0)), 1e-6f) << "rows " << rows;
    // Output 1 is also read inside the graph (by the Concatenate): its slot outlives the pass.
    EXPECT_LT(max_difference(out1, g.output(1)), 1e-6f) << "rows " << rows;
  }
}

TEST(GraphBuffers, ALayerOutlivingItsGraphWritesIntoItsOwnBuffers) {
  auto dense = std::make_shared<layers::Dense>(8, "tanh");
  Rng rng(4);
  Tensor x = random_tensor({3, 6}, rng, -1.f, 1.f);
  Tensor in_graph;
  {
    graph::Graph g({input_node(), node(dense, {0}), node(std::make_shared<layers::Dense>(2), {1})}, {0}, {2});
    g.build({{6}}, rng, "short-lived");
    g.forward({&x}, false);
  }
  // The graph's slots are gone; a direct call must not write into them (AddressSanitizer would see it).
  const Tensor& y = dense->forward(x, false);
  EXPECT_EQ(y.shape(), (Shape{3, 8}));
  in_graph = y.clone();
  EXPECT_EQ(max_difference(in_graph, dense->forward(x, true)), 0.f);
}
