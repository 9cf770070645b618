// Pooling over sequences shaped (batch, steps, channels), as Keras's MaxPooling1D, AveragePooling1D,
// GlobalMaxPooling1D and GlobalAveragePooling1D (data_format='channels_last').
//
// Output lengths follow Keras: 'valid' floor((steps - pool_size) / strides) + 1, 'same'
// ceil(steps / strides) with the odd padding step at the end. Padding never enters a window: a max
// is over the steps inside the sequence, and an average divides by their count.
//
// The sequences run through the 2-D pooling kernels as images one row high.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

/// What MaxPooling1D and AveragePooling1D share.
class Pooling1D : public Layer {
 public:
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  nlohmann::json get_config() const override;
  int64_t pool_size() const { return pool_size_; }
  int64_t strides() const { return strides_; }
  const std::string& padding() const { return padding_; }

 protected:
  /// strides default to pool_size, as Keras; `cls` names the layer in argument errors.
  Pooling1D(const char* cls, int64_t pool_size, std::optional<int64_t> strides, std::string padding,
            std::optional<Shape> input_shape);
  int64_t steps_ = 0, channels_ = 0, out_steps_ = 0, pad_begin_ = 0;
  int64_t pool_size_, strides_;
  std::string padding_;
  Tensor y_, dx_;
  Shape shape_buf_, in_shape_buf_;
};

class MaxPooling1D : public Pooling1D {
  MYELIN_LAYER_MOVABLE(MaxPooling1D)
  /// `MaxPooling1D()` (pool 2, stride 2); `MaxPooling1D(3, 1, "same")`.
  explicit MaxPooling1D(int64_t pool_size = 2, std::optional<int64_t> strides = std::nullopt,
                        std::string padding = "valid", std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "MaxPooling1D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  bool can_mask_nonpositive_input() const override { return true; }

 private:
  std::vector<int32_t> argmax_;  // per output: the winning input's offset in its sample
  bool argmax_ready_ = false;     // argmax_ belongs to the last forward
};

class AveragePooling1D : public Pooling1D {
  MYELIN_LAYER_MOVABLE(AveragePooling1D)
  explicit AveragePooling1D(int64_t pool_size = 2, std::optional<int64_t> strides = std::nullopt,
                            std::string padding = "valid", std::optional<Shape> input_shape = std::nullopt);
  std::string class_name() const override { return "AveragePooling1D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
};

/// What GlobalAveragePooling1D and GlobalMaxPooling1D share: {steps, C} -> {C}, or {1, C} with keepdims.
class GlobalPooling1D : public Layer {
 public:
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  nlohmann::json get_config() const override;
  bool keepdims() const { return keepdims_; }

 protected:
  GlobalPooling1D(bool keepdims, std::optional<Shape> input_shape);
  bool keepdims_;
  int64_t steps_ = 0, channels_ = 0;
  Tensor y_, dx_;
  Shape shape_buf_, in_shape_buf_;
};

class GlobalAveragePooling1D : public GlobalPooling1D {
  MYELIN_LAYER_MOVABLE(GlobalAveragePooling1D)
  explicit GlobalAveragePooling1D(bool keepdims = false, std::optional<Shape> input_shape = std::nullopt)
      : GlobalPooling1D(keepdims, std::move(input_shape)) {}
  std::string class_name() const override { return "GlobalAveragePooling1D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  /// Keras: with a mask, the mean over the unmasked steps only (a sample with none gives 0, where
  /// Keras divides 0 by 0); the mask stops here. GlobalMaxPooling1D and the windowed poolings
  /// ignore masks, as Keras 3's do.
  bool uses_input_masks() const override { return true; }

 private:
  Tensor mask_;  // view of the last forward's mask (masked_)
  bool masked_ = false;
};

class GlobalMaxPooling1D : public GlobalPooling1D {
  MYELIN_LAYER_MOVABLE(GlobalMaxPooling1D)
  explicit GlobalMaxPooling1D(bool keepdims = false, std::optional<Shape> input_shape = std::nullopt)
      : GlobalPooling1D(keepdims, std::move(input_shape)) {}
  std::string class_name() const override { return "GlobalMaxPooling1D"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  std::vector<int32_t> argmax_;
};

}  // namespace myelin::layers
