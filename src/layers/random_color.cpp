#include "myelin/layers/random_color.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "myelin/error.hpp"

namespace myelin::layers {

RandomColor::RandomColor(const char* kind, std::pair<double, double> range, std::pair<float, float> value_range,
                         std::optional<int64_t> seed, std::optional<Shape> input_shape)
    : ImageAugmentation(seed, std::move(input_shape)), range_(range), value_range_(value_range) {
  if (value_range_.first > value_range_.second) std::swap(value_range_.first, value_range_.second);
  if (!std::isfinite(value_range_.first) || !std::isfinite(value_range_.second) ||
      value_range_.first == value_range_.second)
    throw ValueError(std::string(kind) + ": value_range must be two different finite numbers, got (" +
                     std::to_string(value_range.first) + ", " + std::to_string(value_range.second) + ")");
}

const Tensor& RandomColor::forward(const Tensor& x, bool training) {
  last_training_ = training;
  if (!training) return x;
  draws_.resize(size_t(x.rows()));
  for (auto& d : draws_) d = draw(rng_.rng());
  y_.resize(x.shape());
  pass_.resize(x.shape());
  apply(x.rows(), draws_.data(), x.data(), y_.data(), pass_.data());
  return y_;
}

const Tensor& RandomColor::backward(const Tensor& dy) {
  if (!last_training_) return dy;
  if (!needs_input_grad_) return no_grad_;
  dx_.resize(dy.shape());
  apply_backward(dy.rows(), draws_.data(), pass_.data(), dy.data(), dx_.data());
  return dx_;
}

nlohmann::json RandomColor::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["factor"] = {range_.first, range_.second};
  c["value_range"] = {value_range_.first, value_range_.second};
  c["seed"] = rng_.seed_json();
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
