// RandomColor: what RandomContrast and RandomBrightness share: while training, one random draw per
// image changes every value of the image by an affine map, and the result is clipped to the value
// range; at inference the layer is the identity (no clip either, as Keras).
#pragma once
#include <utility>
#include <vector>

#include "myelin/layers/augmentation.hpp"

namespace myelin::layers {

class RandomColor : public ImageAugmentation {
 public:
  const Tensor& forward(const Tensor& x, bool training) override;
  /// The gradient through the last forward's map with the same draws, zero where the value was
  /// clipped (dy itself after inference).
  const Tensor& backward(const Tensor& dy) override;
  /// Keras's config: factor as the (lower, upper) range, value_range, seed, data_format.
  nlohmann::json get_config() const override;
  std::pair<double, double> factor() const { return range_; }
  std::pair<float, float> value_range() const { return value_range_; }

 protected:
  /// `kind` names the layer in errors; the value range must be two finite numbers, low below high
  /// (it is sorted first, as RandomBrightness in Keras), else a ValueError.
  RandomColor(const char* kind, std::pair<double, double> range, std::pair<float, float> value_range,
              std::optional<int64_t> seed, std::optional<Shape> input_shape);
  /// One image's draw from the factor's range (uniform in [lower, upper]), as the kernel wants it.
  virtual float draw(Rng& rng) const = 0;
  virtual void apply(int64_t batch, const float* draws, const float* x, float* y, float* pass) const = 0;
  virtual void apply_backward(int64_t batch, const float* draws, const float* pass, const float* dy,
                              float* dx) const = 0;
  std::pair<double, double> range_;
  std::pair<float, float> value_range_;

 private:
  std::vector<float> draws_;
  Tensor pass_, y_, dx_, no_grad_;
};

}  // namespace myelin::layers
