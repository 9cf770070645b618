#include "myelin/layers/random_translation.hpp"

#include <nlohmann/json.hpp>

namespace myelin::layers {

RandomTranslation::RandomTranslation(Factor height_factor, Factor width_factor, std::string fill_mode,
                                     std::string interpolation, std::optional<int64_t> seed, float fill_value,
                                     std::optional<Shape> input_shape)
    : RandomTransform("RandomTranslation", std::move(fill_mode), std::move(interpolation), fill_value, seed,
                      std::move(input_shape)),
      height_factor_(height_factor),
      width_factor_(width_factor),
      height_range_(symmetric_factor_range(height_factor, false, "RandomTranslation", "height_factor")),
      width_range_(symmetric_factor_range(width_factor, false, "RandomTranslation", "width_factor")) {}

void RandomTranslation::draw(Rng& rng, double height, double width, float* m) {
  const double dy = height * (height_range_.first + (height_range_.second - height_range_.first) * rng.uniform01());
  const double dx = width * (width_range_.first + (width_range_.second - width_range_.first) * rng.uniform01());
  const double t[8] = {1, 0, -dx, 0, 1, -dy, 0, 0};
  for (int i = 0; i < 8; ++i) m[i] = float(t[i]);
}

nlohmann::json RandomTranslation::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["height_factor"] = height_factor_.to_json();
  c["width_factor"] = width_factor_.to_json();
  add_transform_config(c);
  return c;
}

}  // namespace myelin::layers
