// What the model file readers and writers share (defined in model_io.cpp): the architecture as
// Keras-shaped JSON, both ways.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "myelin/model.hpp"

namespace myelin::io {

/// Parses JSON, refusing nesting deeper than a model needs; ValueError starting with `what`.
nlohmann::json parse_model_json(const std::string& text, const std::string& what);
/// A model from a Sequential or Functional config (Keras 2 or 3 form); errors start with `where`.
Model model_from_architecture(const nlohmann::json& j, const std::string& where);
/// The model's config in Keras's form ({"class_name": "Sequential", "config": {...}}).
nlohmann::json model_architecture(Model& model);

}  // namespace myelin::io
