#include "myelin/io/config.hpp"

#include "myelin/error.hpp"

namespace myelin::io {

namespace {
struct InitName {
  const char* name;
  const char* keras_class;
};
constexpr InitName kInitNames[] = {
    {"glorot_uniform", "GlorotUniform"}, {"glorot_normal", "GlorotNormal"}, {"he_uniform", "HeUniform"},
    {"he_normal", "HeNormal"},           {"lecun_normal", "LecunNormal"},   {"lecun_uniform", "LecunUniform"},
    {"zeros", "Zeros"},                  {"ones", "Ones"},                  {"constant", "Constant"},
    {"orthogonal", "Orthogonal"},
    {"random_uniform", "RandomUniform"}, {"uniform", "RandomUniform"},
};
}  // namespace

nlohmann::json initializer_to_json(const Initializer& init) {
  for (const auto& n : kInitNames)
    if (init.name == n.name) {
      nlohmann::json config = nlohmann::json::object();
      if (init.name == "constant") config["value"] = init.value;
      if (init.name == "orthogonal") config["gain"] = 1.0;
      if (std::string(n.keras_class) == "RandomUniform") {
        config["minval"] = init.minval;
        config["maxval"] = init.maxval;
      }
      return {{"class_name", n.keras_class}, {"config", config}};
    }
  throw ValueError("unknown initializer '" + init.name + "'");
}

Initializer initializer_from_json(const nlohmann::json& j) {
  if (j.is_string()) return Initializer(j.get<std::string>());
  if (j.is_object() && j.contains("class_name") && j["class_name"].is_string()) {
    const std::string cls = j["class_name"].get<std::string>();
    for (const auto& n : kInitNames)
      if (cls == n.keras_class || cls == n.name) {
        Initializer init(n.name);
        if (j.contains("config") && j["config"].is_object()) {
          const auto& c = j["config"];
          const std::string who = "initializer " + cls;
          init.value = config_value<float>(c, "value", 0.f, who);
          init.minval = config_value<float>(c, "minval", init.minval, who);
          init.maxval = config_value<float>(c, "maxval", init.maxval, who);
        }
        if (n.name == std::string("orthogonal") && j.contains("config") && j["config"].is_object() &&
            config_value<double>(j["config"], "gain", 1.0, "initializer " + cls) != 1.0)
          throw ValueError("initializer " + cls + ": only gain 1 is supported, got " + j["config"]["gain"].dump());
        return init;
      }
    throw ValueError("unknown initializer class '" + cls + "'");
  }
  throw ValueError("an initializer must be a name or {\"class_name\": ..., \"config\": ...}, got " + j.dump());
}

nlohmann::json regularizer_to_json(const std::optional<Regularizer>& r) {
  if (!r) return nullptr;
  return {{"class_name", "L1L2"}, {"config", {{"l1", r->l1}, {"l2", r->l2}}}};
}

std::optional<Regularizer> regularizer_from_json(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  if (j.is_object() && j.contains("config") && j["config"].is_object()) {
    const auto& c = j["config"];
    Regularizer r;
    r.l1 = config_value<float>(c, "l1", 0.f, "regularizer");
    r.l2 = config_value<float>(c, "l2", 0.f, "regularizer");
    return r;
  }
  throw ValueError("a regularizer must be null or {\"class_name\": \"L1L2\", \"config\": {\"l1\": ..., \"l2\": ...}}, got " +
                   j.dump());
}

std::optional<Shape> input_shape_from_config(const nlohmann::json& config) {
  for (const char* key : {"batch_input_shape", "batch_shape"}) {
    if (!config.contains(key) || config[key].is_null()) continue;
    const auto& s = config[key];
    if (!s.is_array() || s.empty()) throw ValueError(std::string("config '") + key + "' must be a list, got " + s.dump());
    Shape shape;
    for (size_t i = 1; i < s.size(); ++i) {
      if (!s[i].is_number_integer() || s[i].get<int64_t>() <= 0)
        throw ValueError(std::string("config '") + key + "' must hold positive sizes after the batch entry, got " + s.dump());
      shape.push_back(s[i].get<int64_t>());
    }
    return shape;
  }
  return std::nullopt;
}

}  // namespace myelin::io
