// LayerNormalization over the last axis, as Keras's layers.LayerNormalization with axis=-1.
//
// Each row (every position of every sample: a token's features, an image pixel's channels) is
// normalised with its own mean and (biased) variance over the last axis, the same in training and
// inference: y = gamma * (x - mean) / sqrt(var + epsilon) + beta. gamma ("gamma", ones) and beta
// ("beta", zeros) are per-feature trainable weights, absent with scale=false / center=false. This is
// PyTorch's nn.LayerNorm(C, eps=epsilon) over the last dimension; Keras's epsilon default is 1e-3,
// PyTorch's 1e-5.
//
// Only the last axis is supported: axis -1, or its index counting the batch (rank of the
// per-sample shape); any other is a ValueError naming it and the input shape. Keras's
// rms_scaling=True is refused.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

/// Keras's keyword arguments of LayerNormalization, with its defaults.
struct LayerNormalizationOptions {
  std::optional<Shape> input_shape;
  int axis = -1;  ///< only the last axis (-1, or its index counting the batch)
  float epsilon = 1e-3f;
  bool center = true;  ///< learn beta
  bool scale = true;   ///< learn gamma
  Initializer beta_initializer = "zeros";
  Initializer gamma_initializer = "ones";
  std::optional<Regularizer> beta_regularizer;
  std::optional<Regularizer> gamma_regularizer;
  std::string name;
};

class LayerNormalization : public Layer {
  MYELIN_LAYER_MOVABLE(LayerNormalization)
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // Keras: supports_masking
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `LayerNormalization()`; `LayerNormalization({.epsilon = 1e-5f})`.
  explicit LayerNormalization(LayerNormalizationOptions options = {});
  std::string class_name() const override { return "LayerNormalization"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override { return 7 * per_sample_; }

  const LayerNormalizationOptions& options() const { return options_; }
  Tensor& gamma() { return gamma_; }  ///< empty with scale=false
  Tensor& beta() { return beta_; }    ///< empty with center=false

 protected:
  std::vector<Param> own_params() override;

 private:
  LayerNormalizationOptions options_;
  int64_t channels_ = 0, per_sample_ = 0;
  Tensor gamma_, beta_, gamma_grad_, beta_grad_;
  std::vector<float> mean_, inv_std_;  // per row of the last forward batch
  std::vector<double> scratch_;        // the parameter gradients' row sums
  Tensor x_, y_, dx_, no_grad_;
};

}  // namespace myelin::layers
