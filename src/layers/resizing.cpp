#include "myelin/layers/resizing.hpp"

#include <nlohmann/json.hpp>

#include "myelin/error.hpp"

namespace myelin::layers {

Resizing::Resizing(int64_t height, int64_t width, std::string interpolation, bool crop_to_aspect_ratio,
                   std::optional<Shape> input_shape)
    : ImageWindow("Resizing", height, width, std::move(input_shape)),
      interpolation_(std::move(interpolation)),
      crop_to_aspect_ratio_(crop_to_aspect_ratio) {
  if (interpolation_ != "bilinear" && interpolation_ != "nearest")
    throw ValueError("Resizing: interpolation must be 'bilinear' or 'nearest', got '" + interpolation_ + "'");
  nearest_ = interpolation_ == "nearest";
}

Shape Resizing::build(const Shape& input_shape, Rng&) {
  return build_window(input_shape, crop_to_aspect_ratio_ ? Window::AspectRatio : Window::Whole);
}

nlohmann::json Resizing::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["height"] = height_;
  c["width"] = width_;
  c["interpolation"] = interpolation_;
  c["crop_to_aspect_ratio"] = crop_to_aspect_ratio_;
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
