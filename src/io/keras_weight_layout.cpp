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
      {"Embedding", {{"embeddings"}}},
      {"LayerNormalization", {{"gamma"}, {"beta"}}},
      {"SimpleRNN", {{"kernel", "cell"}, {"recurrent_kernel", "cell"}, {"bias", "cell"}}},
      {"LSTM", {{"kernel", "cell"}, {"recurrent_kernel", "cell"}, {"bias", "cell"}}},
      {"GRU", {{"kernel", "cell"}, {"recurrent_kernel", "cell"}, {"bias", "cell"}}},
      // Keras 3's four EinsumDense sub-layers; Keras 2's weight_names in the same order.
      {"MultiHeadAttention",
       {{"query/kernel", "query_dense"}, {"query/bias", "query_dense"}, {"key/kernel", "key_dense"},
        {"key/bias", "key_dense"}, {"value/kernel", "value_dense"}, {"value/bias", "value_dense"},
        {"attention_output/kernel", "output_dense"}, {"attention_output/bias", "output_dense"}}},
      // The wrapped layer is the wrapper's "layer"; a kernel-and-bias layer (Dense, Conv*) inside.
      {"TimeDistributed", {{"kernel", "layer"}, {"bias", "layer"}}},
      // myelin names the wrapped layers' weights "<forward layer>/kernel", ...: forward ones first.
      {"Bidirectional",
       {{"kernel", "forward_layer/cell"}, {"recurrent_kernel", "forward_layer/cell"}, {"bias", "forward_layer/cell"},
        {"kernel", "backward_layer/cell"}, {"recurrent_kernel", "backward_layer/cell"}, {"bias", "backward_layer/cell"}}},
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
  std::vector<bool> taken(params.size(), false);
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
    // A parameter of this name, or of a wrapped layer ("forward_lstm/kernel"), not taken yet.
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string& n = params[i].name;
      const bool same = n == v.name || (n.size() > v.name.size() && n.compare(n.size() - v.name.size(), v.name.size(), v.name) == 0 &&
                                        n[n.size() - v.name.size() - 1] == '/');
      if (same && !taken[i]) {
        taken[i] = true;
        add(v, params[i].value);
        ++matched;
        break;
      }
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
