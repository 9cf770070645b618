#include "myelin/layers/random_crop.hpp"

#include <nlohmann/json.hpp>

namespace myelin::layers {

RandomCrop::RandomCrop(int64_t height, int64_t width, std::optional<int64_t> seed, std::optional<Shape> input_shape)
    : ImageWindow("RandomCrop", height, width, std::move(input_shape)), rng_(seed) {}

Shape RandomCrop::build(const Shape& input_shape, Rng& rng) {
  const Shape out = build_window(input_shape, Window::AspectRatio);
  inference_window_ = window();
  rng_.build(rng);
  return out;
}

const Tensor& RandomCrop::forward(const Tensor& x, bool training) {
  const int64_t in_h = input_height(), in_w = input_width();
  if (training && in_h > height_ && in_w > width_) {
    const auto top = int64_t(rng_.rng().below(uint64_t(in_h - height_ + 1)));
    const auto left = int64_t(rng_.rng().below(uint64_t(in_w - width_ + 1)));
    set_window({top, left, height_, width_});
  } else {
    set_window(inference_window_);
  }
  return ImageWindow::forward(x, training);
}

nlohmann::json RandomCrop::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["height"] = height_;
  c["width"] = width_;
  c["seed"] = rng_.seed_json();
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
