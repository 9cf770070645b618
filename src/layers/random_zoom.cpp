#include "myelin/layers/random_zoom.hpp"

#include <nlohmann/json.hpp>

namespace myelin::layers {

RandomZoom::RandomZoom(Factor height_factor, std::optional<Factor> width_factor, std::string fill_mode,
                       std::string interpolation, std::optional<int64_t> seed, float fill_value,
                       std::optional<Shape> input_shape)
    : RandomTransform("RandomZoom", std::move(fill_mode), std::move(interpolation), fill_value, seed,
                      std::move(input_shape)),
      height_factor_(height_factor),
      width_factor_(width_factor),
      height_range_(symmetric_factor_range(height_factor, true, "RandomZoom", "height_factor")),
      width_range_(width_factor ? symmetric_factor_range(*width_factor, true, "RandomZoom", "width_factor")
                                : height_range_) {}

void RandomZoom::draw(Rng& rng, double height, double width, float* m) {
  const double zy = 1.0 + height_range_.first + (height_range_.second - height_range_.first) * rng.uniform01();
  const double zx =
      width_factor_ ? 1.0 + width_range_.first + (width_range_.second - width_range_.first) * rng.uniform01() : zy;
  const double t[8] = {zx, 0, (width - 1) / 2 * (1 - zx), 0, zy, (height - 1) / 2 * (1 - zy), 0, 0};
  for (int i = 0; i < 8; ++i) m[i] = float(t[i]);
}

nlohmann::json RandomZoom::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["height_factor"] = height_factor_.to_json();
  c["width_factor"] = width_factor_ ? width_factor_->to_json() : nlohmann::json(nullptr);
  add_transform_config(c);
  return c;
}

}  // namespace myelin::layers
