// UpSampling1D: repeats each step of a sequence (batch, steps, channels) `size` times along the
// steps, as Keras's layers.UpSampling1D: (steps, C) -> (steps * size, C). Its gradient sums the
// copies' gradients back into the step they came from.
#pragma once
#include <cstdint>
#include <optional>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class UpSampling1D : public Layer {
  MYELIN_LAYER_MOVABLE(UpSampling1D)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }
  /// `UpSampling1D()` doubles the steps; `UpSampling1D(3)` triples them.
  explicit UpSampling1D(int64_t size = 2, std::optional<Shape> input_shape = std::nullopt);

  std::string class_name() const override { return "UpSampling1D"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t size() const { return size_; }

 private:
  int64_t size_;
  int64_t steps_ = 0, channels_ = 0;
  Tensor y_, dx_;
  Shape shape_buf_, in_shape_buf_;
};

}  // namespace myelin::layers
