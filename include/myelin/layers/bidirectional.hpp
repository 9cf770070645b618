// Bidirectional: Keras 3's wrapper that runs a recurrent layer over a sequence forwards and a copy of
// it backwards, and merges the two outputs.
//
// `Bidirectional(LSTM(32, {.return_sequences = true}))`. The backward copy has the wrapped layer's
// config with go_backwards flipped, and its own weights. With return_sequences the backward layer's
// steps are put back in the input's time order before merging, so step t of the output holds both
// directions' states at input step t. merge_mode (Keras's default "concat"): "concat" joins the two
// along the last axis (forward first, 2*units), "sum", "mul" and "ave" combine them element-wise.
// merge_mode None (two outputs) is not supported.
//
// With return_state on the wrapped layer the call returns, as Keras 3, the merged output followed by
// the forward layer's final states, then the backward layer's: [output, h_fw, c_fw, h_bw, c_bw] for
// LSTM, [output, h_fw, h_bw] for GRU and SimpleRNN (call_outputs; Python returns the list). The
// backward layer's final state is its state after reading the first step. Every output takes a
// gradient. An initial state is not supported.
//
// Weights as Keras 3 names them: the forward layer's under "forward_<name>/", then the backward's
// under "backward_<name>/", <name> being the wrapped layer's name ("lstm" when it has none):
// "bidirectional/forward_lstm/kernel", ...
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "myelin/layers/recurrent.hpp"

namespace myelin::layers {

class Bidirectional : public Layer {
  MYELIN_LAYER_MOVABLE(Bidirectional)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `Bidirectional(GRU(16), "sum")`; the wrapped layer's input_shape, if given, is the wrapper's.
  template <class L, class = std::enable_if_t<std::is_base_of_v<Recurrent, std::decay_t<L>>>>
  explicit Bidirectional(L&& layer, const std::string& merge_mode = "concat")
      : Bidirectional(std::shared_ptr<Recurrent>(std::make_shared<std::decay_t<L>>(std::forward<L>(layer))),
                      merge_mode) {}
  /// The shared form; `backward` (Keras's backward_layer) replaces the copy made from `layer`, and
  /// must be of the same class with the same return_sequences and go_backwards flipped.
  Bidirectional(std::shared_ptr<Recurrent> layer, const std::string& merge_mode = "concat",
                std::shared_ptr<Recurrent> backward = nullptr, std::optional<Shape> input_shape = std::nullopt);

  std::string class_name() const override { return "Bidirectional"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  int num_outputs() const override { return 1 + (forward_->options().return_state ? 2 * forward_->num_states() : 0); }
  Shape extra_output_shape(int k) const override;
  const Tensor& extra_output(int k) const override;
  void backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& input_grads) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override;
  void reseed(Rng& rng) override;
  bool uses_input_masks() const override { return true; }
  MaskFlow mask_flow() const override { return forward_->mask_flow(); }

  Recurrent& forward_layer() { return *forward_; }
  Recurrent& backward_layer() { return *backward_; }
  const std::string& merge_mode() const { return merge_mode_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  void sync_flags();
  void split_output_grad(const Tensor& dy);  // d(merged output) -> dyf_, dyb_
  std::shared_ptr<Recurrent> forward_, backward_;
  std::string merge_mode_;
  int mode_ = 0;  // kernels::BidirectionalMerge
  Tensor y_, dx_, dyf_, dyb_, no_grad_;
  std::vector<const Tensor*> grads_f_, grads_b_, in_grad_f_, in_grad_b_;  // backward_outputs' per-direction lists
  const Tensor* yf_ = nullptr;  // the two layers' outputs of the last forward (their own buffers)
  const Tensor* yb_ = nullptr;
  Shape shape_buf_;
};

}  // namespace myelin::layers
