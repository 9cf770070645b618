// SpatialDropout2D: during training drops whole channels of each image (every pixel of a channel
// together) with probability `rate`, scaling kept channels by 1/(1-rate), as Keras's
// layers.SpatialDropout2D. Neighbouring pixels are strongly correlated, so dropping single pixels
// (Dropout) regularises convolutional features little; dropping channels does. Inference: identity.
#pragma once
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class SpatialDropout2D : public Layer {
  MYELIN_LAYER_MOVABLE(SpatialDropout2D)
  /// `SpatialDropout2D(0.2)`; rate in [0, 1).
  explicit SpatialDropout2D(float rate, std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "SpatialDropout2D"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  void reseed(Rng& rng) override { rng_ = rng.split(); }
  nlohmann::json get_config() const override;
  float rate() const { return rate_; }

 private:
  float rate_;
  Rng rng_{0};
  bool last_training_ = false;
  int64_t hw_ = 0, channels_ = 0;
  Tensor mask_, y_, dx_;  // mask {batch, channels}: 0 or 1/(1-rate)
  Shape mask_shape_;
};

}  // namespace myelin::layers
