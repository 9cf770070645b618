#include "myelin/layers/random_transform.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "kernels/cpu/image_transform.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

namespace {
kernels::FillMode fill_mode_of(const std::string& s) {
  if (s == "reflect") return kernels::FillMode::reflect;
  if (s == "wrap") return kernels::FillMode::wrap;
  if (s == "constant") return kernels::FillMode::constant;
  return kernels::FillMode::nearest;
}

kernels::ImageTransform sampling(int64_t batch, int64_t height, int64_t width, int64_t channels,
                                 const std::string& interpolation, const std::string& fill_mode, float fill_value) {
  return {batch,
          height,
          width,
          channels,
          interpolation == "nearest" ? kernels::ResizeInterpolation::nearest : kernels::ResizeInterpolation::bilinear,
          fill_mode_of(fill_mode),
          fill_value};
}
}  // namespace

RandomTransform::RandomTransform(const char* kind, std::string fill_mode, std::string interpolation, float fill_value,
                                 std::optional<int64_t> seed, std::optional<Shape> input_shape)
    : ImageAugmentation(seed, std::move(input_shape)),
      fill_mode_(std::move(fill_mode)),
      interpolation_(std::move(interpolation)),
      fill_value_(fill_value) {
  if (fill_mode_ != "reflect" && fill_mode_ != "wrap" && fill_mode_ != "constant" && fill_mode_ != "nearest")
    throw ValueError(std::string(kind) + ": unknown fill_mode '" + fill_mode_ +
                     "' (expected 'reflect', 'wrap', 'constant' or 'nearest')");
  if (interpolation_ != "bilinear" && interpolation_ != "nearest")
    throw ValueError(std::string(kind) + ": unknown interpolation '" + interpolation_ +
                     "' (expected 'bilinear' or 'nearest')");
  if (!std::isfinite(fill_value))
    throw ValueError(std::string(kind) + ": fill_value must be finite, got " + std::to_string(fill_value));
}

const Tensor& RandomTransform::forward(const Tensor& x, bool training) {
  last_training_ = training;
  if (!training) return x;
  const int64_t batch = x.rows();
  shape_buf_ = {batch, kernels::kTransformSize};
  transforms_.resize(shape_buf_);
  for (int64_t n = 0; n < batch; ++n)
    draw(rng_.rng(), double(height_), double(width_), transforms_.data() + n * kernels::kTransformSize);
  y_.resize(x.shape());
  const auto t = sampling(batch, height_, width_, channels_, interpolation_, fill_mode_, fill_value_);
  kernels::image_transform_forward(t, transforms_.data(), x.data(), y_.data());
  return y_;
}

const Tensor& RandomTransform::backward(const Tensor& dy) {
  if (!last_training_) return dy;
  if (!needs_input_grad_) return no_grad_;
  const auto t = sampling(dy.rows(), height_, width_, channels_, interpolation_, fill_mode_, fill_value_);
  dx_.resize(dy.shape());
  kernels::image_transform_backward(t, transforms_.data(), dy.data(), dx_.data());
  return dx_;
}

void RandomTransform::add_transform_config(nlohmann::json& c) const {
  c["fill_mode"] = fill_mode_;
  c["interpolation"] = interpolation_;
  c["fill_value"] = fill_value_;
  c["seed"] = rng_.seed_json();
  c["data_format"] = "channels_last";
}

}  // namespace myelin::layers
