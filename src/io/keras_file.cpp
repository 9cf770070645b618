#include "keras_file.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "architecture.hpp"
#include "keras_weight_layout.hpp"
#include "myelin/data/text_vectorization.hpp"
#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"
#include "myelin/io/hdf5_file.hpp"
#include "myelin/io/zip_archive.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/losses.hpp"
#include "myelin/optimizers.hpp"
#include "tensor_budget.hpp"

namespace myelin::io {

namespace {
using json = nlohmann::json;

std::string quoted(const std::string& path) { return "'" + path + "'"; }

// Building allocates every layer's weights before they are checked against the file: the budget,
// a few times the weights file, stops an architecture that would not fit in it.
Model build_within(const json& architecture, uint64_t weights_bytes, const std::string& path) {
  TensorBudget budget(int64_t(4 * weights_bytes + (uint64_t(1) << 20)), quoted(path));
  return model_from_architecture(architecture, quoted(path));
}

// The layers Keras 3 saves in order under "layers/": a Sequential's without its InputLayer, a
// Functional's all of them; each named by its class in snake case, numbered within its class.
std::vector<std::pair<std::string, std::string>> keras3_layer_groups(const json& config_layers, bool sequential) {
  std::vector<std::pair<std::string, std::string>> out;  // layer name, group path
  std::map<std::string, int> used;
  for (const auto& entry : config_layers) {
    const std::string cls = entry.value("class_name", "");
    if (sequential && cls == "InputLayer") continue;
    std::string snake = keras_snake_case(cls);
    auto [it, fresh] = used.emplace(snake, 0);
    if (!fresh) snake += "_" + std::to_string(++it->second);
    std::string name;
    if (entry.contains("config") && entry["config"].is_object() && entry["config"].contains("name") &&
        entry["config"]["name"].is_string())
      name = entry["config"]["name"];
    else if (entry.contains("name") && entry["name"].is_string())
      name = entry["name"];
    out.emplace_back(name, "layers/" + snake);
  }
  return out;
}

// A loss or metric as Keras serialises it: a name, or {"class_name": ..., "config": {...}}.
std::string keras_name(const json& j, const std::string& what) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("class_name") && j["class_name"].is_string()) {
    if (j.contains("config") && j["config"].is_object() && j["config"].contains("name") && j["config"]["name"].is_string() &&
        what == "metric")
      return j["config"]["name"];
    return j["class_name"];
  }
  throw ValueError("a " + what + " must be a name or {\"class_name\": ...}, got " + j.dump());
}

// Compiles the model as Keras's compile config (Keras 3) or training_config (Keras 2) says.
void compile_as_keras(Model& model, const json& optimizer, const json& loss, const json& metrics, const std::string& path) {
  try {
    if (!optimizer.is_object() || !optimizer.contains("class_name") || !optimizer["class_name"].is_string())
      throw ValueError("the optimizer needs a 'class_name'");
    auto opt = optimizers::from_config(optimizer["class_name"], optimizer.value("config", json::object()));
    CompileOptions options;
    std::vector<MetricArg> ms;
    if (metrics.is_array())
      for (const auto& m : metrics) {
        // Keras 3 nests a list per output; a single output's list is flattened.
        if (m.is_array())
          for (const auto& inner : m) ms.emplace_back(keras_name(inner, "metric"));
        else if (!m.is_null())
          ms.emplace_back(keras_name(m, "metric"));
      }
    options.metrics = MetricsArg(ms);
    auto one_loss = [&](const json& l) {
      if (l.is_string()) return losses::get(l.get<std::string>());
      return losses::from_config(keras_name(l, "loss"), l.value("config", json::object()));
    };
    if (loss.is_object() && !loss.contains("class_name")) {
      std::map<std::string, LossArg> by_name;
      for (const auto& [k, v] : loss.items()) by_name.emplace(k, one_loss(v));
      model.compile(opt, LossesArg(std::move(by_name)), options);
    } else if (loss.is_array() && loss.size() == 1) {
      model.compile(opt, one_loss(loss[0]), options);
    } else {
      model.compile(opt, one_loss(loss), options);
    }
  } catch (const json::exception& e) {
    throw ValueError(quoted(path) + ": the compile settings are malformed: " + e.what());
  } catch (const ValueError& e) {
    throw ValueError(quoted(path) + ": the compile settings: " + e.what());
  }
}

// Reads every weight first, then assigns, so a mismatch leaves nothing half-loaded.
struct Staged {
  Tensor* into;
  Tensor value;
};

std::string read_file_bounded(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(quoted(path) + " cannot be opened");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw IOError(quoted(path) + " cannot be read");
  if (uint64_t(size) > max_bytes) throw IOError(quoted(path) + " is larger than the limit of " + std::to_string(max_bytes) + " bytes");
  in.seekg(0);
  std::string bytes(size_t(size), '\0');
  if (!in.read(bytes.data(), size)) throw IOError(quoted(path) + " cannot be read");
  return bytes;
}

// Keras 3's serialised form of a myelin config entry: every object with a class_name gains the
// module Keras imports it from (initializers, regularizers, wrapped layers), as Keras's own files have.
void add_modules(json& j, const std::string& key) {
  if (j.is_object()) {
    if (j.contains("class_name") && j.contains("config") && !j.contains("module")) {
      const bool init = key.size() >= 12 && key.compare(key.size() - 12, 12, "_initializer") == 0;
      const bool reg = key.size() >= 12 && key.compare(key.size() - 12, 12, "_regularizer") == 0;
      const bool layer = key == "layer" || key == "backward_layer";  // Bidirectional's wrapped layers
      if (init) j["module"] = "keras.initializers";
      if (reg) j["module"] = "keras.regularizers";
      if (layer) j["module"] = "keras.layers";
      if (init || reg || layer) j["registered_name"] = nullptr;
    }
    for (auto& [k, v] : j.items()) add_modules(v, k);
  } else if (j.is_array()) {
    for (auto& v : j) add_modules(v, key);
  }
}

// Keras 3 rebuilds each tensor a layer reads as a placeholder of its shape and dtype before
// wiring the graph: the shape of the output of the layer named in keras_history.
void add_tensor_shapes(json& j, Model& model) {
  if (j.is_array()) {
    for (auto& v : j) add_tensor_shapes(v, model);
  } else if (j.is_object()) {
    if (j.value("class_name", "") == "__keras_tensor__" && j.contains("config") && j["config"].contains("keras_history")) {
      json shape = json::array({nullptr});
      for (int64_t d : model.get_layer(j["config"]["keras_history"][0].get<std::string>())->output_shape()) shape.push_back(d);
      j["config"]["shape"] = shape;
      j["config"]["dtype"] = "float32";
      return;
    }
    for (auto& [k, v] : j.items()) add_tensor_shapes(v, model);
  }
}

// Options myelin keeps in the attention layers' configs (so that a model file keeps them) and Keras
// 3 passes when it calls the layer: in a .keras file they live in the call's kwargs.
const char* const kAttentionCallOptions[] = {"use_causal_mask", "return_attention_scores"};

bool is_attention(const json& entry) {
  const std::string cls = entry.value("class_name", "");
  return cls == "MultiHeadAttention" || cls == "Attention";
}

// myelin's config -> Keras's: the options leave the layer's config for each call's kwargs, and
// MultiHeadAttention's list of inputs becomes Keras's call(query, value, key, attention_mask=...).
void attention_options_to_calls(json& entry) {
  if (!is_attention(entry) || !entry.contains("config") || !entry["config"].is_object()) return;
  if (entry.value("class_name", "") == "MultiHeadAttention" && entry.contains("inbound_nodes") &&
      entry["inbound_nodes"].is_array())
    for (json& node : entry["inbound_nodes"]) {
      if (!node.is_object() || !node.contains("args") || !node["args"].is_array() || node["args"].size() != 1 ||
          !node["args"][0].is_array())
        continue;
      const json inputs = node["args"][0];
      json args = json::array();
      for (size_t k = 0; k < inputs.size() && k < 3; ++k) args.push_back(inputs[k]);
      node["args"] = args;
      if (!node.contains("kwargs") || !node["kwargs"].is_object()) node["kwargs"] = json::object();
      if (inputs.size() == 4) node["kwargs"]["attention_mask"] = inputs[3];
    }
  json& c = entry["config"];
  for (const char* key : kAttentionCallOptions) {
    if (!c.contains(key)) continue;
    const bool on = c[key].is_boolean() && c[key].get<bool>();
    c.erase(key);
    if (!on || !entry.contains("inbound_nodes") || !entry["inbound_nodes"].is_array()) continue;
    for (json& node : entry["inbound_nodes"])
      if (node.is_object()) {
        if (!node.contains("kwargs") || !node["kwargs"].is_object()) node["kwargs"] = json::object();
        node["kwargs"][key] = true;
      }
  }
}

// Keras's config -> myelin's: a call's kwargs set the layer's option (a layer called once, as myelin's
// attention layers keep one setting).
void attention_options_from_calls(json& model_config) {
  for (json& entry : model_config["config"]["layers"]) {
    if (!entry.is_object() || !is_attention(entry) || !entry.contains("inbound_nodes") ||
        !entry["inbound_nodes"].is_array() || !entry.contains("config") || !entry["config"].is_object())
      continue;
    for (json& node : entry["inbound_nodes"]) {
      if (!node.is_object() || !node.contains("kwargs") || !node["kwargs"].is_object()) continue;
      for (const char* key : kAttentionCallOptions)
        if (node["kwargs"].contains(key)) {
          if (node["kwargs"][key].is_boolean() && node["kwargs"][key].get<bool>()) entry["config"][key] = true;
          node["kwargs"].erase(key);
        }
    }
  }
}

json keras3_layer_entry(const json& myelin_entry) {
  json e = myelin_entry;
  json config = e.value("config", json::object());
  add_modules(config, "");
  e["config"] = config;
  e["module"] = "keras.layers";
  e["registered_name"] = nullptr;
  return e;
}

// Keras 3 keeps a TextVectorization's adapted vocabulary as an asset beside the weights.
std::string vocabulary_asset(const std::string& group) { return "assets/" + group + "/vocabulary.txt"; }

// A Sequential's TextVectorization in Keras 3's form, taken out of `config` (its layers list) and
// rebuilt with its vocabulary; the string InputLayer before it becomes the ids' input. nullopt when
// the model has none.
std::optional<data::TextVectorization> take_text_vectorization(json& config, ZipReader& zip, const std::string& path) {
  json& layers = config["config"]["layers"];
  const bool sequential = config.value("class_name", "") == "Sequential";
  size_t at = layers.size();
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].value("class_name", "") == "TextVectorization") at = i;
  if (at == layers.size()) return std::nullopt;
  const json entry = layers[at];
  const std::string name = entry.contains("config") && entry["config"].is_object() ? entry["config"].value("name", "") : "";
  const bool first = at == 0 || (at == 1 && layers[0].value("class_name", "") == "InputLayer");
  if (!sequential || !first)
    throw ValueError(quoted(path) + ": TextVectorization '" + name +
                     "' must come first in a Sequential model (myelin runs it before the model's input)");
  std::string group;
  for (const auto& [layer_name, g] : keras3_layer_groups(layers, true))
    if (layer_name == name) group = g;
  try {
    json c = entry.at("config");
    std::optional<std::vector<std::string>> asset;
    if (c.value("vocabulary", json()).is_null()) {
      const std::string where = vocabulary_asset(group);
      if (!zip.contains(where))
        throw IOError("its vocabulary " + where + " is missing");
      asset = data::parse_vocabulary(zip.read(where, kMaxKerasConfigBytes), quoted(path) + " (" + where + ")");
      c["has_input_vocabulary"] = false;
    }
    data::TextVectorization tv = data::TextVectorization::from_config(c);
    if (asset) tv.set_vocabulary(*asset);
    const auto length = tv.options().output_sequence_length;
    if (!length) throw ValueError("myelin needs its output_sequence_length to give the model a fixed input");
    if (at == 1) {  // the string InputLayer now takes the ids
      json& input = layers[0]["config"];
      input["batch_shape"] = json::array({nullptr, *length});
      input.erase("batch_input_shape");
      input["dtype"] = "float32";
    }
    layers.erase(layers.begin() + std::ptrdiff_t(at));
    return tv;
  } catch (const IOError& e) {
    throw IOError(quoted(path) + ": TextVectorization '" + name + "': " + e.what());
  } catch (const Error& e) {
    throw ValueError(quoted(path) + ": TextVectorization '" + name + "': " + e.what());
  } catch (const json::exception& e) {
    throw IOError(quoted(path) + ": TextVectorization '" + name + "' is malformed: " + e.what());
  }
}
}  // namespace

Model load_keras(const std::string& path) {
  ZipReader zip(path);
  if (!zip.contains("config.json")) throw IOError(quoted(path) + " is not a Keras 3 model file: it has no config.json");
  json config = [&] {
    try {
      return parse_model_json(zip.read("config.json", kMaxKerasConfigBytes), "config.json");
    } catch (const ValueError& e) {
      throw IOError(quoted(path) + ": " + e.what());
    }
  }();
  if (zip.contains("metadata.json")) zip.read("metadata.json", kMaxKerasMetadataBytes);  // checked, not needed
  if (!config.is_object() || !config.contains("config") || !config["config"].is_object() ||
      !config["config"].contains("layers") || !config["config"]["layers"].is_array())
    throw IOError(quoted(path) + ": config.json holds no model with a 'layers' list");
  attention_options_from_calls(config);
  const auto text_vectorization = take_text_vectorization(config, zip, path);
  if (!zip.contains("model.weights.h5")) throw IOError(quoted(path) + " is not a Keras 3 model file: it has no model.weights.h5");
  std::string weights_bytes = zip.read("model.weights.h5", kMaxKerasWeightsBytes);
  const uint64_t weights_size = weights_bytes.size();
  Model model = build_within(config, weights_size, path);
  const Hdf5File h5 = Hdf5File::open_image(std::move(weights_bytes), quoted(path) + " (model.weights.h5)");

  const bool sequential = config.value("class_name", "") == "Sequential";
  std::vector<Staged> staged;
  for (const auto& [name, group] : keras3_layer_groups(config["config"]["layers"], sequential)) {
    std::shared_ptr<Layer> layer;
    try {
      layer = model.get_layer(name);
    } catch (const ValueError&) {
      if (sequential || name.empty()) throw IOError(quoted(path) + ": config.json's layer '" + name + "' is not in the model");
      continue;  // an InputLayer myelin folds into the model's inputs
    }
    std::vector<KerasSlot> vars;
    try {
      vars = keras_variables(*layer);
    } catch (const ValueError& e) {
      throw ValueError(quoted(path) + ": " + e.what());
    }
    // Each group of vars holds exactly the layer's variables there, in Keras's order.
    std::map<std::string, int64_t> expected;
    for (const auto& v : vars) ++expected[v.owner];
    for (const auto& [owner, n] : expected) {
      const std::string at = group + "/" + (owner.empty() ? "" : owner + "/") + "vars";
      const int64_t stored = h5.count(at);
      if (stored != n)
        throw IOError(quoted(path) + ": layer '" + name + "' has " + std::to_string(n) + " weights in " + at + " but the file holds " +
                      std::to_string(stored));
    }
    if (vars.empty() && h5.count(group + "/vars") != 0)
      throw IOError(quoted(path) + ": layer '" + name + "' has no weights but " + group + "/vars holds some");
    for (const auto& v : vars) {
      const std::string at = group + "/" + v.path;
      if (!v.value) {
        if (!h5.exists(at)) throw IOError(quoted(path) + ": dataset '" + at + "' is missing");
        continue;
      }
      staged.push_back({v.value, h5.read(at, v.value->shape())});
    }
  }
  for (auto& s : staged) s.into->copy_from(s.value);

  if (text_vectorization) model.set_text_vectorization(*text_vectorization);

  if (config.contains("compile_config") && config["compile_config"].is_object()) {
    const json& c = config["compile_config"];
    compile_as_keras(model, c.value("optimizer", json()), c.value("loss", json()), c.value("metrics", json()), path);
  }
  return model;
}

void save_keras(Model& model, const std::string& path) {
  const json mine = model_architecture(model);
  const bool sequential = mine.value("class_name", "") == "Sequential";
  json config = mine["config"];
  json layers = json::array();
  if (sequential && (model.layers().empty() || model.layers()[0]->class_name() != "InputLayer")) {
    json shape = json::array({nullptr});
    for (int64_t d : model.input_shape()) shape.push_back(d);
    layers.push_back({{"module", "keras.layers"},
                      {"class_name", "InputLayer"},
                      {"config", {{"batch_shape", shape}, {"dtype", "float32"}, {"name", "input_layer"}}},
                      {"registered_name", nullptr}});
  }
  for (const auto& e : config["layers"]) layers.push_back(keras3_layer_entry(e));
  const data::TextVectorization* tv = model.text_vectorization();
  std::vector<std::pair<std::string, std::string>> assets;  // zip entry, contents
  if (tv) {
    if (!sequential)
      throw ValueError(quoted(path) + ": a functional model's TextVectorization is saved in .safetensors files only; "
                       "build the text model as a Sequential to save it as .keras");
    const auto length = tv->options().output_sequence_length;
    if (!length)
      throw ValueError(quoted(path) + ": TextVectorization '" + tv->name() +
                       "' needs an output_sequence_length to be saved as .keras (the ids' input needs a fixed length)");
    // Keras's form: a string InputLayer, the TextVectorization, then the layers taking its ids.
    json& input = layers[0]["config"];
    input.erase("batch_input_shape");
    input["batch_shape"] = json::array({nullptr, 1});
    input["dtype"] = "string";
    json c = tv->get_config();
    c["vocabulary"] = nullptr;  // Keras 3 keeps the vocabulary in the asset
    c["has_input_vocabulary"] = false;
    layers.insert(layers.begin() + 1, json{{"module", "keras.layers"}, {"class_name", "TextVectorization"}, {"config", c},
                                           {"registered_name", nullptr}});
    std::string text;
    for (const auto& token : tv->get_vocabulary(true)) text += token + "\n";
    text.pop_back();  // Keras joins the tokens with "\n"
    for (const auto& [name, group] : keras3_layer_groups(layers, true))
      if (name == tv->name()) assets.emplace_back(vocabulary_asset(group), text);
  }
  for (auto& e : layers) {
    if (e["class_name"] == "InputLayer") {
      // Keras 3 names an InputLayer's shape batch_shape.
      if (e["config"].contains("batch_input_shape")) {
        e["config"]["batch_shape"] = e["config"]["batch_input_shape"];
        e["config"].erase("batch_input_shape");
      }
    } else {
      e["config"].erase("batch_input_shape");  // the InputLayer carries the shape
    }
    if (e.contains("inbound_nodes")) add_tensor_shapes(e["inbound_nodes"], model);
    attention_options_to_calls(e);
  }
  config["layers"] = layers;
  // Where Keras 3 itself says each model class lives.
  json out = sequential ? json{{"module", "keras"}, {"class_name", "Sequential"}, {"registered_name", nullptr}}
                        : json{{"module", "keras.src.models.functional"}, {"class_name", "Functional"}, {"registered_name", "Functional"}};
  out["config"] = config;
  if (model.compiled()) {
    Optimizer& opt = model.optimizer();
    json metrics = json::array();
    for (const auto& m : model.compile_options().metrics.list()) metrics.push_back(m.get() ? m.get()->name() : m.name());
    const auto losses = model.losses();
    json loss = losses.size() == 1 ? json(losses[0]->name()) : json(nullptr);
    if (losses.size() > 1) {
      loss = json::object();
      const auto names = model.output_names();
      for (size_t k = 0; k < names.size(); ++k) loss[names[k]] = losses[k]->name();
    }
    out["compile_config"] = {{"optimizer", {{"module", "keras.optimizers"}, {"class_name", opt.name()}, {"config", opt.get_config()},
                                            {"registered_name", nullptr}}},
                             {"loss", loss},
                             {"loss_weights", nullptr},
                             {"metrics", metrics},
                             {"weighted_metrics", nullptr},
                             {"run_eagerly", false},
                             {"steps_per_execution", 1},
                             {"jit_compile", false}};
  }

  Hdf5File h5 = Hdf5File::create(quoted(path));
  h5.make_group("vars");
  h5.set_string_attribute("vars", "name", model.name());
  for (const auto& [name, group] : keras3_layer_groups(layers, sequential)) {
    h5.make_group(group + "/vars");
    h5.set_string_attribute(group + "/vars", "name", name);
    std::shared_ptr<Layer> layer;
    try {
      layer = model.get_layer(name);
    } catch (const ValueError&) {
      continue;  // the InputLayer written above for a Sequential has no weights
    }
    const auto vars = keras_variables(*layer);
    for (const auto& v : vars) h5.write(group + "/" + v.path, v.value ? *v.value : Tensor(Shape{}));
  }
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", std::gmtime(&now));
  // keras_version: the Keras release whose format this file follows.
  const json metadata = {{"keras_version", "3.15.1"}, {"date_saved", date}, {"myelin_version", version()}};
  std::vector<std::pair<std::string, std::string>> entries = {
      {"metadata.json", metadata.dump()}, {"config.json", out.dump()}, {"model.weights.h5", h5.image()}};
  entries.insert(entries.end(), assets.begin(), assets.end());
  write_file_atomically(path, make_zip(entries, path));
}

Model load_keras2_h5(const std::string& path) {
  const uint64_t max_bytes = kMaxKerasWeightsBytes;
  std::string bytes = read_file_bounded(path, max_bytes);
  const uint64_t size = bytes.size();
  const Hdf5File h5 = Hdf5File::open_image(std::move(bytes), quoted(path));
  const auto config_text = h5.string_attribute("/", "model_config");
  if (!config_text)
    throw IOError(quoted(path) + " holds no model_config attribute: not a whole-model Keras .h5 (a weights-only file?)");
  if (config_text->size() > kMaxKerasConfigBytes) throw IOError(quoted(path) + ": model_config is over the size limit");
  const json config = [&] {
    try {
      return parse_model_json(*config_text, "model_config");
    } catch (const ValueError& e) {
      throw IOError(quoted(path) + ": " + e.what());
    }
  }();
  Model model = build_within(config, size, path);
  const std::string root = h5.exists("model_weights") ? "model_weights" : "";
  const auto names = h5.string_list_attribute(root.empty() ? "/" : root, "layer_names");
  std::map<std::string, bool> seen;
  std::vector<Staged> staged;
  for (const auto& name : names) {
    seen[name] = true;
    const std::string group = (root.empty() ? "" : root + "/") + name;
    const auto weight_names = h5.string_list_attribute(group, "weight_names");
    std::shared_ptr<Layer> layer;
    try {
      layer = model.get_layer(name);
    } catch (const ValueError&) {
      if (weight_names.empty()) continue;  // an InputLayer
      throw IOError(quoted(path) + ": weights for layer '" + name + "', which the model does not have");
    }
    std::vector<KerasSlot> vars;
    try {
      vars = keras_variables(*layer);
    } catch (const ValueError& e) {
      throw ValueError(quoted(path) + ": " + e.what());
    }
    if (weight_names.size() != vars.size())
      throw IOError(quoted(path) + ": layer '" + name + "' has " + std::to_string(vars.size()) + " weights but the file lists " +
                    std::to_string(weight_names.size()));
    for (size_t i = 0; i < vars.size(); ++i)
      if (vars[i].value) staged.push_back({vars[i].value, h5.read(group + "/" + weight_names[i], vars[i].value->shape())});
  }
  for (const auto& l : model.layers())
    if (!seen.count(l->name()) && !l->params().empty())
      throw IOError(quoted(path) + " has no weights for layer '" + l->name() + "'");
  for (auto& s : staged) s.into->copy_from(s.value);

  if (auto training = h5.string_attribute("/", "training_config")) {
    json t;
    try {
      t = parse_model_json(*training, "training_config");
    } catch (const ValueError& e) {
      throw IOError(quoted(path) + ": " + e.what());
    }
    if (t.is_object() && t.contains("optimizer_config"))
      compile_as_keras(model, t["optimizer_config"], t.value("loss", json()), t.value("metrics", json()), path);
  }
  return model;
}

}  // namespace myelin::io
