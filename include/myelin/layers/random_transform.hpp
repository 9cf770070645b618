// RandomTransform: what RandomRotation, RandomZoom and RandomTranslation share: while training, each
// image is resampled through its own randomly drawn affine map (Keras's ops.image.affine_transform,
// one kernel for the three); at inference the layer is the identity.
#pragma once
#include <optional>
#include <string>

#include "myelin/layers/augmentation.hpp"

namespace myelin::layers {

class RandomTransform : public ImageAugmentation {
 public:
  /// Training: every image through its own draw. Inference: x itself.
  const Tensor& forward(const Tensor& x, bool training) override;
  /// The adjoint of the last forward's resampling, with the same draws (dy itself after inference).
  const Tensor& backward(const Tensor& dy) override;
  const std::string& fill_mode() const { return fill_mode_; }
  const std::string& interpolation() const { return interpolation_; }
  float fill_value() const { return fill_value_; }

 protected:
  /// `kind` names the layer class in errors. fill_mode: "reflect", "wrap", "constant" or "nearest"
  /// (how points outside the image are read: kernels/cpu/image_transform.hpp); interpolation:
  /// "bilinear" or "nearest"; anything else is a ValueError, as is a fill_value that is not finite.
  RandomTransform(const char* kind, std::string fill_mode, std::string interpolation, float fill_value,
                  std::optional<int64_t> seed, std::optional<Shape> input_shape);
  /// Writes the output-to-input map of one image of height x width, {a0, a1, a2, b0, b1, b2, 0, 0}
  /// (kernels/cpu/image_transform.hpp), drawing what it needs from rng.
  virtual void draw(Rng& rng, double height, double width, float* transform) = 0;
  /// Adds Keras's fill_mode, interpolation, fill_value, seed and data_format to a config.
  void add_transform_config(nlohmann::json& c) const;

 private:
  std::string fill_mode_, interpolation_;
  float fill_value_;
  Tensor transforms_, y_, dx_, no_grad_;
  Shape shape_buf_;
};

}  // namespace myelin::layers
