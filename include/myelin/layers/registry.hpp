// Layers by Keras's class name and config: the way back from Layer::get_config(), used to load
// models and to build them from JSON architectures.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

/// A new layer of Keras class `class_name` ("Dense", "Dropout", ...) from its get_config() JSON.
/// Throws ValueError naming an unknown class (and listing the known ones) or a bad config entry.
std::shared_ptr<Layer> from_config(const std::string& class_name, const nlohmann::json& config);

/// The class names from_config() knows.
std::vector<std::string> known_classes();

}  // namespace myelin::layers
