// Normalization: standardises features inside the model, (x - mean) / sqrt(variance), as Keras's
// layers.Normalization. The statistics are non-trainable weights, so a saved model carries them
// and predicts on raw inputs.
#pragma once
#include <optional>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Normalization : public Layer {
  MYELIN_LAYER_MOVABLE(Normalization)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// Statistics over the last axis, set by adapt() (or given: one mean and variance per feature).
  explicit Normalization(std::optional<Shape> input_shape = std::nullopt, std::vector<float> mean = {},
                         std::vector<float> variance = {});
  std::string class_name() const override { return "Normalization"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;

  /// Computes each feature's mean and (population) variance from the rows of `data`, as Keras's adapt().
  /// Throws ShapeError if the feature count differs from a shape the layer was built with.
  void adapt(const Tensor& data);
  const Tensor& mean() const { return mean_; }
  const Tensor& variance() const { return variance_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  void update_inverse_std();
  int64_t features_ = 0;
  Tensor mean_, variance_;
  std::vector<float> inv_std_;
  Tensor y_, dx_;
};

}  // namespace myelin::layers
