// Conv1D: 1-D convolution over sequences shaped (batch, steps, channels), y = activation(conv(x,
// kernel) + bias), as Keras's layers.Conv1D with data_format='channels_last'.
//
// The kernel is stored in Keras's layout {kernel_size, in_channels, filters}, so weights move between
// myelin and Keras unchanged. Output lengths follow Keras, with e = (kernel_size - 1) * dilation + 1:
// 'valid' keeps the windows that fit, floor((steps - e) / strides) + 1; 'same' gives
// ceil(steps / strides), padding with zeros and putting the odd step at the end; 'causal' pads
// (kernel_size - 1) * dilation zeros before the sequence only, so output t sees inputs up to t, and
// gives ceil(steps / strides) as well.
//
// The sequence runs through Conv2D's kernel as an image one row high: {1, kernel_size, C, F} is
// {kernel_size, C, F} in memory, so no data are copied or converted.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::kernels {
class Conv2DKernel;
}

namespace myelin::layers {

/// Keras's keyword arguments of Conv1D, with its defaults.
struct Conv1DOptions {
  std::optional<Shape> input_shape;  ///< per-sample {steps, channels}, for the first layer
  int64_t strides = 1;
  std::string padding = "valid";  ///< "valid", "same" or "causal"
  int64_t dilation_rate = 1;
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer;
  std::optional<Regularizer> bias_regularizer;
  std::string name;
  std::string dtype;  ///< dtype policy (myelin/mixed_precision.hpp); empty: the global policy
};

class Conv1D : public Layer {
  MYELIN_LAYER_MOVABLE(Conv1D)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `Conv1D(32, 3, "relu")`; `Conv1D(64, 5, "relu", {.padding = "causal", .dilation_rate = 2})`.
  Conv1D(int64_t filters, int64_t kernel_size, const std::string& activation = "linear", Conv1DOptions options = {});
  /// Short form for a first layer: `Conv1D(32, 3, "relu", Shape{100, 8})`.
  template <class S, class = std::enable_if_t<std::is_same_v<std::decay_t<S>, Shape>>>
  Conv1D(int64_t filters, int64_t kernel_size, const std::string& activation, S&& input_shape)
      : Conv1D(filters, kernel_size, activation, options_with_shape(std::forward<S>(input_shape))) {}
  ~Conv1D() override;
  Conv1D(Conv1D&&) noexcept;

  std::string class_name() const override { return "Conv1D"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override;
  ActivationKindOpt output_activation() const override { return activation_; }
  bool output_is_relu() const override { return activation_ == ActivationKind::ReLU && !output_logits_; }

  int64_t filters() const { return filters_; }
  int64_t kernel_size() const { return kernel_size_; }
  ActivationKind activation() const { return activation_; }
  const Conv1DOptions& options() const { return options_; }
  Tensor& kernel() { return kernel_; }
  Tensor& bias() { return bias_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  static Conv1DOptions options_with_shape(Shape s) {
    Conv1DOptions o;
    o.input_shape = std::move(s);
    return o;
  }
  struct Axis {
    int64_t out = 0, pad_begin = 0, pad_end = 0;
  };
  Axis axis(int64_t steps) const;  // output length and padding for an input length
  std::string label() const;       // "Conv1D 'name'" for messages

  int64_t filters_;
  int64_t kernel_size_;
  ActivationKind activation_;
  ActivationKind act_ = ActivationKind::Linear;  // the one the last forward applied
  Conv1DOptions options_;
  int64_t steps_ = 0, in_c_ = 0, out_steps_ = 0, pad_begin_ = 0, pad_end_ = 0;
  std::unique_ptr<kernels::Conv2DKernel> kernel_impl_;
  Tensor kernel_, bias_, kernel_grad_, bias_grad_;
  Tensor x_;  // view of the last forward batch's input
  Tensor z_, y_, dz_, dx_, no_grad_;
  Shape shape_buf_;
};

}  // namespace myelin::layers
