#include "myelin/layers/random_rotation.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

namespace myelin::layers {

RandomRotation::RandomRotation(Factor factor, std::string fill_mode, std::string interpolation,
                               std::optional<int64_t> seed, float fill_value, std::optional<Shape> input_shape)
    : RandomTransform("RandomRotation", std::move(fill_mode), std::move(interpolation), fill_value, seed,
                      std::move(input_shape)),
      range_(factor_range(factor, -1.0, 1.0, "RandomRotation")) {}

void RandomRotation::draw(Rng& rng, double height, double width, float* m) {
  const double turns = range_.first + (range_.second - range_.first) * rng.uniform01();
  const double angle = turns * 2.0 * std::numbers::pi;
  const double c = std::cos(angle), s = std::sin(angle), cx = (width - 1) / 2, cy = (height - 1) / 2;
  // Keras's _compute_affine_matrix with no shear, scale 1 and no translation: the output pixel reads
  // the input at its position turned by -angle about the centre.
  const double t[8] = {c, -s, cx - cx * c + cy * s, s, c, cy - cx * s - cy * c, 0, 0};
  for (int i = 0; i < 8; ++i) m[i] = float(t[i]);
}

nlohmann::json RandomRotation::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["factor"] = {range_.first, range_.second};
  add_transform_config(c);
  return c;
}

}  // namespace myelin::layers
