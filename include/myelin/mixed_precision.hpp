// Mixed precision, as Keras's keras.mixed_precision: a dtype policy says in which type layers compute.
//
// "float32" (the default): everything in float32. "mixed_bfloat16": Dense, Conv2D, Conv1D, SimpleRNN,
// LSTM, GRU, MultiHeadAttention and Attention multiply in bfloat16 (oneDNN's bf16 primitives or
// kernels of our own), accumulating in float32 (the recurrent layers' state, gates, weight gradients
// and their products too small for bfloat16 to pay, such as a batch-1 step's on one thread, stay float32:
// myelin/layers/recurrent.hpp; so does the attention layers' softmax:
// myelin/layers/multi_head_attention.hpp); their
// weights, the optimizer's state, activations between layers, losses and softmax stay float32 (the
// weights are cast per step), so saved files hold float32 weights. Two activations travel in bfloat16
// (layers::set_bf16_handover): in inference passes, a Conv2D's output read only by the next Conv2D,
// which would round it to bfloat16 anyway; in training passes, a linear Conv2D's output read only by
// a BatchNormalization, which normalises those values in float32, as Keras's normalisation reads the
// bfloat16 output of the convolution before it. "auto": "mixed_bfloat16" where it runs faster than
// float32, on CPUs with AMX, or with AVX512_BF16 on AMD (Zen 4); "float32" elsewhere, including Intel
// CPUs with AVX512_BF16 and no AMX, whose bfloat16 dot products run at half float32's rate of
// multiply-adds, so that mixed_bfloat16 is slower there (it still runs when named).
//
// A layer takes the global policy when it is made (or the one its config names: Keras's
// "dtype": {"class_name": "DTypePolicy", "config": {"name": ...}}) and keeps it.
#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace myelin::mixed_precision {

/// Sets the policy layers made from now on take. Throws ValueError for an unknown name, and Error for
/// "mixed_bfloat16" on a CPU without bfloat16 dot products. "auto" resolves to "mixed_bfloat16" where it
/// runs faster than float32 (above), else to "float32".
void set_global_policy(const std::string& name);
/// "float32" or "mixed_bfloat16" ("auto" is resolved when set).
std::string global_policy();
/// Whether this CPU runs oneDNN's bfloat16 kernels (AVX512_BF16 or AMX-BF16), by oneDNN's ISA query.
bool bf16_supported();
/// Whether "mixed_bfloat16" runs faster than "float32" on this CPU: it has AMX, or AVX512_BF16 and is an
/// AMD CPU (see "auto" above). The choice "auto" makes, read from the CPU alone.
bool bf16_faster_than_float32();

/// A layer's policy from its config's "dtype" (absent or null: the global policy). Accepts Keras 3's
/// {"class_name": "DTypePolicy", "config": {"name": ...}}, Keras 2's "Policy" and a plain name.
std::string policy_from_config(const nlohmann::json& config, const std::string& who);
/// A layer's policy from its `dtype` option: empty means the global policy, else a name as
/// policy_from_config takes it.
std::string layer_policy(const std::string& dtype, const std::string& who);
/// Keras 3's form of a policy in a layer config.
nlohmann::json policy_to_config(const std::string& name);

}  // namespace myelin::mixed_precision
