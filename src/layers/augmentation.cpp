#include "myelin/layers/augmentation.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "myelin/error.hpp"
#include "myelin/io/config.hpp"

namespace myelin::layers {

nlohmann::json Factor::to_json() const {
  return is_pair ? nlohmann::json::array({lower, upper}) : nlohmann::json(lower);
}

Factor Factor::from_config(const nlohmann::json& config, const char* key, const std::string& who) {
  if (!config.contains(key)) throw ValueError(who + ": config needs '" + key + "'");
  const nlohmann::json& v = config[key];
  if (v.is_number()) return Factor(v.get<double>());
  if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number())
    return Factor(v[0].get<double>(), v[1].get<double>());
  throw ValueError(who + ": config '" + key + "' must be a number or [lower, upper], got " + v.dump());
}

ImageAugmentation::ImageAugmentation(std::optional<int64_t> seed, std::optional<Shape> input_shape) : rng_(seed) {
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> ImageAugmentation::plan(const Shape& input_shape) const {
  if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
    throw ShapeError(class_name() + " '" + name_ + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(input_shape));
  return LayerPlan{input_shape};
}

Shape ImageAugmentation::build(const Shape& input_shape, Rng& rng) {
  const Shape out = plan(input_shape)->output_shape;
  height_ = input_shape[0];
  width_ = input_shape[1];
  channels_ = input_shape[2];
  rng_.build(rng);
  built_ = true;
  return out;
}

nlohmann::json AugmentationRng::seed_json() const { return seed_ ? nlohmann::json(*seed_) : nlohmann::json(nullptr); }

namespace {
std::string describe(const Factor& f) {
  std::ostringstream s;
  if (f.is_pair)
    s << "(" << f.lower << ", " << f.upper << ")";
  else
    s << f.lower;
  return s.str();
}

void check_finite(const Factor& f, const std::string& who, const char* name) {
  if (!std::isfinite(f.lower) || !std::isfinite(f.upper))
    throw ValueError(who + ": " + name + " must be finite, got " + describe(f));
}
}  // namespace

std::pair<double, double> factor_range(const Factor& f, double lo, double hi, const std::string& who,
                                       const char* name) {
  check_finite(f, who, name);
  std::ostringstream bounds;
  bounds << "[" << lo << ", " << hi << "]";
  if (f.is_pair) {
    if (f.lower > hi || f.upper < lo)
      throw ValueError(who + ": " + name + " must be a number or a pair of numbers in " + bounds.str() + ", got " +
                       describe(f));
    return {std::min(f.lower, f.upper), std::max(f.lower, f.upper)};
  }
  if (f.lower < lo || f.lower > hi)
    throw ValueError(who + ": " + name + " must be a number or a pair of numbers in " + bounds.str() + ", got " +
                     describe(f));
  const double a = std::abs(f.lower);
  return {std::max(-a, lo), a};
}

std::pair<double, double> symmetric_factor_range(const Factor& f, bool open_lower, const std::string& who,
                                                 const char* name) {
  check_finite(f, who, name);
  for (double v : {f.lower, f.upper})
    if (v > 1.0 || v < -1.0 || (open_lower && v == -1.0))
      throw ValueError(who + ": " + name + " must be a number or a pair of numbers in " +
                       (open_lower ? "(-1, 1]" : "[-1, 1]") + ", got " + describe(f));
  if (f.is_pair) return {std::min(f.lower, f.upper), std::max(f.lower, f.upper)};
  return {-std::abs(f.lower), std::abs(f.lower)};
}

std::pair<float, float> value_range_from_config(const nlohmann::json& config, const std::string& who) {
  if (!config.contains("value_range") || config["value_range"].is_null()) return {0.f, 255.f};
  const nlohmann::json& v = config["value_range"];
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
    throw ValueError(who + ": config 'value_range' must be [low, high], got " + v.dump());
  return {v[0].get<float>(), v[1].get<float>()};
}

std::optional<int64_t> seed_from_config(const nlohmann::json& config, const std::string& who) {
  if (!config.contains("seed") || config["seed"].is_null()) return std::nullopt;
  return io::config_value<int64_t>(config, "seed", 0, who);
}

}  // namespace myelin::layers
