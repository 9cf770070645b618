// What Keras's random image augmentation layers share: the `factor` argument (one number or a
// (lower, upper) pair) and the `seed` argument with the layer's own random stream.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>

#include "myelin/layers/layer.hpp"
#include "myelin/random.hpp"

namespace myelin::layers {

/// Keras's factor: one number, `0.2`, or a (lower, upper) pair, `{-0.1, 0.3}`. Kept as given (a
/// layer's get_config() writes it back as Keras does); what range each layer draws from is its own
/// rule, documented with the layer.
struct Factor {
  Factor(double value) : lower(value), upper(value), is_pair(false) {}
  Factor(double lower, double upper) : lower(lower), upper(upper), is_pair(true) {}
  double lower, upper;
  bool is_pair;
  /// A number, or [lower, upper].
  nlohmann::json to_json() const;
  /// config[key] as a Factor: a number or a list of two numbers, else a ValueError naming `who` and key.
  static Factor from_config(const nlohmann::json& config, const char* key, const std::string& who);
};

/// The random stream of an augmentation layer. With Keras's `seed` the stream starts from the seed
/// when the layer is made, so a layer used on its own draws what its seed says. Inside fit, which
/// reseeds every layer at each epoch from the epoch's generator, a seeded layer's stream becomes the
/// seed mixed with that generator: every epoch draws anew, and an epoch resumed from a checkpoint
/// draws exactly what it drew the first time (a stream running on across epochs could not be
/// restored). Without a seed the stream is split off the model's generator at build and at each
/// reseed, like Dropout's.
class AugmentationRng {
 public:
  explicit AugmentationRng(std::optional<int64_t> seed) : seed_(seed), rng_(uint64_t(seed.value_or(0))) {}
  /// At build: a layer without a seed splits its stream off `model`; a seeded one starts from its
  /// seed. Always takes one split, so that the other layers' streams do not depend on whether this
  /// one has a seed.
  void build(Rng& model) {
    Rng split = model.split();
    rng_ = seed_ ? Rng(uint64_t(*seed_)) : split;
  }
  /// At each epoch of fit (one split of `model`, as build).
  void reseed(Rng& model) {
    Rng split = model.split();
    rng_ = seed_ ? Rng(split.next_u64() ^ (uint64_t(*seed_) * 0x9e3779b97f4a7c15ULL)) : split;
  }
  Rng& rng() { return rng_; }
  const std::optional<int64_t>& seed() const { return seed_; }
  /// The seed as Keras's config holds it: a number or null.
  nlohmann::json seed_json() const;

 private:
  std::optional<int64_t> seed_;
  Rng rng_;
};

/// What RandomFlip, RandomTransform (rotation, zoom, translation) and RandomColor (contrast,
/// brightness) share: a per-sample {height, width, channels} input and output of the same shape, the
/// layer's random stream, and whether the last forward was a training one.
class ImageAugmentation : public Layer {
 public:
  /// Per-sample input {H, W, C}, output the same; any other rank is a ShapeError naming the layer.
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  Shape build(const Shape& input_shape, Rng& rng) override;
  void reseed(Rng& rng) override { rng_.reseed(rng); }
  bool is_augmentation() const override { return true; }
  const std::optional<int64_t>& seed() const { return rng_.seed(); }

 protected:
  ImageAugmentation(std::optional<int64_t> seed, std::optional<Shape> input_shape);
  AugmentationRng rng_;
  int64_t height_ = 0, width_ = 0, channels_ = 0;
  bool last_training_ = false;
};

/// The (lower, upper) range Keras's base image layer makes of a factor with bounds [lo, hi]: a pair
/// is sorted and refused only when lower > hi or upper < lo; one number f must lie in [lo, hi] and
/// gives (max(-|f|, lo), |f|). Anything not finite is refused. Errors are ValueErrors naming `who`.
std::pair<double, double> factor_range(const Factor& f, double lo, double hi, const std::string& who,
                                       const char* name = "factor");
/// The range RandomZoom and RandomTranslation make of their factors: every number must lie in
/// [-1, 1] (above -1 for zoom: open_lower); a pair is sorted, one number f gives (-|f|, |f|).
std::pair<double, double> symmetric_factor_range(const Factor& f, bool open_lower, const std::string& who,
                                                 const char* name);
/// A (low, high) value range from config[key] (default {0, 255}): two finite numbers.
std::pair<float, float> value_range_from_config(const nlohmann::json& config, const std::string& who);
/// The optional integer seed from config["seed"].
std::optional<int64_t> seed_from_config(const nlohmann::json& config, const std::string& who);

}  // namespace myelin::layers
