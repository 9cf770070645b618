// Dense: y = activation(x · kernel + bias), over the last axis of its input (as Keras).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::kernels {
struct RoundedInput;
}

namespace myelin::layers {

/// Keras's keyword arguments of Dense, with its defaults.
struct DenseOptions {
  std::optional<Shape> input_shape;  ///< per-sample shape, for the first layer (Keras's input_shape=)
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer;
  std::optional<Regularizer> bias_regularizer;
  std::string name;  ///< empty: the model names it ("dense", "dense_1", ...)
  std::string dtype;  ///< dtype policy (myelin/mixed_precision.hpp); empty: the global policy
};

class Dense : public Layer {
  MYELIN_LAYER_MOVABLE(Dense)
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // Keras: supports_masking
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `Dense(64, "relu")`; `Dense(10, "relu", {.input_shape = Shape{8}})`.
  explicit Dense(int64_t units, const std::string& activation = "linear", DenseOptions options = {});
  /// Short form for a first layer: `Dense(10, "relu", Shape{8})`. (A template so that a braced
  /// `{.input_shape = ...}` argument picks DenseOptions unambiguously.)
  template <class S, class = std::enable_if_t<std::is_same_v<std::decay_t<S>, Shape>>>
  Dense(int64_t units, const std::string& activation, S&& input_shape)
      : Dense(units, activation, options_with_shape(std::forward<S>(input_shape))) {}

  std::string class_name() const override { return "Dense"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override { return 2 * in_features_ * units_ * rows_per_sample_; }
  ActivationKindOpt output_activation() const override { return activation_; }

  int64_t units() const { return units_; }
  ActivationKind activation() const { return activation_; }
  const DenseOptions& options() const { return options_; }
  Tensor& kernel() { return kernel_; }
  Tensor& bias() { return bias_; }
  /// The dtype policy the layer was made with: "float32" or "mixed_bfloat16".
  const std::string& dtype_policy() const { return options_.dtype; }

 protected:
  std::vector<Param> own_params() override;

 private:
  static DenseOptions options_with_shape(Shape s) {
    DenseOptions o;
    o.input_shape = std::move(s);
    return o;
  }
  int64_t units_;
  int64_t in_features_ = 0;
  int64_t rows_per_sample_ = 1;  // Dense over the last axis of a 3-D input runs once per leading position
  ActivationKind activation_;
  bool bf16_ = false;  // multiplies in bfloat16 (policy mixed_bfloat16 on a CPU that has it)
  ActivationKind act_ = ActivationKind::Linear;  // the one the last forward applied
  DenseOptions options_;
  Tensor kernel_, bias_, kernel_grad_, bias_grad_;
  Tensor x_;  // view of the last forward batch's input (shares storage; no copy)
  Tensor z_, y_, dz_, dx_, no_grad_;
  Shape out_shape_, shape_buf_;
  // Under mixed_bfloat16: the kernel rounded to bfloat16 (in kernels::dense_bf16's layout) and, after
  // an inference call, the float32 values it was rounded from (rounded again only when they change).
  std::vector<float> kernel_rounded_from_;
  std::vector<uint16_t> kernel_bf16_;
  // Under mixed_bfloat16 in training: the input as the forward rounded it, kept for the weight
  // gradient, which would round it a second time.
  std::shared_ptr<kernels::RoundedInput> x_bf16_;
};

}  // namespace myelin::layers
