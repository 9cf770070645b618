// Graph nodes for tests that build a graph::Graph by hand.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "graph/graph.hpp"

namespace myelin::test {

/// A node running `layer` on the outputs of the nodes `inputs`.
inline graph::Node node(std::shared_ptr<Layer> layer, std::vector<int> inputs) {
  graph::Node n;
  n.layer = std::move(layer);
  n.inputs = std::move(inputs);
  return n;
}

/// A model input without an InputLayer.
inline graph::Node input_node() { return graph::Node{}; }

}  // namespace myelin::test
