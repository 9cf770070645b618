// JSON forms of the small value types in layer configs, in Keras's get_config() shapes:
// initializers as {"class_name": "GlorotUniform", "config": {}}, regularizers as
// {"class_name": "L1L2", "config": {"l1": ..., "l2": ...}} (or null), shapes as lists.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>

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

/// config[key] as T, or `fallback` when absent or null; a value of the wrong type is a ValueError
/// naming the key and the layer.
template <class T>
T config_value(const nlohmann::json& config, const char* key, T fallback, const std::string& layer) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  try {
    return config[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ValueError(layer + ": config '" + key + "' has the wrong type: " + config[key].dump());
  }
}

}  // namespace myelin::io
