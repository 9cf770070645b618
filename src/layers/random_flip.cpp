#include "myelin/layers/random_flip.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/image.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

RandomFlip::RandomFlip(std::string mode, std::optional<int64_t> seed, std::optional<Shape> input_shape)
    : ImageAugmentation(seed, std::move(input_shape)), mode_(std::move(mode)) {
  if (mode_ != "horizontal" && mode_ != "vertical" && mode_ != "horizontal_and_vertical")
    throw ValueError("RandomFlip: unknown mode '" + mode_ +
                     "' (expected 'horizontal', 'vertical' or 'horizontal_and_vertical')");
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
