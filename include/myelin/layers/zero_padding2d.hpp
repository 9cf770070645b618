// ZeroPadding2D: adds rows of zeros above and below each image and columns left and right, as
// Keras's layers.ZeroPadding2D (channels_last).
#pragma once
#include <initializer_list>

#include "myelin/layers/conv2d.hpp"  // Size2
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class ZeroPadding2D : public Layer {
  MYELIN_LAYER_MOVABLE(ZeroPadding2D)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// Symmetric: `ZeroPadding2D(1)` pads one pixel all round; `ZeroPadding2D(Size2{1, 2})` one row
  /// above and below, two columns left and right.
  explicit ZeroPadding2D(Size2 padding = 1, std::optional<Shape> input_shape = std::nullopt);
  /// `ZeroPadding2D({1, 2})`: as Size2{1, 2}.
  explicit ZeroPadding2D(std::initializer_list<int64_t> padding);
  /// Each side on its own, Keras's ((top, bottom), (left, right)).
  ZeroPadding2D(int64_t top, int64_t bottom, int64_t left, int64_t right,
                std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "ZeroPadding2D"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;

 private:
  int64_t top_, bottom_, left_, right_;
  int64_t in_h_ = 0, in_w_ = 0, channels_ = 0;
  Tensor y_, dx_;
  Shape shape_buf_;
};

}  // namespace myelin::layers
