#include "myelin/layers/registry.hpp"

#include <functional>
#include <utility>

#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/dropout.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/normalization.hpp"

namespace myelin::layers {

namespace {
using json = nlohmann::json;
using Factory = std::function<std::shared_ptr<Layer>(const json&, const std::string&)>;

// Every class is listed here rather than registered from its own file: a static library drops
// object files nothing refers to, and with them any registration they would make.
const std::vector<std::pair<std::string, Factory>>& factories() {
  static const std::vector<std::pair<std::string, Factory>> list = {
      {"Dense",
       [](const json& c, const std::string& who) {
         DenseOptions o;
         o.input_shape = io::input_shape_from_config(c);
         o.use_bias = io::config_value(c, "use_bias", true, who);
         if (c.contains("kernel_initializer")) o.kernel_initializer = io::initializer_from_json(c["kernel_initializer"]);
         if (c.contains("bias_initializer")) o.bias_initializer = io::initializer_from_json(c["bias_initializer"]);
         if (c.contains("kernel_regularizer")) o.kernel_regularizer = io::regularizer_from_json(c["kernel_regularizer"]);
         if (c.contains("bias_regularizer")) o.bias_regularizer = io::regularizer_from_json(c["bias_regularizer"]);
         if (!c.contains("units")) throw ValueError(who + ": config needs 'units'");
         return std::make_shared<Dense>(io::config_value<int64_t>(c, "units", 0, who),
                                        io::config_value<std::string>(c, "activation", "linear", who), o);
       }},
      {"Activation",
       [](const json& c, const std::string& who) {
         return std::make_shared<Activation>(io::config_value<std::string>(c, "activation", "linear", who),
                                             io::input_shape_from_config(c));
       }},
      {"Dropout",
       [](const json& c, const std::string& who) {
         if (!c.contains("rate")) throw ValueError(who + ": config needs 'rate'");
         return std::make_shared<Dropout>(io::config_value<float>(c, "rate", 0.f, who), io::input_shape_from_config(c));
       }},
      {"Flatten", [](const json& c, const std::string&) { return std::make_shared<Flatten>(io::input_shape_from_config(c)); }},
      {"InputLayer",
       [](const json& c, const std::string& who) {
         auto shape = io::input_shape_from_config(c);
         if (!shape) throw ValueError(who + ": config needs 'batch_input_shape'");
         return std::make_shared<Input>(*shape);
       }},
      {"Normalization",
       [](const json& c, const std::string&) { return std::make_shared<Normalization>(io::input_shape_from_config(c)); }},
      // Convolutional layers (Conv2D, MaxPooling2D, ...) are listed here as they are added.
  };
  return list;
}
}  // namespace

std::shared_ptr<Layer> from_config(const std::string& class_name, const nlohmann::json& config) {
  if (!config.is_object()) throw ValueError("layer '" + class_name + "': config must be a JSON object, got " + config.dump());
  for (const auto& [name, make] : factories())
    if (name == class_name) {
      const std::string who = class_name + (config.contains("name") && config["name"].is_string()
                                                ? " '" + config["name"].get<std::string>() + "'"
                                                : std::string());
      std::shared_ptr<Layer> layer;
      try {
        layer = make(config, who);
      } catch (const nlohmann::json::exception& e) {
        throw ValueError(who + ": bad config: " + e.what());
      }
      if (config.contains("name") && config["name"].is_string()) layer->set_name(config["name"].get<std::string>());
      return layer;
    }
  std::string known;
  for (const auto& n : known_classes()) known += (known.empty() ? "" : ", ") + n;
  throw ValueError("unknown layer class '" + class_name + "' (myelin knows: " + known + ")");
}

std::vector<std::string> known_classes() {
  std::vector<std::string> names;
  for (const auto& [name, make] : factories()) names.push_back(name);
  return names;
}

}  // namespace myelin::layers
