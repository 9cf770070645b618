// Model::gradients: the inference pass differentiated back to the input, which explanations
// (src/explain/) build on.
#include <mutex>
#include <string>
#include <vector>

#include "../graph/graph.hpp"
#include "../model_memory.hpp"
#include "myelin/error.hpp"
#include "myelin/model.hpp"

namespace myelin {

namespace {

// The graph's plan for one explanation pass, put back however the pass ends: the training plan,
// the output's logits setting as compile left it, and no node keeping its gradient.
class ExplanationPlan {
 public:
  ExplanationPlan(graph::Graph& g, size_t output, bool logits, std::vector<int> kept)
      : g_(g), output_(output), kept_(std::move(kept)) {
    graph::Node& out = g_.nodes()[size_t(g_.outputs()[output])];
    compiled_logits_ = out.output_logits;
    const auto act = out.layer ? out.layer->output_activation() : std::nullopt;
    const bool has_head = act == ActivationKind::Softmax || act == ActivationKind::Sigmoid;
    g_.plan_backward(/*to_inputs=*/true);
    g_.set_output_logits(output, logits && has_head);
    for (int k : kept_) {
      graph::Node& n = g_.nodes()[size_t(k)];
      n.keeps_grad = true;
      // A relu whose backward the next max pooling does hands on d(pre-activation): a kept gradient
      // must be d(output) itself, non-zero where a zero output won its window.
      if (n.relu_masked_by_next) {
        unmasked_.push_back(k);
        n.relu_masked_by_next = false;
        g_.nodes()[size_t(n.consumers[0])].mask_nonpositive_input = false;
      }
    }
  }
  ~ExplanationPlan() {
    for (int k : kept_) g_.nodes()[size_t(k)].keeps_grad = false;
    for (int k : unmasked_) {
      g_.nodes()[size_t(k)].relu_masked_by_next = true;
      g_.nodes()[size_t(g_.nodes()[size_t(k)].consumers[0])].mask_nonpositive_input = true;
    }
    g_.set_output_logits(output_, compiled_logits_);
    g_.plan_backward();
  }
  ExplanationPlan(const ExplanationPlan&) = delete;
  ExplanationPlan& operator=(const ExplanationPlan&) = delete;

 private:
  graph::Graph& g_;
  size_t output_;
  std::vector<int> kept_, unmasked_;
  bool compiled_logits_ = false;
};

}  // namespace

Gradients Model::gradients(const Tensor& x, const std::function<void(const Tensor&, Tensor&)>& seed,
                           const GradientOptions& options) {
  std::lock_guard<std::mutex> lock(*inference_mutex_);
  const std::span<const Tensor> xs(&x, 1);
  if (graph_ && graph_->inputs().size() != 1)
    throw ValueError("gradients: " + kind() + " has " + std::to_string(graph_->inputs().size()) +
                     " inputs; input gradients are computed for models with one input");
  ensure_built(xs, "gradients");
  check_input_shapes(xs, "gradients");
  graph::Graph& g = *graph_;
  if (options.output >= g.outputs().size())
    throw ValueError("gradients: output " + std::to_string(options.output) + " is out of range: " + kind() + " has " +
                     std::to_string(g.outputs().size()) + " output(s)");
  check_batch_fits(*memory_, optimizer_.get(), x.rows(), /*training=*/true, "gradients");

  int layer_node = -1;
  if (!options.layer.empty()) {
    const Layer* wanted = get_layer(options.layer).get();
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const graph::Node& n = g.nodes()[i];
      if (n.layer.get() != wanted) continue;
      if (!n.later_calls.empty())
        throw ValueError("gradients: layer '" + options.layer + "' is called " + std::to_string(n.later_calls.size() + 1) +
                         " times in " + kind() + "; its output is not one tensor");
      layer_node = int(i);
    }
  }
  const int input_node = g.inputs()[0];
  std::vector<int> kept{input_node};
  if (layer_node >= 0) kept.push_back(layer_node);
  ExplanationPlan plan(g, options.output, options.logits, kept);

  step_inputs_.assign(1, &x);
  g.forward(step_inputs_, /*training=*/false, /*for_backward=*/true);
  Gradients result;
  result.output = g.output(options.output).clone();
  // A layer's backward may reuse its output's buffer: keep the value before running it.
  if (layer_node >= 0) result.layer_output = g.nodes()[size_t(layer_node)].out->clone();

  std::vector<Tensor> output_grads;
  std::vector<const Tensor*> grads;
  for (size_t k = 0; k < g.outputs().size(); ++k) output_grads.emplace_back(g.output(k).shape());  // zeros
  seed(result.output, output_grads[options.output]);
  if (output_grads[options.output].shape() != result.output.shape())
    throw ValueError("gradients: the seed changed d(output)'s shape to " +
                     shape_to_string(output_grads[options.output].shape()) + "; the output's is " +
                     shape_to_string(result.output.shape()));
  for (const auto& t : output_grads) grads.push_back(&t);
  g.backward(grads);

  const graph::Node& in = g.nodes()[size_t(input_node)];
  result.input_grad = in.grad ? in.grad->clone() : Tensor(x.shape());
  if (layer_node >= 0) {
    const graph::Node& n = g.nodes()[size_t(layer_node)];
    if (!n.grad)
      throw ValueError("gradients: layer '" + options.layer + "' does not lead to output " +
                       std::to_string(options.output) + " of " + kind());
    result.layer_grad = n.grad->clone();
  }
  return result;
}

}  // namespace myelin
