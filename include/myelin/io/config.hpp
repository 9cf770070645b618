// JSON forms of the small value types in layer configs, in Keras's get_config() shapes:
// initializers as {"class_name": "GlorotUniform", "config": {}}, regularizers as
// {"class_name": "L1L2", "config": {"l1": ..., "l2": ...}} (or null), shapes as lists.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <type_traits>

#include "myelin/error.hpp"
#include "myelin/initializers.hpp"
#include "myelin/regularizers.hpp"
#include "myelin/tensor.hpp"

namespace myelin::io {

nlohmann::json initializer_to_json(const Initializer& init);
/// Accepts Keras's dict form or a plain name ("he_normal"); throws ValueError for anything else.
Initializer initializer_from_json(const nlohmann::json& j);

nlohmann::json regularizer_to_json(const std::optional<Regularizer>& r);
std::optional<Regularizer> regularizer_from_json(const nlohmann::json& j);

/// Keras's batch_input_shape [null, 28, 28, 1] -> {28, 28, 1}; absent or null -> nullopt.
std::optional<Shape> input_shape_from_config(const nlohmann::json& config);

/// config[key] as T, or `fallback` when absent or null; a value of the wrong type or out of T's
/// range is a ValueError naming the key and the layer. (Converting an out-of-range JSON number
/// would be undefined behaviour: 1e50 as an integer, 1e300 as a float.)
template <class T>
T config_value(const nlohmann::json& config, const char* key, T fallback, const std::string& layer) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  const nlohmann::json& v = config[key];
  auto wrong = [&](const char* expected) {
    return ValueError(layer + ": config '" + key + "' must be " + expected + ", got " + v.dump());
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw wrong("true or false");
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) throw wrong("a whole number");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(std::numeric_limits<T>::max())
                               : (v.get<int64_t>() < int64_t(std::numeric_limits<T>::min()) ||
                                  v.get<int64_t>() > int64_t(std::numeric_limits<T>::max())))
      throw wrong("a whole number in range");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number() || !(std::fabs(v.get<double>()) <= double(std::numeric_limits<T>::max())))
      throw wrong("a finite number in range");
  } else if constexpr (std::is_same_v<T, Shape>) {
    if (!v.is_array()) throw wrong("a list of sizes");
    for (const auto& d : v)
      if (!d.is_number_integer() || (d.is_number_unsigned() && d.get<uint64_t>() > uint64_t(INT64_MAX)))
        throw wrong("a list of whole numbers");
  }
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw wrong("of another type");
  }
}

}  // namespace myelin::io
