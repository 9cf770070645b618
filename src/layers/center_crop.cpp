#include "myelin/layers/center_crop.hpp"

#include <nlohmann/json.hpp>

namespace myelin::layers {

CenterCrop::CenterCrop(int64_t height, int64_t width, std::optional<Shape> input_shape)
    : ImageWindow("CenterCrop", height, width, std::move(input_shape)) {}

Shape CenterCrop::build(const Shape& input_shape, Rng&) { return build_window(input_shape, Window::CentredCrop); }

nlohmann::json CenterCrop::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["height"] = height_;
  c["width"] = width_;
  c["data_format"] = "channels_last";
  return c;
}

}  // namespace myelin::layers
