// Recurrent layers over sequences, as Keras 3's SimpleRNN, LSTM and GRU.
//
// Input (batch, steps, features); output the last step's state (batch, units), or with
// return_sequences every step's (batch, steps, units). The state starts at zero for each batch, or
// at an initial state given as further inputs of the call (Keras's initial_state): h (batch, units)
// for SimpleRNN and GRU, h and c for LSTM. With return_state the call returns the final state too:
// [output, h] (LSTM: [output, h, c]), as `layer.call_outputs({x})` in C++.
// With go_backwards the steps run from the last to the first and a returned sequence is in the
// order they ran (reversed in time), as Keras returns it.
//
// Weights as Keras 3 stores them, so Keras's files map directly, with G gates (SimpleRNN 1, LSTM 4,
// GRU 3): "kernel" (features, G*units), "recurrent_kernel" (units, G*units) and "bias" (G*units;
// GRU (2, 3*units): the input bias, then the recurrent one). Gate order: LSTM i, f, c, o; GRU z, r, h.
//
//   SimpleRNN: h = activation(x W + h' U + b)
//   LSTM:      i, f, o = recurrent_activation(...), c = f c' + i activation(x W_c + h' U_c + b_c),
//              h = o activation(c)
//   GRU (reset_after=True, Keras 3's default and cuDNN's/PyTorch's form):
//              z, r = recurrent_activation(x W + b_i + h' U + b_r), hh = activation(x W_h + b_ih +
//              r (h' U_h + b_rh)), h = z h' + (1 - z) hh
//
// dropout and recurrent_dropout as Keras 3, while training: one mask per sample for the whole
// sequence, on the input's features and on the state h_{t-1} wherever a step reads it (one mask for
// every gate), drawn from the layer's own stream (seeded by the model, as Dropout's).
//
// Inside the cells tanh and sigmoid are a rational approximation within 4e-7 of the exact values
// (it vectorises; the cells' element-wise work is most of their cost: bench/README.md).
//
// Masks (Embedding's mask_zero, Masking), as Keras 3: a masked step leaves the state as it was and
// its input unread, so the last output and the final state are those after a sample's last data
// step, whatever padding follows. A returned sequence holds, at a masked step, the output of the
// step before (zeros before any), or zeros with zero_output_for_mask (Bidirectional sets it to
// return_sequences, as Keras does); the output keeps the input's mask with return_sequences (as
// Keras, unreversed under go_backwards) and drops it without.
//
// Under the dtype policy "mixed_bfloat16" (myelin/mixed_precision.hpp) the products where bfloat16
// pays multiply bfloat16 operands into float32 sums: the forward's input projection and each step's
// recurrent products, and the input's gradient, wherever they have 16 rows and 2^17 multiply-adds or
// more (a step's rows: those a thread carries of the batch). At batch 1, where several threads share
// each step's units (64 units or more, a multiple of 16, no mask), each step's recurrent products
// multiply in bfloat16 too, on CPUs with AVX512_BF16 and no AMX, in sequences where six steps or more
// multiply. Smaller products (each step's on one thread or for few units, all of a batch-1 single
// step's), the weight gradients and backward's step products stay float32, where bfloat16 measured
// no faster. The weights, the state, the gates and every element-wise step stay float32.
//
// Not supported (an error names the argument): stateful, GRU's reset_after=False,
// activations other than tanh, sigmoid, relu and linear (their derivatives follow from their
// outputs, which is all backward keeps).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::kernels {
struct RecurrentWorkspace;
}

namespace myelin::layers {

/// Keras's keyword arguments of the recurrent layers, with their defaults.
struct RecurrentOptions {
  std::optional<Shape> input_shape;  ///< per sample (steps, features), for the first layer
  std::string activation = "tanh";
  std::string recurrent_activation = "sigmoid";  ///< LSTM and GRU
  bool use_bias = true;
  bool return_sequences = false;
  bool go_backwards = false;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  bool unit_forget_bias = true;  ///< LSTM: the forget gate's bias starts at 1
  bool reset_after = true;       ///< GRU: only true is supported
  std::optional<Regularizer> kernel_regularizer;
  std::optional<Regularizer> recurrent_regularizer;
  std::optional<Regularizer> bias_regularizer;
  float dropout = 0.f;            ///< fraction of the input's features dropped, in [0, 1)
  float recurrent_dropout = 0.f;  ///< fraction of the state's units dropped, in [0, 1)
  bool return_state = false;      ///< the call returns [output, h] (LSTM [output, h, c])
  bool zero_output_for_mask = false;  ///< a returned sequence's masked steps are zeros (else a copy of the step before)
  std::string dtype;  ///< dtype policy (myelin/mixed_precision.hpp); empty: the global policy
  std::string name;
};

/// What SimpleRNN, LSTM and GRU share: the shapes, weights, config, and the calls into the cell kernel.
class Recurrent : public Layer {
 public:
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;

  /// The state's tensors: h (SimpleRNN, GRU), or h and c (LSTM).
  int num_states() const { return gates_ == 4 ? 2 : 1; }
  /// The input, optionally followed by the initial state (num_states() tensors of shape (units)).
  std::string check_input_count(size_t count) const override;
  Shape build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) override;
  std::optional<LayerPlan> plan_inputs(const std::vector<Shape>& input_shapes) const override;
  const Tensor& forward_inputs(const std::vector<const Tensor*>& inputs, bool training) override;
  void backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) override;
  int num_outputs() const override { return options_.return_state ? 1 + num_states() : 1; }
  Shape extra_output_shape(int k) const override;
  const Tensor& extra_output(int k) const override;
  void backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& input_grads) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override;
  void reseed(Rng& rng) override { rng_ = rng.split(); }
  bool uses_input_masks() const override { return true; }
  MaskFlow mask_flow() const override { return options_.return_sequences ? MaskFlow::First : MaskFlow::Drop; }
  /// Keras's zero_output_for_mask (Bidirectional sets its layers' to return_sequences).
  void set_zero_output_for_mask(bool v) { options_.zero_output_for_mask = v; }

  int64_t units() const { return units_; }
  const RecurrentOptions& options() const { return options_; }
  /// The dtype policy the layer was made with: "float32" or "mixed_bfloat16".
  const std::string& dtype_policy() const { return options_.dtype; }
  Tensor& kernel() { return kernel_; }
  Tensor& recurrent_kernel() { return recurrent_kernel_; }
  Tensor& bias() { return bias_; }

 protected:
  /// gates: 1, 4 or 3 (the kernel's cell is chosen from it).
  Recurrent(int gates, int64_t units, RecurrentOptions options);
  std::vector<Param> own_params() override;

 private:
  int gates_;
  int64_t units_;
  int64_t steps_ = 0, features_ = 0;
  ActivationKind activation_, recurrent_activation_;
  RecurrentOptions options_;
  bool bf16_ = false;  // mixed_bfloat16 on a CPU with bfloat16 dot products
  Tensor kernel_, recurrent_kernel_, bias_, kernel_grad_, recurrent_kernel_grad_, bias_grad_;
  Tensor x_;  // view of the last forward batch's input (after input dropout)
  Tensor mask_;        // view of the last forward's input mask (masked_)
  bool masked_ = false;
  Tensor y_, dx_, no_grad_;
  Tensor h_out_, c_out_;      // the final state (return_state)
  Tensor dh0_, dc0_;          // d(loss)/d(initial state)
  int states_given_ = 0;      // the last forward's initial state: 0, or num_states()
  // The one-input forms' arguments to the graph forms, kept so that a step allocates nothing.
  std::vector<const Tensor*> one_input_ = {nullptr}, one_grad_ = {nullptr}, one_input_grad_;
  Rng rng_{0};                        // the dropout masks' stream, seeded from the model's at build
  Tensor x_dropped_, input_mask_, recurrent_mask_;
  bool input_dropped_ = false, recurrent_dropped_ = false;  // the last forward's masks apply
  Shape shape_buf_;
  // The kernel's buffers, refilled by every forward; a copy of the layer starts with empty ones.
  struct Scratch {
    Scratch();
    Scratch(const Scratch&);
    Scratch(Scratch&&) noexcept;
    Scratch& operator=(const Scratch&);
    Scratch& operator=(Scratch&&) noexcept;
    ~Scratch();
    std::unique_ptr<kernels::RecurrentWorkspace> ws;
    bool kept = false;  // ws holds what backward needs for the last forward
  } scratch_;
};

/// Keras's SimpleRNN: `SimpleRNN(32)`, `SimpleRNN(16, {.activation = "relu", .return_sequences = true})`.
class SimpleRNN : public Recurrent {
  MYELIN_LAYER_MOVABLE(SimpleRNN)
  explicit SimpleRNN(int64_t units, RecurrentOptions options = {});
  std::string class_name() const override { return "SimpleRNN"; }
};

/// Keras's LSTM: `LSTM(64, {.input_shape = Shape{20, 8}, .return_sequences = true})`.
class LSTM : public Recurrent {
  MYELIN_LAYER_MOVABLE(LSTM)
  explicit LSTM(int64_t units, RecurrentOptions options = {});
  std::string class_name() const override { return "LSTM"; }
};

/// Keras's GRU (reset_after=True): `GRU(32)`.
class GRU : public Recurrent {
  MYELIN_LAYER_MOVABLE(GRU)
  explicit GRU(int64_t units, RecurrentOptions options = {});
  std::string class_name() const override { return "GRU"; }
};

}  // namespace myelin::layers
