#include "keras_weight_layout.hpp"

#include <map>
#include <regex>

#include "myelin/error.hpp"

namespace myelin::io {

namespace {
// The variables of each class in the order its Keras build() creates them.
const std::map<std::string, std::vector<KerasVariable>>& layouts() {
  static const std::map<std::string, std::vector<KerasVariable>> table = {
      {"Dense", {{"kernel"}, {"bias"}}},
      {"Conv1D", {{"kernel"}, {"bias"}}},
      {"Conv2D", {{"kernel"}, {"bias"}}},
      {"BatchNormalization", {{"gamma"}, {"beta"}, {"moving_mean"}, {"moving_variance"}}},
      {"Normalization", {{"mean"}, {"variance"}, {"count", "", true}}},
  };
  return table;
}
}  // namespace

std::vector<KerasSlot> keras_variables(Layer& layer) {
  const auto params = layer.params();
  if (params.empty()) return {};
  auto it = layouts().find(layer.class_name());
  if (it == layouts().end())
    throw ValueError("layer '" + layer.name() + "': myelin does not know how Keras stores the weights of class " +
                     layer.class_name());
  std::vector<KerasSlot> out;
  std::map<std::string, int> per_owner;
  size_t matched = 0;
  auto add = [&](const KerasVariable& v, Tensor* value) {
    const int index = per_owner[v.owner]++;
    out.push_back({v.name, value, v.owner, (v.owner.empty() ? "" : v.owner + "/") + "vars/" + std::to_string(index)});
  };
  for (const auto& v : it->second) {
    if (v.keras_only) {
      add(v, nullptr);
      continue;
    }
    for (const auto& p : params)
      if (p.name == v.name) {
        add(v, p.value);
        ++matched;
      }
  }
  if (matched != params.size())
    throw ValueError("layer '" + layer.name() + "' (" + layer.class_name() +
                     ") has a weight the Keras layout table does not list");
  return out;
}

std::string keras_snake_case(const std::string& class_name) {
  // keras.src.utils.naming.to_snake_case, step by step.
  std::string s = std::regex_replace(class_name, std::regex("[^A-Za-z0-9_]+"), "");
  s = std::regex_replace(s, std::regex("(.)([A-Z][a-z]+)"), "$1_$2");
  s = std::regex_replace(s, std::regex("([a-z])([A-Z])"), "$1_$2");
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace myelin::io
