// Graph: a model's layers as nodes in a topological order, run forward and backward.
//
// Node k reads the outputs of nodes with smaller indices. A model input is a node without a layer
// (or with an InputLayer) whose output is the data. Backward sums the gradients a node receives
// from all of its consumers (fan-out), and runs only where a trainable weight lies upstream.
//
// A layer called several times (shared) has one node per call. The first call runs the layer
// itself; each later call runs a copy of it made at build whose weights are views of the first's,
// with buffers and gradients of its own. Backward adds the copies' gradients into the layer's, so
// the optimizer sees one set of weights with the sum of every call's gradient.
//
// Buffers are the graph's where the layers allow it (Layer::lend_buffers): the outputs of an
// inference pass and the input gradients of backward share a few slots, each node taking a slot
// no other node uses while its value is alive (interval colouring over the topological order).
//
// The graph's decisions (which layers compute input gradients, emit logits for a fused loss, share
// a relu mask) are kept per node and given to the layers at each forward pass: a layer may belong
// to two models (a feature extractor made from a trained model) whose plans differ.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "myelin/layers/layer.hpp"
#include "myelin/random.hpp"
#include "myelin/tensor.hpp"

namespace myelin::layers {
class BatchNormalization;
class Conv2D;
}

namespace myelin::graph {

struct Node {
  std::shared_ptr<Layer> layer;  // null: a model input without an InputLayer (a Sequential's), or a tap
  std::vector<int> inputs;       // producing nodes, all before this one
  // A tap: output `tap_output` (>= 1) of node `tap_of`, a layer with several outputs (LSTM's h and
  // c with return_state). It has no layer; its input is that node, and backward hands the gradient
  // it gathers to that node's layer. Output 0 of such a node is the node itself.
  int tap_of = -1;
  int tap_output = 0;
  std::vector<int> consumers;
  Shape shape;                   // per-sample output shape, once built
  bool is_input = false;
  int layer_index = -1;          // among the layers: how messages number it
  int first_call = -1;           // a later call of a shared layer: the node of its first call
  std::vector<int> later_calls;  // a shared layer's first call: the nodes of its later calls
  int call_index = 0;            // which call of its layer this node is (Keras's node index)
  // A later call: pairs (first call's gradient, this call's) of the layer's trainable weights.
  std::vector<std::pair<Tensor*, Tensor*>> shared_grads;
  bool runs_backward = false;    // a trainable weight lies at or above this node (every node in
                                 // the plan for input gradients, inputs included)
  bool keeps_grad = false;       // backward copies d(loss)/d(out) into grad_sum, where it outlives the pass
  // An augmentation layer at the model's front that the data thread applies while fit runs: the
  // training forward passes its input through (Graph::front_augmentations).
  bool on_data_thread = false;

  // The plan, handed to the layer at each forward.
  bool needs_input_grad = false, output_logits = false, relu_masked_by_next = false,
       mask_nonpositive_input = false;
  // A convolution that applies the max pooling after it, and that pooling (Layer::can_fuse_next).
  bool fuses_next = false, takes_fused_input = false;
  // A convolution whose inference passes compute the BatchNormalization after it, and that one
  // (Layer::can_fold_next); passes that a backward may follow run them apart.
  bool folds_next = false, folded_in = false;
  // Such a convolution whose normalisation's one reader is an Add: it adds that Add's other input,
  // node `folded_addend` (before it in order), and applies the relu the Add applies
  // (Layer::can_fold_add); the Add, folded in too, passes its input `passes_on` on.
  int folded_addend = -1, passes_on = -1;
  bool folded_add_relu = false;
  // Such a convolution whose normalisation applies the relu after it, that relu read only by a max
  // pooling, node `folded_pool`, which the convolution applies too (Layer::can_fold_pool); the
  // pooling, folded in, passes the convolution's pooled output on.
  int folded_pool = -1;
  // Convolutions whose inference passes under mixed_bfloat16 hand the output over in bfloat16
  // (layers::Conv2D::can_hand_over_bf16): this one writes it so, and the convolutions reading it
  // (each nothing else), through at most a folded normalisation, a folded Add and the relu either
  // applies, take it from node `bf16_source`.
  bool writes_bf16 = false;
  int bf16_source = -1;
  // Training passes under mixed_bfloat16: a convolution without activation read only by a
  // BatchNormalization writes its output in bfloat16 (Conv2D::can_hand_over_bf16_in_training), and
  // that normalisation reads it from node `bf16_training_source`; such a normalisation whose output
  // (through its relu) one Conv2D reads alone, and an Add applying its relu whose output only Conv2D
  // layers read, write it so too (Conv2D::can_take_bf16_in_training), and those convolutions read
  // it from node `bf16_training_source`.
  bool writes_bf16_training = false;
  int bf16_training_source = -1;
  layers::Conv2D* conv = nullptr;                    // the layer as a Conv2D (set when planned), for apply_plan
  layers::BatchNormalization* batch_norm = nullptr;  // the same as a BatchNormalization
  int output_slot = -1, input_grad_slot = -1;  // the graph's buffers it writes into; -1: its own

  // Per step.
  const Tensor* out = nullptr;
  const Tensor* grad = nullptr;  // d(loss)/d(out): one consumer's buffer, or grad_sum
  Tensor grad_sum;
  bool ran_backward = false;
  std::vector<const Tensor*> in_values, in_grads;
  // A layer with several outputs: d(loss)/d(output k) of this step (null where none); [0] is grad.
  std::vector<const Tensor*> out_grads;

  // Masks (Layer::MaskFlow), planned at build: whether this node's output carries one.
  bool has_mask = false;
  const Tensor* mask = nullptr;  // per step: its output's mask, or null
  Tensor mask_and;               // MaskFlow::All over several masks: their AND
  std::vector<const Tensor*> in_masks;
};

class Graph {
 public:
  /// The nodes, inputs before the nodes that read them; `inputs`/`outputs` index into them. Nodes
  /// holding the same layer are calls of a shared layer.
  Graph(std::vector<Node> nodes, std::vector<int> inputs, std::vector<int> outputs);
  /// Takes its buffers back from the layers, which may outlive it.
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Builds every layer from the per-sample input shapes, in order, makes the copies of shared
  /// layers, and plans which nodes run backward, which relu masks are shared with a max pooling and
  /// which convolutions apply the pooling after them.
  /// `where` prefixes errors ("Sequential 'sequential'"). A mismatch throws ShapeError naming the
  /// layer, its index and the shapes.
  void build(const std::vector<Shape>& input_shapes, Rng& rng, const std::string& where);
  /// Re-plans which nodes run backward (after a layer was frozen or unfrozen). With `to_inputs`,
  /// every node runs backward and the inputs receive their gradients (Node::grad), frozen layers
  /// or not: the plan of an explanation, until plan_backward() restores the training plan.
  void plan_backward(bool to_inputs = false);
  /// Whether output k's layer emits logits (its activation is fused with the loss by the model).
  void set_output_logits(size_t k, bool logits) { nodes_[size_t(outputs_[k])].output_logits = logits; }

  /// Output 0 for a batch (valid until the next forward). backward() follows only a forward with
  /// training true or `for_backward`: an inference pass keeps no more of the layers' outputs than it
  /// needs. `for_backward` runs the layers in inference mode (dropout off, moving statistics) and
  /// keeps what backward reads: the pass an explanation differentiates.
  const Tensor& forward(const std::vector<const Tensor*>& inputs, bool training, bool for_backward = false);
  /// Output node k's output of the last forward.
  const Tensor& output(size_t k) const { return *nodes_[size_t(outputs_[k])].out; }
  /// Called with `context` as soon as a layer's weights have their whole gradient (every call's),
  /// so that they can be summed over ranks while the rest goes on. A plain pointer: a step
  /// allocates nothing.
  using NodeDone = void (*)(void* context, int node);
  /// Backward from d(loss)/d(output k).
  void backward(const std::vector<const Tensor*>& output_grads, NodeDone on_node_done = nullptr,
                void* context = nullptr);

  /// The augmentation nodes that open the graph, in order: the chain from its one input through
  /// layers whose is_augmentation() holds and that keep their input's shape, each (but the last)
  /// read by the next alone, none a shared layer. Empty when there is none or several inputs.
  std::vector<int> front_augmentations() const;
  /// Marks those nodes as run by the data thread (or no longer): their training forward passes the
  /// input through, and forward() leaves their layers' plan and buffers alone meanwhile.
  void set_on_data_thread(const std::vector<int>& nodes, bool on);

  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  /// Whether some node's output carries a mask (Layer::MaskFlow).
  bool has_masks() const { return masks_; }

 private:
  void receive_grad(Node& n, const Tensor& g);
  void plan_fusions();
  void plan_bf16_handover();
  void plan_buffers();
  bool is_output(size_t node) const;
  // A layer's node that only the plan's fusions see: no input, tap, shared layer, mask or kept gradient.
  bool alone(const Node& n) const;
  void apply_plan(bool keep_for_backward);
  void gather_shared_gradients(Node& first);
  void plan_masks();
  void forward_masks_in(Node& n);
  void forward_mask_out(Node& n);
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
  bool masks_ = false;  // some node carries a mask: without, forward never looks at masks
  // The lent buffers and the per-sample values each must hold (the most of the nodes sharing it).
  std::vector<Tensor> output_slots_, input_grad_slots_;
  std::vector<int64_t> output_slot_values_, input_grad_slot_values_;
};

/// "layer 3 'dense_1' (Dense)": how errors name a node's layer (a tap: its layer's, and the output).
std::string node_label(const Node& n);

}  // namespace myelin::graph
