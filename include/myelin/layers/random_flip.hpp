// RandomFlip: mirrors images at random while training, as Keras's layers.RandomFlip (channels_last);
// the identity at inference.
#pragma once
#include <vector>

#include "myelin/layers/augmentation.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class RandomFlip : public Layer {
  MYELIN_LAYER_MOVABLE(RandomFlip)
  /// mode: "horizontal" (left-right), "vertical" (top-bottom) or "horizontal_and_vertical". Each image
  /// is flipped with probability 1/2, one draw per image: in "horizontal_and_vertical" that one draw
  /// flips both ways or neither (Keras's rule), i.e. a half turn. Another mode is a ValueError. With a
  /// seed the draws come from the layer's own stream (AugmentationRng). Backward: the flip is its own transpose.
  explicit RandomFlip(std::string mode = "horizontal_and_vertical", std::optional<int64_t> seed = std::nullopt,
                      std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomFlip"; }
  /// Per-sample input {H, W, C}, output the same; any other rank is a ShapeError.
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  Shape build(const Shape& input_shape, Rng& rng) override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  void reseed(Rng& rng) override { rng_.reseed(rng); }
  bool is_augmentation() const override { return true; }
  nlohmann::json get_config() const override;
  const std::string& mode() const { return mode_; }
  const std::optional<int64_t>& seed() const { return rng_.seed(); }

 private:
  std::string mode_;
  AugmentationRng rng_;
  int64_t height_ = 0, width_ = 0, channels_ = 0;
  bool last_training_ = false;
  std::vector<unsigned char> flips_;  // per image of the last training batch
  Tensor y_, dx_, no_grad_;
};

}  // namespace myelin::layers
