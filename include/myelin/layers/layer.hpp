// Layer: the interface every layer implements, and LayerHandle, which lets models take layers by value.
//
// A layer is built once with its per-sample input shape (no batch dimension), then runs
// forward(x, training) and backward(dy) on batches. Outputs and input gradients live in buffers the
// layer owns or a model's graph lends it (lend_buffers), sized on the first batch and reused, so the
// steady-state training loop allocates nothing.
#pragma once
#include <memory>

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "myelin/activations.hpp"
#include "myelin/random.hpp"
#include "myelin/regularizers.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

/// A tensor a layer owns: a trainable weight with its gradient, or a non-trainable one that is saved
/// with the weights but never sees the optimizer (BatchNormalization's moving statistics, or any
/// weight of a frozen layer).
struct Param {
  std::string name;  ///< "kernel", "bias" (the model prefixes the layer's name: "dense/kernel")
  Tensor* value;
  Tensor* grad;                    ///< null when not trainable
  const Regularizer* regularizer;  ///< null when none
  bool trainable = true;
};

using ActivationKindOpt = std::optional<ActivationKind>;

/// What a layer's build() creates for an input shape, worked out without allocating: the model
/// adds these up and refuses an architecture too big for the machine before any layer allocates
/// (myelin/memory_limit.hpp).
struct LayerPlan {
  Shape output_shape;                ///< per sample, as build() returns it
  int64_t trainable_values = 0;      ///< weights with a gradient (and optimizer state)
  int64_t non_trainable_values = 0;  ///< state without a gradient (BatchNormalization's moving statistics)
  int64_t buffer_values = 0;         ///< other floats build() allocates (per-channel scratch)
};

class SymbolicTensor;  // myelin/layers/symbolic_tensor.hpp
struct SymbolicNode;
SymbolicTensor call_layer(std::shared_ptr<class Layer> layer, const std::vector<SymbolicTensor>& inputs);
std::vector<SymbolicTensor> call_layer_outputs(std::shared_ptr<class Layer> layer,
                                               const std::vector<SymbolicTensor>& inputs);

class Layer : public std::enable_shared_from_this<Layer> {
 public:
  virtual ~Layer() = default;

  /// Keras's class name ("Dense").
  virtual std::string class_name() const = 0;
  /// The layer's name, unique in its model ("dense", "dense_1"); set by the model when empty.
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  /// The input shape given with the layer (Keras's input_shape=), if any.
  const std::optional<Shape>& declared_input_shape() const { return input_shape_; }

  /// Creates parameters for a per-sample input shape and returns the per-sample output shape.
  /// Throws ShapeError when the input shape does not fit the layer.
  virtual Shape build(const Shape& input_shape, Rng& rng) = 0;
  /// What build(input_shape) would create, without allocating or changing the layer; throws the
  /// ShapeError build() would throw. std::nullopt when the layer cannot tell (one defined outside
  /// myelin): the model then checks the layers before it only.
  virtual std::optional<LayerPlan> plan(const Shape& /*input_shape*/) const { return std::nullopt; }
  /// The graph form of plan(): layers with several inputs override it; the default adapts plan().
  virtual std::optional<LayerPlan> plan_inputs(const std::vector<Shape>& input_shapes) const;
  bool built() const { return built_; }
  /// Keras's layer.output_shape: the per-sample output shape of its calls, once a model built it
  /// (empty before, and for an InputLayer).
  const Shape& output_shape() const { return built_output_shape_; }

  /// Computes the output of a batch. The reference stays valid until the next forward call.
  virtual const Tensor& forward(const Tensor& x, bool training) = 0;
  /// Given d(loss)/d(output) of the last forward batch, writes the parameters' gradients
  /// (overwriting them) and returns d(loss)/d(input). When input gradients are not needed
  /// (first layer) the returned tensor may be empty.
  virtual const Tensor& backward(const Tensor& dy) = 0;

  /// Graph form: how many inputs the layer takes: 1, or -1 for a list of two or more (merge layers).
  virtual int num_inputs() const { return 1; }
  /// Why a call with `count` inputs does not suit the layer ("takes one input, got a list of 3"), or
  /// "" when it does. The default follows num_inputs(); a recurrent layer also takes its initial state.
  virtual std::string check_input_count(size_t count) const;

  /// How many tensors a call returns: 1, or more (LSTM with return_state: [output, h, c]). Output 0
  /// is what forward() returns; the others are read through extra_output() after each forward.
  virtual int num_outputs() const { return 1; }
  /// Per-sample shape of output k (1 <= k < num_outputs()), once built.
  virtual Shape extra_output_shape(int k) const;
  /// Output k (1 <= k < num_outputs()) of the last forward, valid until the next one.
  virtual const Tensor& extra_output(int k) const;
  /// Backward with one gradient per output, each null where nothing reads that output (output 0's
  /// too): sets input_grads as backward_inputs does. The graph calls it for layers with several
  /// outputs only; the default, for one output, is backward_inputs.
  virtual void backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& input_grads);
  /// Graph form of build/forward/backward. A layer with several inputs (Add, Concatenate) overrides
  /// these; the defaults adapt the one-input form above, so a one-input layer implements only that.
  virtual Shape build_inputs(const std::vector<Shape>& input_shapes, Rng& rng);
  virtual const Tensor& forward_inputs(const std::vector<const Tensor*>& inputs, bool training);
  /// Given d(loss)/d(output), sets input_grads[k] to d(loss)/d(input k) (valid until the next call),
  /// or to null when set_needs_input_grad(false) was given.
  virtual void backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads);
  /// What models call: builds the layer for these input shapes the first time and returns the output
  /// shape; a layer already built (it belongs to another model too) returns the shape it was built
  /// for, and input shapes other than those are a ShapeError.
  Shape build_once(const std::vector<Shape>& input_shapes, Rng& rng);

  /// Keras's functional call: records this layer applied to `x` and returns the symbolic output,
  /// `auto y = layers::Dense(10)(x);`. A layer object is one layer: calling the same object again
  /// applies the same layer (and its weights) again. The model holds the layer; reach it afterwards
  /// through Model::get_layer.
  SymbolicTensor operator()(const SymbolicTensor& x);
  /// The call for a layer with several inputs: `layers::Add()({x, y})`.
  SymbolicTensor operator()(const std::vector<SymbolicTensor>& inputs);
  /// The call for a layer that returns several tensors, returning them all (one for other layers):
  /// `auto s = layers::LSTM(8, {.return_state = true}).call_outputs({x});` gives [output, h, c];
  /// the initial state follows the input, `decoder.call_outputs({y, s[1], s[2]})` (Keras's
  /// initial_state=[h, c]). operator() refuses a layer with several outputs.
  std::vector<SymbolicTensor> call_outputs(const std::vector<SymbolicTensor>& inputs);
  /// Keras's layer.output: the symbolic output of the layer's call, while a model (or a variable)
  /// holds the graph, so that `Model(inputs, model.get_layer("conv2d_1")->output())` extracts
  /// features. Throws ValueError for a layer never called or called more than once.
  SymbolicTensor output() const;

  /// The layer's weights, trainable ones first, then non-trainable state (empty for layers without any).
  /// While the layer is frozen (trainable() false) every weight is reported non-trainable, without a gradient.
  std::vector<Param> params();
  /// Number of weight values; with trainable_only, of the trainable ones (none while frozen).
  int64_t count_params(bool trainable_only = false);

  /// Keras's layer.trainable (default true). A frozen layer keeps its weights bit for bit through
  /// fit(): backward() computes no gradient for them (it still passes d(input) down to the layers
  /// below), the optimizer neither updates them nor keeps state for them, and they count as
  /// non-trainable (count_params(true), the model's summary()). A layer whose training mode differs
  /// from inference (BatchNormalization) runs in inference mode while frozen, as in Keras 3.
  /// A model picks up a change at its next compile(), fit() or train_on_batch(). Saved in get_config().
  bool trainable() const { return trainable_; }
  void set_trainable(bool trainable) { trainable_ = trainable; }

  /// Checks a whole model input that this layer reads directly, before fit, evaluate, predict or
  /// gradients run on it, so that an error names the row of the caller's array rather than of a
  /// shuffled batch: an Embedding's ids must be whole numbers in range. Throws naming the row and the
  /// position in the sample; the default accepts any value.
  virtual void check_model_input(const Tensor& /*x*/) const {}

  /// Keras's get_config(): the layer's constructor arguments as JSON ({"name": ..., "units": ...}),
  /// the architecture half of a saved model. The base gives name, trainable and, when declared,
  /// batch_input_shape; each layer adds its own arguments.
  virtual nlohmann::json get_config() const;

  /// The activation applied at the layer's output, if any (used to fuse it with the loss).
  virtual ActivationKindOpt output_activation() const { return std::nullopt; }
  /// With true, forward() skips the output activation and returns pre-activations (logits): the
  /// model then applies the activation itself, fused with the loss. The layer's configuration
  /// (output_activation()) is unchanged.
  void set_output_logits(bool v) { output_logits_ = v; }

  /// Floating-point operations of forward() per sample (once built): how heavy the layer is.
  /// Element-wise layers may leave it at 0.
  virtual int64_t flops_per_sample() const { return 0; }

  /// Reseeds the layer's own random stream (dropout masks) from `rng`; fit() calls it when given a seed.
  virtual void reseed(Rng& /*rng*/) {}

  /// True for Keras's augmentation layers (RandomFlip, RandomRotation, ...): no weights, and a
  /// training forward that depends only on its input and the layer's own random stream. When such
  /// layers open a model (right after its one input) and keep their input's shape, fit runs them
  /// on the data thread as each batch is read, when a core is left over by num_threads(), and the
  /// training step passes their input through (the same training either way).
  virtual bool is_augmentation() const { return false; }

  /// Masks (Keras's): a mask marks which steps of a sequence hold data. It is a float tensor
  /// [batch, steps], 1 where the step holds data and 0 where it is padding; Embedding(mask_zero)
  /// and Masking make one, and the graph carries it along to the layers that read it (recurrent
  /// layers skip masked steps, GlobalAveragePooling1D and attention leave them out). How the
  /// layer's output mask follows from its inputs' masks (Keras's supports_masking and
  /// compute_mask):
  enum class MaskFlow {
    Drop,   ///< no output mask: the layer does not support masking (Keras 3 drops the mask with a
            ///< warning; myelin drops it silently), or consumes it (a recurrent layer returning
            ///< its last state, GlobalAveragePooling1D)
    First,  ///< input 0's mask (Dense, Dropout, a recurrent layer with return_sequences, the
            ///< query's mask for attention)
    All,    ///< the AND of the masks its inputs carry (Add, Multiply, Concatenate on the last axis)
    Own,    ///< the layer makes it: output_mask() after each forward (Embedding, Masking)
  };
  virtual MaskFlow mask_flow() const { return MaskFlow::Drop; }
  /// Whether forward() reads its inputs' masks; the graph then hands them over first.
  virtual bool uses_input_masks() const { return false; }
  /// MaskFlow::Own: the mask of the last forward's output, valid until the next forward.
  virtual const Tensor* output_mask() const { return nullptr; }
  /// The masks of the next forward's inputs, one per input (null where that input has none);
  /// empty when the model carries no masks. Each stays valid until that forward's backward.
  virtual void set_input_masks(const std::vector<const Tensor*>& masks) { input_masks_.assign(masks.begin(), masks.end()); }
  void clear_input_masks() { input_masks_.clear(); }

  /// Whether backward() must compute d(loss)/d(input): false for the first layer of a model.
  void set_needs_input_grad(bool v) { needs_input_grad_ = v; }
  /// Whether backward() may follow the next forward() whatever its `training` (true by default).
  /// A model's inference pass sets false, so that forward() may skip what only backward() reads
  /// (max pooling's winners); an explanation's pass runs forward(training=false) and then backward().
  void set_backward_follows(bool v) { backward_follows_ = v; }

  /// Two neighbours can share a relu's backward. When this layer's output is relu(z)
  /// (output_is_relu) and the next layer can zero its input gradient wherever its input is not
  /// positive (can_mask_nonpositive_input: a max pooling knows it for free, a window's winner
  /// being its maximum), the model's graph sets both flags and this layer skips its own pass over
  /// the gradient: 0.55 ms of the Fashion-MNIST CNN's step at batch 128 (bench/README.md).
  virtual bool output_is_relu() const { return false; }
  virtual bool can_mask_nonpositive_input() const { return false; }
  void set_relu_masked_by_next(bool v) { relu_masked_by_next_ = v; }
  void set_mask_nonpositive_input(bool v) { mask_nonpositive_input_ = v; }

  /// Two neighbours can run as one pass. When this layer can apply the next one itself
  /// (can_fuse_next: a Conv2D with relu and few weights per filter before a 2x2 max pooling of
  /// stride 2; a BatchNormalization or an Add before a relu Activation) and nothing else reads its
  /// output, the model's graph sets fuses_next on this layer, whose forward() then returns the next
  /// layer's output and whose backward() takes the next layer's output gradient, and
  /// takes_fused_input on the next, which passes both through unchanged. The convolution's output,
  /// the widest tensor of a CNN, is then never written (bench/README.md, "The first convolution
  /// fused with its pooling"); a relu costs no pass of its own ("A relu applied by the layer before
  /// it").
  virtual bool can_fuse_next(const Layer& /*next*/) const { return false; }
  /// Whether the fused pass still gives this layer's input gradient: the graph fuses a layer whose
  /// input gradient is needed only when it does (a BatchNormalization or an Add applying the relu
  /// after it; not a convolution applying its pooling).
  virtual bool fused_pass_gives_input_grad() const { return false; }
  void set_fuses_next(bool v) { fuses_next_ = v; }
  void set_takes_fused_input(bool v) { takes_fused_input_ = v; }

  /// An inference pass can fold the next layer into this one. When this layer can compute the next
  /// one's output itself (can_fold_next: a Conv2D without activation before a BatchNormalization,
  /// whose moving statistics, gamma and beta become a scale of the kernel's filters and a bias) and
  /// nothing else reads its output, the model's graph hands this layer the next one
  /// (set_folded_next) and sets takes_fused_input on it, for passes that no backward follows only:
  /// training and explanations run the two apart. The normalisation's pass over the activations
  /// is then never made (bench/README.md, "BatchNormalization folded into the convolution").
  virtual bool can_fold_next(const Layer& /*next*/) const { return false; }
  void set_folded_next(const Layer* next) { folded_next_ = next; }
  /// A layer folding the next one may fold an Add after that one too (can_fold_add), as ONNX Runtime
  /// fuses a residual block's sum into its convolution: the graph then hands it, for each inference
  /// pass, the Add's other input (computed before this layer runs, of its output's shape) and
  /// whether a relu follows the Add (set_folded_add). Its output is then relu?(output + addend),
  /// which the Add passes on; a null addend folds no Add.
  virtual bool can_fold_add() const { return false; }
  /// A layer folding the next one, when that one applies the relu after it, may fold a pooling
  /// read only by that relu too (can_fold_pool): a network's stem, convolution, normalisation, relu
  /// and max pooling, in one pass. The graph sets folds_pool for inference passes; the pooling,
  /// folded in, passes this layer's (pooled) output on.
  virtual bool can_fold_pool(const Layer& /*pool*/) const { return false; }
  void set_folds_pool(bool v) { folds_pool_ = v; }
  void set_folded_add(const Tensor* addend, bool relu) {
    folded_addend_ = addend;
    folded_add_relu_ = relu;
  }

  /// A model's graph lends its layers buffers, each shared by layers whose use of it never
  /// overlaps, so that a model holds a few activations rather than one per layer: `output` receives
  /// forward()'s result in a pass with training false (backward() then never follows it), and
  /// `input_grad` receives backward()'s d(loss)/d(input). Null gives the layer back its own. The
  /// graph lends only what the layer writes (writes_lent_output, writes_lent_input_grad); a layer
  /// that writes neither may return a view of its input or of dy (Flatten), and the graph keeps
  /// those alive as long as the view.
  void lend_buffers(Tensor* output, Tensor* input_grad) {
    lent_output_ = output;
    lent_input_grad_ = input_grad;
  }
  virtual bool writes_lent_output() const { return false; }
  virtual bool writes_lent_input_grad() const { return false; }

  /// Whether the last forward's output tensor holds bfloat16 values (as uint16_t bits in its first
  /// half, the same layout) rather than float32: only in a mixed_bfloat16 pass the graph planned so,
  /// for the layers reading it (Conv2D, BatchNormalization).
  virtual bool bf16_output() const { return false; }
  /// Set by the graph before each forward: whether a training pass may write the output so for the
  /// Conv2D layers reading it (BatchNormalization, Add); other layers ignore it.
  virtual void set_bf16_write(bool /*write*/) {}

 protected:
  /// Where forward() writes its output and backward() d(loss)/d(input): the lent buffer, else `own`.
  Tensor& output_buffer(Tensor& own) { return lent_output_ ? *lent_output_ : own; }
  Tensor& input_grad_buffer(Tensor& own) { return lent_input_grad_ ? *lent_input_grad_ : own; }

  /// Moves this object into a new shared_ptr of its own class (what a functional call made on a
  /// layer passed by value keeps). Every layer class overrides it with one line.
  virtual std::shared_ptr<Layer> move_to_shared();
  /// The weights as the layer declares them, each marked trainable or not as when the layer is not
  /// frozen; params() applies trainable().
  virtual std::vector<Param> own_params() { return {}; }

  std::string name_;
  std::optional<Shape> input_shape_;
  bool built_ = false;
  bool trainable_ = true;
  bool needs_input_grad_ = true;
  bool backward_follows_ = true;
  bool output_logits_ = false;
  bool relu_masked_by_next_ = false;     // the next layer zeroes dy where this output is 0
  bool mask_nonpositive_input_ = false;  // zero d(input) where the input is not positive
  bool fuses_next_ = false;              // forward() applies the next layer too (can_fuse_next)
  bool takes_fused_input_ = false;       // the previous layer applied this one: pass through
  const Layer* folded_next_ = nullptr;   // an inference pass computes this next layer too (can_fold_next)
  const Tensor* folded_addend_ = nullptr;  // and adds this after it (can_fold_add)
  bool folded_add_relu_ = false;           // then applies a relu
  bool folds_pool_ = false;                // and the pooling after that relu (can_fold_pool)
  Tensor* lent_output_ = nullptr;
  Tensor* lent_input_grad_ = nullptr;
  /// Input k's mask for the next forward, or null (set_input_masks).
  const Tensor* input_mask(size_t k = 0) const { return k < input_masks_.size() ? input_masks_[k] : nullptr; }
  std::vector<const Tensor*> input_masks_;

 private:
  friend std::vector<SymbolicTensor> call_layer_outputs(std::shared_ptr<Layer> layer,
                                                        const std::vector<SymbolicTensor>& inputs);
  std::shared_ptr<Layer> self_for_call();
  std::shared_ptr<Layer> called_instance_;  // where this object's functional calls went (see operator())
  std::weak_ptr<const SymbolicNode> output_node_;  // its last call (output())
  int calls_ = 0;
  std::vector<Shape> built_input_shapes_;   // what build_once built for, and its output
  Shape built_output_shape_;
};

/// Inside a layer class: the one-line override of Layer::move_to_shared.
#define MYELIN_LAYER_MOVABLE(Class)                                 \
 protected:                                                         \
  std::shared_ptr<Layer> move_to_shared() override {                \
    return std::make_shared<Class>(std::move(*this));               \
  }                                                                 \
                                                                    \
 public:

/// A layer passed by value into a model: `Sequential({layers::Dense(10, "relu"), ...})`.
class LayerHandle {
 public:
  template <class L, class = std::enable_if_t<std::is_base_of_v<Layer, std::decay_t<L>>>>
  LayerHandle(L&& layer) : ptr_(std::make_shared<std::decay_t<L>>(std::forward<L>(layer))) {}
  LayerHandle(std::shared_ptr<Layer> layer) : ptr_(std::move(layer)) {}
  /// A shared layer of a derived type (`std::make_shared<layers::Dense>(10)`), kept to reach the
  /// layer later: to freeze it, to read its weights.
  template <class L, class = std::enable_if_t<std::is_base_of_v<Layer, L>>>
  LayerHandle(std::shared_ptr<L> layer) : ptr_(std::move(layer)) {}
  const std::shared_ptr<Layer>& get() const { return ptr_; }

 private:
  std::shared_ptr<Layer> ptr_;
};

}  // namespace myelin
