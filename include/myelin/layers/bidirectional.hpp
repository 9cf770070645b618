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
  std::shared_ptr<Recurrent> forward_, backward_;
  std::string merge_mode_;
  int mode_ = 0;  // kernels::BidirectionalMerge
  Tensor y_, dx_, dyf_, dyb_, no_grad_;
  const Tensor* yf_ = nullptr;  // the two layers' outputs of the last forward (their own buffers)
  const Tensor* yb_ = nullptr;
  Shape shape_buf_;
};

}  // namespace myelin::layers
