// Pooling over NHWC images, as Keras's MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D and
// GlobalMaxPooling2D (data_format='channels_last').
//
// Output sizes follow Keras: 'valid' floor((in - pool) / stride) + 1, 'same' ceil(in / stride).
// Padding never enters a window: a max is over the pixels inside the image, and an average divides
// by their count.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "myelin/layers/conv2d.hpp"  // Size2
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

/// {a} or {a, b} as a Size2; ValueError for other lengths.
Size2 size2_from_list(std::initializer_list<int64_t> values);

/// What MaxPooling2D and AveragePooling2D share.
class Pooling2D : public Layer {
 public:
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  nlohmann::json get_config() const override;
  Size2 pool_size() const { return pool_size_; }
  Size2 strides() const { return strides_; }
  const std::string& padding() const { return padding_; }

 protected:
  /// strides default to pool_size, as Keras.
  Pooling2D(Size2 pool_size, std::optional<Size2> strides, std::string padding, std::optional<Shape> input_shape);
  int64_t in_h_ = 0, in_w_ = 0, channels_ = 0, out_h_ = 0, out_w_ = 0, pad_top_ = 0, pad_left_ = 0;
  Size2 pool_size_, strides_;
  std::string padding_;
  Tensor y_, dx_;
  Shape shape_buf_, in_shape_buf_;
};

class MaxPooling2D : public Pooling2D {
  MYELIN_LAYER_MOVABLE(MaxPooling2D)
  /// `MaxPooling2D({2, 2})`; `MaxPooling2D(3, 2, "same")`.
  explicit MaxPooling2D(Size2 pool_size = {2, 2}, std::optional<Size2> strides = std::nullopt,
                        std::string padding = "valid", std::optional<Shape> input_shape = std::nullopt);
  /// `MaxPooling2D({2, 2})` alone (without this, {2, 2} could also read as pool 2, strides 2).
  explicit MaxPooling2D(std::initializer_list<int64_t> pool_size) : MaxPooling2D(size2_from_list(pool_size)) {}
  std::string class_name() const override { return "MaxPooling2D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  bool can_mask_nonpositive_input() const override { return true; }

 private:
  std::vector<int32_t> argmax_;  // per output: the winning input's offset in its sample
  bool argmax_ready_ = false;     // argmax_ belongs to the last forward
};

class AveragePooling2D : public Pooling2D {
  MYELIN_LAYER_MOVABLE(AveragePooling2D)
  explicit AveragePooling2D(Size2 pool_size = {2, 2}, std::optional<Size2> strides = std::nullopt,
                            std::string padding = "valid", std::optional<Shape> input_shape = std::nullopt);
  explicit AveragePooling2D(std::initializer_list<int64_t> pool_size) : AveragePooling2D(size2_from_list(pool_size)) {}
  std::string class_name() const override { return "AveragePooling2D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
};

/// What GlobalAveragePooling2D and GlobalMaxPooling2D share: {H, W, C} -> {C}, or {1, 1, C} with keepdims.
class GlobalPooling2D : public Layer {
 public:
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  nlohmann::json get_config() const override;
  bool keepdims() const { return keepdims_; }

 protected:
  GlobalPooling2D(bool keepdims, std::optional<Shape> input_shape);
  bool keepdims_;
  int64_t hw_ = 0, channels_ = 0;
  Tensor y_, dx_;
  Shape shape_buf_, in_shape_buf_;
};

class GlobalAveragePooling2D : public GlobalPooling2D {
  MYELIN_LAYER_MOVABLE(GlobalAveragePooling2D)
  explicit GlobalAveragePooling2D(bool keepdims = false, std::optional<Shape> input_shape = std::nullopt)
      : GlobalPooling2D(keepdims, std::move(input_shape)) {}
  std::string class_name() const override { return "GlobalAveragePooling2D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
};

class GlobalMaxPooling2D : public GlobalPooling2D {
  MYELIN_LAYER_MOVABLE(GlobalMaxPooling2D)
  explicit GlobalMaxPooling2D(bool keepdims = false, std::optional<Shape> input_shape = std::nullopt)
      : GlobalPooling2D(keepdims, std::move(input_shape)) {}
  std::string class_name() const override { return "GlobalMaxPooling2D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  std::vector<int32_t> argmax_;
};

}  // namespace myelin::layers
