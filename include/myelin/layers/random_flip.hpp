// RandomFlip: mirrors images at random while training, as Keras's layers.RandomFlip (channels_last);
// the identity at inference.
#pragma once
#include <vector>

#include "myelin/layers/augmentation.hpp"

namespace myelin::layers {

class RandomFlip : public ImageAugmentation {
  MYELIN_LAYER_MOVABLE(RandomFlip)
  /// mode: "horizontal" (left-right), "vertical" (top-bottom) or "horizontal_and_vertical". Each image
  /// is flipped with probability 1/2, one draw per image: in "horizontal_and_vertical" that one draw
  /// flips both ways or neither (Keras's rule), i.e. a half turn. Another mode is a ValueError. With a
  /// seed the draws come from the layer's own stream (AugmentationRng). Backward: the flip is its own transpose.
  explicit RandomFlip(std::string mode = "horizontal_and_vertical", std::optional<int64_t> seed = std::nullopt,
                      std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "RandomFlip"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  const std::string& mode() const { return mode_; }

 private:
  std::string mode_;
  std::vector<unsigned char> flips_;  // per image of the last training batch
  Tensor y_, dx_, no_grad_;
};

}  // namespace myelin::layers
