#include "myelin/layers/random_flip.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/image.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

RandomFlip::RandomFlip(std::string mode, std::optional<int64_t> seed, std::optional<Shape> input_shape)
    : mode_(std::move(mode)), rng_(seed) {
  if (mode_ != "horizontal" && mode_ != "vertical" && mode_ != "horizontal_and_vertical")
    throw ValueError("RandomFlip: unknown mode '" + mode_ +
                     "' (expected 'horizontal', 'vertical' or 'horizontal_and_vertical')");
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> RandomFlip::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError("RandomFlip '" + name_ + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(input_shape));
  return LayerPlan{input_shape};
}

Shape RandomFlip::build(const Shape& input_shape, Rng& rng) {
  const Shape out = plan(input_shape)->output_shape;
  height_ = input_shape[0];
  width_ = input_shape[1];
  channels_ = input_shape[2];
  rng_.build(rng);
  built_ = true;
  return out;
}

const Tensor& RandomFlip::forward(const Tensor& x, bool training) {
  last_training_ = training;
  if (!training) return x;
  flips_.resize(size_t(x.rows()));
  for (auto& f : flips_) f = rng_.rng().uniform01() <= 0.5;  // Keras: uniform <= 0.5 flips
  y_.resize(x.shape());
  kernels::flip_images(x.rows(), height_, width_, channels_, flips_.data(), mode_ != "vertical", mode_ != "horizontal",
                       x.data(), y_.data());
  return y_;
}

const Tensor& RandomFlip::backward(const Tensor& dy) {
  if (!last_training_) return dy;
  if (!needs_input_grad_) return no_grad_;
  dx_.resize(dy.shape());
  kernels::flip_images(dy.rows(), height_, width_, channels_, flips_.data(), mode_ != "vertical", mode_ != "horizontal",
                       dy.data(), dx_.data());
  return dx_;
}

nlohmann::json RandomFlip::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["mode"] = mode_;
  c["seed"] = rng_.seed_json();
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
