// BatchNormalization over the last axis (channels of NHWC images, features of dense inputs), as
// Keras's layers.BatchNormalization with axis=-1.
//
// Training normalises with the batch's mean and (biased) variance and updates the moving statistics:
// moving = moving * momentum + batch * (1 - momentum). Inference (training=false) uses the moving
// statistics, and so does a frozen layer (set_trainable(false)), even in training, as in Keras 3.
// y = gamma * (x - mean) / sqrt(var + epsilon) + beta. gamma and beta are trainable;
// moving_mean and moving_variance are non-trainable weights, saved with the model.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Conv2D;

/// Keras's keyword arguments of BatchNormalization, with its defaults.
struct BatchNormalizationOptions {
  std::optional<Shape> input_shape;
  int axis = -1;  ///< only the last axis is supported (-1, or its index counting the batch)
  float momentum = 0.99f;
  float epsilon = 1e-3f;
  bool center = true;  ///< learn beta
  bool scale = true;   ///< learn gamma
  Initializer beta_initializer = "zeros";
  Initializer gamma_initializer = "ones";
  Initializer moving_mean_initializer = "zeros";
  Initializer moving_variance_initializer = "ones";
  std::optional<Regularizer> beta_regularizer;
  std::optional<Regularizer> gamma_regularizer;
  std::string name;
};

class BatchNormalization : public Layer {
  MYELIN_LAYER_MOVABLE(BatchNormalization)
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // Keras: supports_masking
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `BatchNormalization()`; `BatchNormalization({.momentum = 0.9f, .epsilon = 1e-5f})`.
  explicit BatchNormalization(BatchNormalizationOptions options = {});
  std::string class_name() const override { return "BatchNormalization"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override { return 2 * per_sample_; }
  /// A relu Activation after it runs in its passes: max(y, 0) as y is written, and dy masked where
  /// the output is 0 in the backward's reads.
  bool can_fuse_next(const Layer& next) const override;
  bool fused_pass_gives_input_grad() const override { return true; }
  /// Its inference pass as y = x * scale + shift per channel (scale and shift hold a value per
  /// channel), from the moving statistics, gamma and beta; then relu(y) where applies_relu().
  void inference_scale_shift(float* scale, float* shift) const;
  /// Whether its forward applies the relu Activation after it (can_fuse_next, planned by the graph).
  bool applies_relu() const { return fuses_next_; }
  /// Set by the graph before each forward: the Conv2D whose output this layer reads alone, or null.
  /// Where that convolution wrote its output in bfloat16 (Conv2D::bf16_output, a mixed_bfloat16
  /// training pass), the forward and its backward read x so, as the float32 values it stands for.
  void set_bf16_source(const Conv2D* source) { bf16_source_ = source; }
  /// Whether the last backward wrote its input gradient in bfloat16 (NHWC, as uint16_t bits in the
  /// tensor's first half) rather than float32: where its forward read x so and that convolution
  /// takes its output's gradient so (Conv2D::reads_bf16_output_grad).
  bool bf16_input_grad() const { return dx_bf16_; }
  /// Set by the graph before each forward: whether a training pass writes the output (after the
  /// relu it applies) in bfloat16 for the one Conv2D reading it (Conv2D::can_take_bf16_in_training),
  /// which it does where its x came so (set_bf16_source); bf16_output says whether it did.
  void set_bf16_write(bool write) override { bf16_write_ = write; }
  bool bf16_output() const override { return wrote_bf16_; }

  const BatchNormalizationOptions& options() const { return options_; }
  Tensor& gamma() { return gamma_; }
  Tensor& beta() { return beta_; }
  Tensor& moving_mean() { return moving_mean_; }
  Tensor& moving_variance() { return moving_variance_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  BatchNormalizationOptions options_;
  int64_t channels_ = 0, per_sample_ = 0;
  Tensor gamma_, beta_, gamma_grad_, beta_grad_, moving_mean_, moving_variance_;
  bool last_training_ = false;
  const Conv2D* bf16_source_ = nullptr;
  bool x_bf16_ = false;   // the last forward's x held bfloat16 (set_bf16_source)
  bool dx_bf16_ = false;  // the last backward wrote dx in bfloat16 (bf16_input_grad)
  bool bf16_write_ = false, wrote_bf16_ = false;  // set_bf16_write, bf16_output
  // Per channel, for the last forward batch: the mean and 1/sqrt(var + eps) it normalised with, and
  // gamma * inv_std; work_ (2 per channel) and scratch_ are the kernels' reused scratch.
  std::vector<float> mean_, inv_std_, scale_, work_;
  std::vector<double> scratch_;
  Tensor x_, y_, dx_;
};

}  // namespace myelin::layers
