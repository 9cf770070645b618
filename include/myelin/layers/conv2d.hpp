// Conv2D: 2-D convolution over NHWC images, y = activation(conv(x, kernel) + bias), as Keras's
// layers.Conv2D with data_format='channels_last'.
//
// The kernel is stored in Keras's layout {kernel_h, kernel_w, in_channels, filters}, so weights move
// between myelin and Keras unchanged. Output sizes follow Keras: 'valid' keeps the windows that fit,
// floor((in - (k-1)*d - 1) / s) + 1; 'same' gives ceil(in / s), padding with zeros and putting the
// odd row or column at the bottom or right.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::kernels {
class Conv2DKernel;
class ConvReluMaxPoolKernel;
struct ConvPoolGeometry;
}

namespace myelin::layers {

class BatchNormalization;

/// A pair of sizes (height, width): `{3, 3}`, or one number for both: `3`.
struct Size2 {
  int64_t h = 1, w = 1;
  Size2() = default;
  Size2(int64_t both) : h(both), w(both) {}
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
  bool operator==(const Size2&) const = default;
};

/// Keras's keyword arguments of Conv2D, with its defaults.
struct Conv2DOptions {
  std::optional<Shape> input_shape;  ///< per-sample {H, W, C}, for the first layer
  Size2 strides = {1, 1};
  std::string padding = "valid";  ///< "valid" or "same"
  Size2 dilation_rate = {1, 1};
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer;
  std::optional<Regularizer> bias_regularizer;
  std::string name;
  std::string dtype;  ///< dtype policy (myelin/mixed_precision.hpp); empty: the global policy
};

class Conv2D : public Layer {
  MYELIN_LAYER_MOVABLE(Conv2D)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `Conv2D(32, {3, 3}, "relu")`; `Conv2D(64, 3, "relu", {.strides = 2, .padding = "same"})`.
  Conv2D(int64_t filters, Size2 kernel_size, const std::string& activation = "linear", Conv2DOptions options = {});
  /// Short form for a first layer: `Conv2D(32, {3, 3}, "relu", Shape{28, 28, 1})`.
  template <class S, class = std::enable_if_t<std::is_same_v<std::decay_t<S>, Shape>>>
  Conv2D(int64_t filters, Size2 kernel_size, const std::string& activation, S&& input_shape)
      : Conv2D(filters, kernel_size, activation, options_with_shape(std::forward<S>(input_shape))) {}
  ~Conv2D() override;
  Conv2D(Conv2D&&) noexcept;

  std::string class_name() const override { return "Conv2D"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override;
  ActivationKindOpt output_activation() const override { return activation_; }

  int64_t filters() const { return filters_; }
  Size2 kernel_size() const { return kernel_size_; }
  ActivationKind activation() const { return activation_; }
  const Conv2DOptions& options() const { return options_; }
  Tensor& kernel() { return kernel_; }
  Tensor& bias() { return bias_; }
  bool output_is_relu() const override { return activation_ == ActivationKind::ReLU && !output_logits_; }
  /// A relu convolution with stride 1, no dilation, 'valid' or 'same' padding and at most 32
  /// weights per filter, before a MaxPooling2D of pool 2, stride 2, 'valid'.
  bool can_fuse_next(const Layer& next) const override;
  /// A convolution without activation, channels last, before a BatchNormalization of its channels.
  bool can_fold_next(const Layer& next) const override;
  /// Any convolution folding its normalisation adds the Add's other input as it computes.
  bool can_fold_add() const override { return true; }
  /// A convolution without activation whose shape can_fuse_next takes, before such a MaxPooling2D.
  bool can_fold_pool(const Layer& pool) const override;

  /// For the graph's plan of inference passes: whether this layer may hand its output to a next
  /// Conv2D in bfloat16, or take its input so (both layers must). It computes in bfloat16
  /// (mixed_bfloat16 on a CPU that has it) and its activation is linear or relu.
  bool can_hand_over_bf16() const;
  /// Whether a training pass may write its output in bfloat16 for the BatchNormalization reading it
  /// alone (BatchNormalization::set_bf16_source): can_hand_over_bf16 with a linear activation, whose
  /// backward reads nothing of the output.
  bool can_hand_over_bf16_in_training() const;
  /// Whether a training pass may take its input in bfloat16 from the BatchNormalization before it
  /// (BatchNormalization::set_bf16_write): can_hand_over_bf16, more than one input channel (a
  /// one-channel weight gradient reads float32) and no pooling applied after it.
  bool can_take_bf16_in_training() const;
  /// Set by the graph before each forward: `write`, the output is written in bfloat16 where the
  /// convolution can (bf16_output says whether it was), for an inference pass's next Conv2D or a
  /// training pass's BatchNormalization; `source`, the layer whose output this one reads, taken as
  /// bfloat16 when that one's bf16_output() holds (a Conv2D in inference passes, a
  /// BatchNormalization in training passes). (false, nullptr): float32 both.
  void set_bf16_handover_plan(bool write, const Layer* source) {
    bf16_write_ = write;
    bf16_source_ = source;
  }
  /// Whether the last forward's output tensor holds bfloat16 values (NHWC, as uint16_t bits in its
  /// first half) rather than float32: only in a pass the graph planned so, for its one reader.
  bool bf16_output() const override { return wrote_bf16_; }
  /// Whether the backward after the last forward takes d(loss)/d(output) in bfloat16 as it is: the
  /// forward wrote its output in bfloat16 for a training pass's normalisation, and the convolution
  /// multiplies in bfloat16, which rounds a float32 gradient the same way (Conv2DKernel::reads_bf16_dy).
  bool reads_bf16_output_grad() const;
  /// Set by the graph before each forward: the BatchNormalization reading this layer's output alone
  /// in a training pass, whose backward may hand d(loss)/d(output) over in bfloat16
  /// (BatchNormalization::bf16_input_grad); null: float32.
  void set_bf16_grad_source(const BatchNormalization* source) { bf16_grad_source_ = source; }

 protected:
  std::vector<Param> own_params() override;

 private:
  static Conv2DOptions options_with_shape(Shape s) {
    Conv2DOptions o;
    o.input_shape = std::move(s);
    return o;
  }
  // Whether `next` is a pooling the fused pass applies after this layer's relu (ConvReluMaxPoolKernel).
  bool pooling_fits(const Layer& next) const;
  // The fused convolution and pooling's geometry (fuses_next_, folds_pool_) for `batch` samples.
  kernels::ConvPoolGeometry conv_pool_geometry(int64_t batch) const;
  // The fused pass: relu(conv(x, kernel) + bias) pooled into the output, with the winners when kept.
  const Tensor& pooled_forward(const Tensor& x, const float* kernel, const float* bias, bool keep_winners);
  // Makes folded_kernel_ and folded_bias_ current for folded_next_ (a BatchNormalization).
  void fold_next();
  int64_t filters_;
  Size2 kernel_size_;
  ActivationKind activation_;
  ActivationKind act_ = ActivationKind::Linear;  // the one the last forward applied
  bool fused_relu_ = false;                      // relu applied inside the convolution
  Conv2DOptions options_;
  int64_t in_h_ = 0, in_w_ = 0, in_c_ = 0, out_h_ = 0, out_w_ = 0;
  int64_t pad_top_ = 0, pad_bottom_ = 0, pad_left_ = 0, pad_right_ = 0;
  std::unique_ptr<kernels::Conv2DKernel> kernel_impl_;
  std::unique_ptr<kernels::ConvReluMaxPoolKernel> pooled_impl_;  // fuses_next_: made on first use
  std::vector<uint8_t> winner_;  // fuses_next_: each pooled output's winning window
  bool winner_ready_ = false;    // winner_ belongs to the last forward
  Tensor kernel_, bias_, kernel_grad_, bias_grad_;
  // folded_next_: the kernel and bias with the normalisation folded in, and the values they were
  // made from (kernel, bias, then the normalisation's scale and shift), to make them again only
  // when one of those changed.
  std::vector<float> folded_kernel_, folded_bias_, folded_from_, folding_work_;
  uint64_t folded_version_ = 0;  // numbers folded_kernel_'s values, new at each fold, for kernel_impl_
  bool bf16_write_ = false, wrote_bf16_ = false;  // set_bf16_handover_plan, bf16_output
  const Layer* bf16_source_ = nullptr;
  const BatchNormalization* bf16_grad_source_ = nullptr;
  Tensor x_;  // view of the last forward batch's input
  Tensor z_, y_, dz_, dx_, no_grad_;
  Shape shape_buf_;
};

/// Whether 3x3 convolutions with stride 1 may run as Winograd F(4x4, 3x3) instead of direct
/// convolution: in float32, the forward pass where the channels fill whole vectors of the CPU and
/// the output has 4 tiles of 4x4 or more (myelin's own kernel, at any batch size), and the backward
/// pass where the channels are multiples of 16, with at least 64 output positions and batches of 16
/// or more (oneDNN's kernel). On by default: the Fashion-MNIST CNN's second convolution then trains
/// about 1.5x faster and predicts one image about 2.2x faster. Winograd rounds differently: its
/// outputs and gradients are off by a few 1e-6 of the tensor's largest value (a direct
/// convolution's by a few 1e-7), which makes no difference to training but can to a comparison of
/// single near-zero outputs with another library. Turn it off for those; it applies from the next
/// forward pass of every Conv2D.
void set_winograd_convolutions(bool allowed);
/// Whether Winograd convolutions are allowed now (see set_winograd_convolutions).
bool winograd_convolutions();

/// Whether passes under mixed_bfloat16 may hand a Conv2D's output over in bfloat16 (where the graph
/// planned it), so that it is written and read in half the bytes: in inference passes to the Conv2D
/// after it (which reads it alone, through at most a folded normalisation and its relu, and rounds
/// its input to bfloat16 anyway: predictions stay within bfloat16's rounding of the float32
/// hand-over); in training passes, for a linear Conv2D, to the BatchNormalization reading it alone
/// (its statistics, output and gradients then come from the rounded values, as in Keras). On by
/// default; applies from the next forward pass. For tests and benchmarks.
void set_bf16_handover(bool allowed);
/// Whether that hand-over is allowed now (see set_bf16_handover).
bool bf16_handover();

}  // namespace myelin::layers
