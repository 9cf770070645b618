#include "graph/graph.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "kernels/cpu/merge.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/batch_normalization.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/registry.hpp"

namespace myelin::graph {

std::string node_label(const Node& n) {
  if (n.tap_of >= 0) return "output " + std::to_string(n.tap_output) + " of node " + std::to_string(n.tap_of);
  if (!n.layer) return "the input";
  return "layer " + std::to_string(n.layer_index) + " '" + n.layer->name() + "' (" + n.layer->class_name() + ")";
}

namespace {
std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (const auto& x : shapes) s += (s.empty() ? "" : ", ") + shape_to_string(with_batch(-1, x), true);
  return s;
}

// A later call of a shared layer: the same layer re-made from its config and built for this call's
// inputs, its weights then made views of the first call's.
std::shared_ptr<Layer> copy_for_call(Layer& first, const std::vector<Shape>& in_shapes, const std::string& where,
                                     const Node& n) {
  std::shared_ptr<Layer> copy;
  try {
    copy = layers::from_config(first.class_name(), first.get_config());
  } catch (const ValueError& e) {
    throw ValueError(where + ", " + node_label(n) + " is called more than once, and only layers that can be "
                     "re-made from their config can be shared: " + e.what());
  }
  copy->set_name(first.name());
  Rng scratch(0);  // its own initial weights are dropped: the model's random stream is left alone
  try {
    copy->build_once(in_shapes, scratch);
  } catch (const ShapeError& e) {
    throw ShapeError(where + ", " + node_label(n) + " with input shape " + shapes_text(in_shapes) + ": " + e.what());
  }
  auto mine = copy->params();
  auto theirs = first.params();
  bool same = mine.size() == theirs.size();
  for (size_t k = 0; same && k < mine.size(); ++k) same = mine[k].value->shape() == theirs[k].value->shape();
  if (!same)
    throw ShapeError(where + ", " + node_label(n) + " is called on inputs of shape " + shapes_text(in_shapes) +
                     ", which need weights of other shapes than its first call's");
  for (size_t k = 0; k < mine.size(); ++k) mine[k].value->alias(*theirs[k].value, theirs[k].value->shape());
  return copy;
}
// Slots for values alive over steps [first, last] of a pass, asked for in order of `first`: a
// slot whose value died before `first` is taken again, the smallest that already holds `values`
// or else the largest (it grows least).
class SlotPlanner {
 public:
  int take(int64_t first, int64_t last, int64_t values) {
    int best = -1;
    for (size_t s = 0; s < last_.size(); ++s)
      if (last_[s] < first && (best < 0 || better(values_[s], values_[size_t(best)], values))) best = int(s);
    if (best < 0) {
      best = int(last_.size());
      last_.push_back(0);
      values_.push_back(0);
    }
    last_[size_t(best)] = last;
    values_[size_t(best)] = std::max(values_[size_t(best)], values);
    return best;
  }
  const std::vector<int64_t>& values() const { return values_; }

 private:
  static bool better(int64_t a, int64_t b, int64_t need) {
    if ((a >= need) != (b >= need)) return a >= need;
    return a >= need ? a < b : a > b;
  }
  std::vector<int64_t> last_, values_;
};

// Gives each slot room for `rows` samples; within its capacity this allocates nothing.
void size_slots(std::vector<Tensor>& slots, const std::vector<int64_t>& values, int64_t rows) {
  for (size_t s = 0; s < slots.size(); ++s)
    if (slots[s].capacity() < rows * values[s]) slots[s].resize({rows * values[s]});
}
}  // namespace

Graph::Graph(std::vector<Node> nodes, std::vector<int> inputs, std::vector<int> outputs)
    : nodes_(std::move(nodes)), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
  std::map<const Layer*, int> first_call;
  int layers = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.layer) {
      auto [it, fresh] = first_call.emplace(n.layer.get(), int(i));
      if (fresh) {
        n.layer_index = layers++;
      } else {
        Node& first = nodes_[size_t(it->second)];
        n.first_call = it->second;
        n.layer_index = first.layer_index;
        n.call_index = int(first.later_calls.size()) + 1;
        first.later_calls.push_back(int(i));
      }
    }
    if (n.tap_of >= 0) {
      if (size_t(n.tap_of) >= i || !nodes_[size_t(n.tap_of)].layer ||
          n.tap_output >= nodes_[size_t(n.tap_of)].layer->num_outputs() || n.tap_output < 1)
        throw Error("graph: node " + std::to_string(i) + " taps an output no earlier layer has");
      n.inputs = {n.tap_of};
    }
    if (n.layer && n.layer->num_outputs() > 1) n.out_grads.assign(size_t(n.layer->num_outputs()), nullptr);
    for (int in : n.inputs) {
      if (in < 0 || size_t(in) >= i) throw Error("graph: node " + std::to_string(i) + " reads a later node");
      nodes_[size_t(in)].consumers.push_back(int(i));
    }
    n.in_values.assign(n.inputs.size(), nullptr);
    n.in_grads.assign(n.inputs.size(), nullptr);
  }
  for (int i : inputs_) nodes_[size_t(i)].is_input = true;
}

Graph::~Graph() {
  for (auto& n : nodes_)
    if (n.layer) n.layer->lend_buffers(nullptr, nullptr);
}

void Graph::build(const std::vector<Shape>& input_shapes, Rng& rng, const std::string& where) {
  for (size_t k = 0; k < inputs_.size(); ++k) nodes_[size_t(inputs_[k])].shape = input_shapes[k];
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.tap_of >= 0) {
      n.shape = nodes_[size_t(n.tap_of)].layer->extra_output_shape(n.tap_output);
      continue;
    }
    if (n.is_input) {
      if (!n.layer) continue;
      const auto& declared = n.layer->declared_input_shape();
      if (declared && *declared != n.shape)
        throw ShapeError(where + ", " + node_label(n) + ": expects input shape " +
                         shape_to_string(with_batch(-1, *declared), true) + " but receives " +
                         shape_to_string(with_batch(-1, n.shape), true));
      n.layer->build(n.shape, rng);
      continue;
    }
    std::vector<Shape> in_shapes;
    for (int in : n.inputs) in_shapes.push_back(nodes_[size_t(in)].shape);
    if (n.first_call >= 0) {
      Layer& first = *nodes_[size_t(n.first_call)].layer;
      n.layer = copy_for_call(first, in_shapes, where, n);
      n.shape = n.layer->build_once(in_shapes, rng);  // built above: returns its shape
      auto mine = first.params(), theirs = n.layer->params();
      n.shared_grads.clear();
      for (size_t k = 0; k < mine.size(); ++k)
        if (mine[k].trainable && mine[k].grad && theirs[k].grad) n.shared_grads.emplace_back(mine[k].grad, theirs[k].grad);
      continue;
    }
    Layer& l = *n.layer;
    const auto& declared = l.declared_input_shape();
    if (declared && in_shapes.size() == 1 && *declared != in_shapes[0])
      throw ShapeError(where + ", " + node_label(n) + ": expects input shape " +
                       shape_to_string(with_batch(-1, *declared), true) + " but receives " +
                       shape_to_string(with_batch(-1, in_shapes[0]), true));
    try {
      n.shape = l.build_once(in_shapes, rng);
    } catch (const ShapeError& e) {
      throw ShapeError(where + ", " + node_label(n) + " with input shape " + shapes_text(in_shapes) + ": " + e.what());
    }
  }
  plan_masks();
  plan_backward();
  // A relu output read only by a max pooling: the pooling's backward masks, the relu's pass is skipped.
  for (auto& n : nodes_) n.relu_masked_by_next = n.mask_nonpositive_input = false;
  for (auto& n : nodes_) {
    if (!n.layer || n.is_input || n.consumers.size() != 1) continue;
    Node& next = nodes_[size_t(n.consumers[0])];
    if (!next.layer) continue;  // a tap
    if (n.layer->output_is_relu() && next.layer->can_mask_nonpositive_input() && next.inputs.size() == 1) {
      n.relu_masked_by_next = true;
      next.mask_nonpositive_input = true;
    }
  }
}

void Graph::plan_masks() {
  masks_ = false;
  for (auto& n : nodes_) {
    n.has_mask = false;
    n.mask = nullptr;
    if (!n.layer || n.is_input || n.tap_of >= 0) continue;  // a model input or a state carry none
    switch (n.layer->mask_flow()) {
      case Layer::MaskFlow::Drop: break;
      case Layer::MaskFlow::First: n.has_mask = nodes_[size_t(n.inputs[0])].has_mask; break;
      case Layer::MaskFlow::All:
        for (int in : n.inputs) n.has_mask = n.has_mask || nodes_[size_t(in)].has_mask;
        break;
      case Layer::MaskFlow::Own: n.has_mask = true; break;
    }
    masks_ = masks_ || n.has_mask;
    n.in_masks.assign(n.inputs.size(), nullptr);
  }
}

// Hands a layer that reads masks those of its inputs.
void Graph::forward_masks_in(Node& n) {
  if (!n.layer->uses_input_masks()) return;
  bool any = false;
  for (size_t j = 0; j < n.inputs.size(); ++j) {
    n.in_masks[j] = nodes_[size_t(n.inputs[j])].mask;
    any = any || n.in_masks[j];
  }
  if (any) n.layer->set_input_masks(n.in_masks);
}

void Graph::forward_mask_out(Node& n) {
  n.mask = nullptr;
  if (!n.has_mask) return;
  switch (n.layer->mask_flow()) {
    case Layer::MaskFlow::Drop: break;
    case Layer::MaskFlow::First: n.mask = nodes_[size_t(n.inputs[0])].mask; break;
    case Layer::MaskFlow::All: {
      int count = 0;
      for (int in : n.inputs)
        if (const Tensor* m = nodes_[size_t(in)].mask) {
          if (count == 0) {
            n.mask = m;
          } else {
            if (count == 1) {
              n.mask_and.resize(n.mask->shape());
              n.mask_and.copy_from(*n.mask);
            }
            if (m->shape() != n.mask_and.shape())
              throw ShapeError(node_label(n) + ": its inputs' masks differ in shape, " + shape_to_string(m->shape()) +
                               " and " + shape_to_string(n.mask_and.shape()));
            kernels::multiply_in_place(m->data(), n.mask_and.data(), m->size());
          }
          ++count;
        }
      if (count > 1) n.mask = &n.mask_and;
      break;
    }
    case Layer::MaskFlow::Own: n.mask = n.layer->output_mask(); break;
  }
}

void Graph::plan_backward(bool to_inputs) {
  // Gradients flow only where a trainable weight lies upstream: a layer below every trainable one
  // (Flatten, Input) skips backward, and the first trainable layer skips its input gradient.
  for (auto& n : nodes_) {
    const Node& owner = n.first_call >= 0 ? nodes_[size_t(n.first_call)] : n;
    n.runs_backward = to_inputs || (n.layer && !n.is_input && owner.layer->count_params(/*trainable_only=*/true) > 0);
    bool upstream = false;
    for (int in : n.inputs) upstream = upstream || nodes_[size_t(in)].runs_backward;
    n.runs_backward = n.runs_backward || upstream;
    n.needs_input_grad = upstream;
  }
  plan_fusions();
  plan_buffers();
}

bool Graph::is_output(size_t node) const {
  return std::find(outputs_.begin(), outputs_.end(), int(node)) != outputs_.end();
}

bool Graph::alone(const Node& n) const {
  return n.layer && !n.is_input && n.tap_of < 0 && n.first_call < 0 && n.later_calls.empty() && !n.has_mask &&
         !n.keeps_grad;
}

void Graph::plan_fusions() {
  // A layer may apply its one consumer (Layer::can_fuse_next) when nothing else sees its own
  // output: not a model output, not a shared layer, no mask, no gradient kept, and no input gradient
  // to compute unless the fused pass gives it (Layer::fused_pass_gives_input_grad).
  for (auto& n : nodes_) {
    n.fuses_next = n.takes_fused_input = n.folds_next = n.folded_in = n.folded_add_relu = false;
    n.folded_addend = n.passes_on = n.folded_pool = -1;
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (!alone(n) || n.consumers.size() != 1 || n.output_logits ||
        (n.needs_input_grad && !n.layer->fused_pass_gives_input_grad()) || is_output(i))
      continue;
    Node& next = nodes_[size_t(n.consumers[0])];
    if (alone(next) && next.inputs.size() == 1 && n.layer->can_fuse_next(*next.layer)) {
      n.fuses_next = true;
      next.takes_fused_input = true;
    }
  }
  // Folds serve inference passes only, where no gradient is computed: the same rule without it.
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (!alone(n) || n.consumers.size() != 1 || n.fuses_next || n.output_logits || is_output(i)) continue;
    Node& next = nodes_[size_t(n.consumers[0])];
    if (alone(next) && next.inputs.size() == 1 && !next.takes_fused_input && n.layer->can_fold_next(*next.layer)) {
      n.folds_next = true;
      next.folded_in = true;
    }
  }
  // An Add of two equal shapes after a folded pair whose second layer only it reads: the pair's
  // first layer adds the other input (Layer::can_fold_add), which must be ready before that layer
  // runs; of two such pairs, the later one.
  for (size_t a = 0; a < nodes_.size(); ++a) {
    Node& add = nodes_[a];
    if (!alone(add) || add.inputs.size() != 2 || !dynamic_cast<const layers::Add*>(add.layer.get()) ||
        add.takes_fused_input || is_output(a) ||
        nodes_[size_t(add.inputs[0])].shape != nodes_[size_t(add.inputs[1])].shape)
      continue;
    int chosen = -1, chosen_first = -1;
    for (int j = 0; j < 2; ++j) {
      const int second = add.inputs[size_t(j)];
      const Node& folded = nodes_[size_t(second)];
      if (!folded.folded_in || folded.consumers.size() != 1 || is_output(size_t(second))) continue;
      const int first = folded.inputs[0];
      if (add.inputs[size_t(1 - j)] < first && nodes_[size_t(first)].layer->can_fold_add() && first > chosen_first) {
        chosen = j;
        chosen_first = first;
      }
    }
    if (chosen < 0) continue;
    add.folded_in = true;
    add.passes_on = chosen;
    Node& first = nodes_[size_t(chosen_first)];
    first.folded_addend = add.inputs[size_t(1 - chosen)];
    first.folded_add_relu = add.fuses_next;
  }
  // A folded pair whose second layer applies the relu after it, that relu read only by a pooling
  // the pair's first layer can apply too (Layer::can_fold_pool).
  for (auto& n : nodes_) {
    if (!n.folds_next || n.folded_addend >= 0) continue;
    const Node& norm = nodes_[size_t(n.consumers[0])];
    if (!norm.fuses_next) continue;
    const int relu_at = norm.consumers[0];
    const Node& relu = nodes_[size_t(relu_at)];
    if (relu.consumers.size() != 1 || is_output(size_t(relu_at))) continue;
    Node& pool = nodes_[size_t(relu.consumers[0])];
    if (!alone(pool) || pool.inputs.size() != 1 || pool.takes_fused_input || pool.folded_in ||
        !n.layer->can_fold_pool(*pool.layer))
      continue;
    n.folded_pool = relu.consumers[0];
    pool.folded_in = true;
  }
  plan_bf16_handover();
}

void Graph::plan_bf16_handover() {
  for (auto& n : nodes_) {
    n.writes_bf16 = n.writes_bf16_training = false;
    n.bf16_source = n.bf16_training_source = -1;
    n.conv = dynamic_cast<layers::Conv2D*>(n.layer.get());
    n.batch_norm = dynamic_cast<layers::BatchNormalization*>(n.layer.get());
  }
  // Training passes: a convolution to the normalisation reading it alone. Both read and write the
  // activations several times a step (the statistics, the forward, the backward's two passes), and
  // bfloat16 halves those reads of x; the normalisation's output stays float32.
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (!n.conv || !alone(n) || n.fuses_next || n.output_logits || n.consumers.size() != 1 || is_output(i) ||
        !n.conv->can_hand_over_bf16_in_training())
      continue;
    Node& reader = nodes_[size_t(n.consumers[0])];
    if (!reader.batch_norm || !alone(reader) || reader.inputs.size() != 1) continue;
    n.writes_bf16_training = true;
    reader.bf16_training_source = int(i);
  }
  // Training passes: such a normalisation whose output, through the relu it applies, one convolution
  // reads alone writes it in bfloat16 too, and so does an Add applying its relu whose output only
  // convolutions read (the residual CNN's block output, read by the next block's convolution and
  // its projection). Those convolutions multiply in bfloat16, rounding a float32 input the same way;
  // their backward reads x as it was given.
  auto takes_bf16_in_training = [&](int r) {
    const Node& reader = nodes_[size_t(r)];
    return reader.conv && alone(reader) && reader.inputs.size() == 1 && !reader.fuses_next &&
           reader.conv->can_take_bf16_in_training();
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    const bool norm = n.batch_norm && n.bf16_training_source >= 0;
    const bool add = n.fuses_next && alone(n) && dynamic_cast<const layers::Add*>(n.layer.get());
    if (!(norm || add) || n.consumers.size() != 1 || is_output(i)) continue;
    size_t at = i;
    if (n.fuses_next) {
      at = size_t(n.consumers[0]);
      if (is_output(at)) continue;
    }
    const auto& readers = nodes_[at].consumers;
    if (readers.empty() || (norm && readers.size() != 1) ||
        !std::all_of(readers.begin(), readers.end(), takes_bf16_in_training))
      continue;
    n.writes_bf16_training = true;
    for (int r : readers) nodes_[size_t(r)].bf16_training_source = int(i);
  }
  // A convolution that writes its whole output itself (no pooling applied after it, no logits).
  auto plain_conv = [&](const Node& n) {
    return n.conv && alone(n) && !n.fuses_next && n.folded_pool < 0 && !n.takes_fused_input && !n.output_logits &&
           n.conv->can_hand_over_bf16();
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!plain_conv(nodes_[i]) || is_output(i)) continue;
    // Through the layers an inference pass passes the output through (a folded normalisation, the
    // relu it applies, a folded Add passing it on), each read by the next alone, to the
    // convolutions reading it, each reading nothing else.
    size_t at = i;
    while (nodes_[at].consumers.size() == 1 && !is_output(at)) {
      const size_t next = size_t(nodes_[at].consumers[0]);
      const Node& c = nodes_[next];
      const bool passes_it_on = c.inputs.size() == 1 ? c.passes_on < 0
                                                     : c.passes_on >= 0 && c.inputs[size_t(c.passes_on)] == int(at);
      if (!alone(c) || !passes_it_on || !(c.folded_in || c.takes_fused_input) || c.conv) break;
      at = next;
    }
    const auto& readers = nodes_[at].consumers;
    if (readers.empty() || is_output(at)) continue;
    const bool convolutions_alone = std::all_of(readers.begin(), readers.end(), [&](int r) {
      const Node& reader = nodes_[size_t(r)];
      return plain_conv(reader) && reader.inputs.size() == 1 && !reader.folded_in;
    });
    if (!convolutions_alone) continue;
    nodes_[i].writes_bf16 = true;
    for (int r : readers) nodes_[size_t(r)].bf16_source = int(i);
  }
}

void Graph::plan_buffers() {
  const int64_t count = int64_t(nodes_.size());
  auto is_layer = [](const Node& n) { return n.layer && !n.is_input; };
  // A pooling applied by the convolution before it passes that one's output and gradient on as views.
  // Output slots serve inference passes only, where a folded layer passes its input on.
  auto writes_output = [&](const Node& n) {
    return is_layer(n) && n.layer->writes_lent_output() && !n.takes_fused_input && !n.folded_in;
  };
  auto writes_input_grad = [&](const Node& n) {
    return is_layer(n) && n.layer->writes_lent_input_grad() && !n.takes_fused_input;
  };
  // The values a node's output holds per sample: a fused convolution's is its pooling's, and so is
  // that of a convolution folding its pooling (inference passes are the slots' only users).
  auto output_values = [&](const Node& n) {
    if (n.folded_pool >= 0) return shape_size(nodes_[size_t(n.folded_pool)].shape);
    return shape_size(n.fuses_next ? nodes_[size_t(n.consumers[0])].shape : n.shape);
  };
  // Forward, step = node index. A node's output is read by its consumers; one that writes no lent
  // output may return a view of it (Flatten), whose readers then count too. The model's outputs
  // are read after the pass.
  std::vector<int64_t> last_read(nodes_.size());
  constexpr int64_t kAfterThePass = std::numeric_limits<int64_t>::max();
  for (int o : outputs_) last_read[size_t(o)] = kAfterThePass;
  for (int64_t i = count; i-- > 0;) {
    int64_t last = std::max(last_read[size_t(i)], i);
    for (int c : nodes_[size_t(i)].consumers) {
      last = std::max<int64_t>(last, c);
      const Node& reader = nodes_[size_t(c)];
      if (!writes_output(reader)) last = std::max(last, last_read[size_t(c)]);
    }
    last_read[size_t(i)] = last;
  }
  SlotPlanner outputs;
  for (int64_t i = 0; i < count; ++i) {
    Node& n = nodes_[size_t(i)];
    n.output_slot = writes_output(n) ? outputs.take(i, last_read[size_t(i)], output_values(n)) : -1;
  }
  // Backward, step = count - 1 - node index. Node n's input gradient is read by its input's
  // backward; a layer that writes no lent input gradient may pass it on as a view (Flatten), so
  // the nodes below that one may read it too.
  std::vector<int64_t> lowest_reader(nodes_.size());
  for (int64_t m = 0; m < count; ++m) {
    const Node& n = nodes_[size_t(m)];
    int64_t low = m;
    if (is_layer(n) && !writes_input_grad(n))
      for (int in : n.inputs) low = std::min(low, lowest_reader[size_t(in)]);
    if (n.tap_of >= 0) low = n.tap_of;  // its gradient waits for its layer's backward
    lowest_reader[size_t(m)] = low;
  }
  SlotPlanner grads;
  for (int64_t i = count; i-- > 0;) {
    Node& n = nodes_[size_t(i)];
    const bool lent = is_layer(n) && n.runs_backward && n.needs_input_grad && n.inputs.size() == 1 &&
                      writes_input_grad(n);
    const Node* in = lent ? &nodes_[size_t(n.inputs[0])] : nullptr;
    n.input_grad_slot = lent ? grads.take(count - 1 - i, count - 1 - lowest_reader[size_t(n.inputs[0])],
                                          shape_size(in->shape))
                             : -1;
  }
  output_slot_values_ = outputs.values();
  input_grad_slot_values_ = grads.values();
  output_slots_.resize(output_slot_values_.size());
  input_grad_slots_.resize(input_grad_slot_values_.size());
}

void Graph::apply_plan(bool keep_for_backward) {
  for (auto& n : nodes_) {
    // A layer the data thread is running keeps the plan it was given before (set_on_data_thread).
    if (!n.layer || n.is_input || n.on_data_thread) continue;
    n.layer->lend_buffers(!keep_for_backward && n.output_slot >= 0 ? &output_slots_[size_t(n.output_slot)] : nullptr,
                          n.input_grad_slot >= 0 ? &input_grad_slots_[size_t(n.input_grad_slot)] : nullptr);
    n.layer->set_backward_follows(keep_for_backward);
    n.layer->set_needs_input_grad(n.needs_input_grad);
    n.layer->set_output_logits(n.output_logits);
    n.layer->set_relu_masked_by_next(n.relu_masked_by_next);
    n.layer->set_mask_nonpositive_input(n.mask_nonpositive_input);
    n.layer->set_fuses_next(n.fuses_next);
    const bool fold = !keep_for_backward && n.folds_next;
    n.layer->set_folded_next(fold ? nodes_[size_t(n.consumers[0])].layer.get() : nullptr);
    n.layer->set_folded_add(nullptr, false);  // the addend is handed over at each pass (forward)
    n.layer->set_folds_pool(fold && n.folded_pool >= 0);
    n.layer->set_takes_fused_input(n.takes_fused_input || (!keep_for_backward && n.folded_in));
    n.layer->clear_input_masks();  // a layer another model ran with masks forgets them
    if (n.conv) {
      const int source = keep_for_backward ? n.bf16_training_source : n.bf16_source;
      n.conv->set_bf16_handover_plan(keep_for_backward ? n.writes_bf16_training : n.writes_bf16,
                                     source >= 0 ? nodes_[size_t(source)].layer.get() : nullptr);
      n.conv->set_bf16_grad_source(keep_for_backward && n.writes_bf16_training
                                       ? nodes_[size_t(n.consumers[0])].batch_norm
                                       : nullptr);
    }
    if (n.batch_norm) {
      n.batch_norm->set_bf16_source(keep_for_backward && n.bf16_training_source >= 0
                                        ? nodes_[size_t(n.bf16_training_source)].conv
                                        : nullptr);
    }
    if (!n.conv) n.layer->set_bf16_write(keep_for_backward && n.writes_bf16_training);
  }
}

const Tensor& Graph::forward(const std::vector<const Tensor*>& inputs, bool training, bool for_backward) {
  const bool keep = training || for_backward;
  apply_plan(keep);
  if (!keep) size_slots(output_slots_, output_slot_values_, inputs[0]->rows());
  for (size_t k = 0; k < inputs_.size(); ++k) nodes_[size_t(inputs_[k])].out = inputs[k];
  for (auto& n : nodes_) {
    if (n.is_input) continue;
    if (n.tap_of >= 0) {
      n.out = &nodes_[size_t(n.tap_of)].layer->extra_output(n.tap_output);
      continue;
    }
    if (training && n.on_data_thread) {
      n.out = nodes_[size_t(n.inputs[0])].out;
      continue;
    }
    if (!keep && n.passes_on >= 0) {  // an Add folded into the layer before it (plan_fusions)
      n.out = nodes_[size_t(n.inputs[size_t(n.passes_on)])].out;
      continue;
    }
    if (!keep && n.folded_addend >= 0) n.layer->set_folded_add(nodes_[size_t(n.folded_addend)].out, n.folded_add_relu);
    if (masks_) forward_masks_in(n);
    if (n.inputs.size() == 1) {
      n.out = &n.layer->forward(*nodes_[size_t(n.inputs[0])].out, training);
    } else {
      for (size_t j = 0; j < n.inputs.size(); ++j) n.in_values[j] = nodes_[size_t(n.inputs[j])].out;
      n.out = &n.layer->forward_inputs(n.in_values, training);
    }
    if (masks_) forward_mask_out(n);
  }
  return *nodes_[size_t(outputs_[0])].out;
}

void Graph::set_on_data_thread(const std::vector<int>& nodes, bool on) {
  for (int k : nodes) {
    Node& n = nodes_[size_t(k)];
    // Its own buffers: a slot lent for an inference pass must not be written from another thread.
    if (on) n.layer->lend_buffers(nullptr, nullptr);
    n.on_data_thread = on;
  }
}

std::vector<int> Graph::front_augmentations() const {
  std::vector<int> chain;
  if (inputs_.size() != 1) return chain;
  int at = inputs_[0];
  while (nodes_[size_t(at)].consumers.size() == 1) {
    const int next = nodes_[size_t(at)].consumers[0];
    const Node& n = nodes_[size_t(next)];
    const bool shared = n.first_call >= 0 || !n.later_calls.empty();
    if (!n.layer || !n.layer->is_augmentation() || n.inputs.size() != 1 || shared || n.shape != nodes_[size_t(at)].shape)
      break;
    chain.push_back(next);
    at = next;
  }
  return chain;
}

void Graph::receive_grad(Node& n, const Tensor& g) {
  // The first gradient is used where it lies; a second one starts a sum in the node's own buffer.
  if (!n.grad) {
    n.grad = &g;
    return;
  }
  if (n.grad != &n.grad_sum) {
    // The sum of the two in one pass on the threads, rather than a copy of the first and an add.
    n.grad_sum.resize(n.grad->shape());
    kernels::add(n.grad->data(), g.data(), n.grad_sum.data(), g.size());
    n.grad = &n.grad_sum;
    return;
  }
  kernels::accumulate(g.data(), n.grad_sum.data(), g.size());
}

void Graph::gather_shared_gradients(Node& first) {
  // The first call runs backward last of all the calls (it comes first in the order): its layer's
  // gradients then take the later calls' in.
  if (!first.ran_backward)
    for (const auto& [mine, theirs] : nodes_[size_t(first.later_calls[0])].shared_grads) mine->fill(0.0f);
  for (int c : first.later_calls) {
    const Node& call = nodes_[size_t(c)];
    if (!call.ran_backward) continue;
    for (const auto& [mine, theirs] : call.shared_grads) kernels::accumulate(theirs->data(), mine->data(), mine->size());
  }
}

void Graph::backward(const std::vector<const Tensor*>& output_grads, NodeDone on_node_done, void* context) {
  for (auto& n : nodes_) {
    n.grad = nullptr;
    n.ran_backward = false;
    for (auto& g : n.out_grads) g = nullptr;
  }
  size_slots(input_grad_slots_, input_grad_slot_values_, output_grads[0]->rows());
  for (size_t k = 0; k < outputs_.size(); ++k) receive_grad(nodes_[size_t(outputs_[k])], *output_grads[k]);
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node& n = nodes_[i];
    if (n.keeps_grad && n.grad && n.grad != &n.grad_sum) {
      n.grad_sum.resize(n.grad->shape());
      n.grad_sum.copy_from(*n.grad);
      n.grad = &n.grad_sum;
    }
    if (n.is_input) continue;  // the plan for input gradients: an input's gradient ends here
    if (n.tap_of >= 0) {
      if (n.runs_backward && n.grad) nodes_[size_t(n.tap_of)].out_grads[size_t(n.tap_output)] = n.grad;
      continue;
    }
    if (!n.out_grads.empty()) {
      // Several outputs: backward runs when any of them has a gradient.
      n.out_grads[0] = n.grad;
      const bool any = std::any_of(n.out_grads.begin(), n.out_grads.end(), [](const Tensor* g) { return g; });
      if (n.runs_backward && any) {
        n.ran_backward = true;
        n.layer->backward_outputs(n.out_grads, n.in_grads);
        for (size_t j = 0; j < n.inputs.size(); ++j) {
          Node& in = nodes_[size_t(n.inputs[j])];
          if (in.runs_backward && n.in_grads[j]) receive_grad(in, *n.in_grads[j]);
        }
      }
    } else if (n.runs_backward && n.grad) {
      n.ran_backward = true;
      if (n.inputs.size() == 1) {
        const Tensor& dx = n.layer->backward(*n.grad);
        Node& in = nodes_[size_t(n.inputs[0])];
        if (in.runs_backward) receive_grad(in, dx);
      } else {
        n.layer->backward_inputs(*n.grad, n.in_grads);
        for (size_t j = 0; j < n.inputs.size(); ++j) {
          Node& in = nodes_[size_t(n.inputs[j])];
          if (in.runs_backward && n.in_grads[j]) receive_grad(in, *n.in_grads[j]);
        }
      }
    }
    if (n.first_call >= 0) continue;  // a later call: its gradients join the first call's below
    if (!n.later_calls.empty()) gather_shared_gradients(n);
    if (on_node_done && (n.ran_backward || !n.later_calls.empty())) on_node_done(context, int(i));
  }
}

}  // namespace myelin::graph
