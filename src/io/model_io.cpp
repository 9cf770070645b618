#include "myelin/io/model_io.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

#include "myelin/distributed.hpp"
#include "myelin/error.hpp"
#include "myelin/data/text_vectorization.hpp"
#include "myelin/io/safetensors.hpp"
#include "myelin/layers/registry.hpp"
#include "myelin/layers/symbolic_tensor.hpp"
#include "architecture.hpp"
#include "keras_file.hpp"
#include "tensor_budget.hpp"

namespace myelin {

namespace {
using json = nlohmann::json;

constexpr const char* kOptimizerPrefix = "optimizer/";

// Architectures nest a few levels; a file nesting thousands deep is hostile, and printing such a
// value into an error message would recurse once per level and overflow the stack.
constexpr int kMaxJsonDepth = 64;

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth)
        throw ValueError(what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return true;
    });
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers such as 1e400
    throw ValueError(what + " does not parse: " + e.what());
  }
}

// A functional model in Keras 3's form: each layer with the layers it reads ("inbound_nodes", whose
// args hold keras_history entries), and the model's input and output layers.
json functional_architecture(Model& model) {
  json layers = json::array();
  const auto calls = model.layer_calls();
  auto history = [&](const TensorRef& t) {
    return json{{"class_name", "__keras_tensor__"}, {"config", {{"keras_history", {t.layer, t.call, t.tensor}}}}};
  };
  for (size_t i = 0; i < model.layers().size(); ++i) {
    const auto& l = model.layers()[i];
    json inbound = json::array();
    for (const auto& reads : calls[i]) {
      if (reads.empty()) continue;
      json args = json::array();
      if (l->num_inputs() == 1) {
        // A recurrent layer's further inputs are its initial state: Keras's initial_state=[h, c].
        args.push_back(history(reads[0]));
        json kwargs = json::object();
        if (reads.size() > 1) {
          json state = json::array();
          for (size_t k = 1; k < reads.size(); ++k) state.push_back(history(reads[k]));
          kwargs["initial_state"] = state;
        }
        inbound.push_back({{"args", args}, {"kwargs", kwargs}});
        continue;
      } else {
        json list = json::array();
        for (const auto& t : reads) list.push_back(history(t));
        args.push_back(list);
      }
      inbound.push_back({{"args", args}, {"kwargs", json::object()}});
    }
    layers.push_back({{"class_name", l->class_name()}, {"name", l->name()}, {"config", l->get_config()},
                      {"inbound_nodes", inbound}});
  }
  json inputs = json::array(), outputs = json::array();
  for (const auto& name : model.input_names()) inputs.push_back({name, 0, 0});
  for (const auto& t : model.output_refs()) outputs.push_back({t.layer, t.call, t.tensor});
  return {{"class_name", "Functional"},
          {"config", {{"name", model.name()}, {"trainable", true}, {"layers", layers}, {"input_layers", inputs},
                      {"output_layers", outputs}}}};
}

// A keras_history entry ["dense", call, tensor] (or Keras 2's ["dense", call, tensor, {}]) as the
// tensor it names.
TensorRef tensor_ref(const json& h, const std::string& where) {
  if (!h.is_array() || h.empty() || !h[0].is_string())
    throw ValueError(where + ": an inbound entry needs a layer name, got " + h.dump());
  TensorRef t{h[0].get<std::string>(), 0};
  if (h.size() > 1) {
    if (!h[1].is_number_integer() || h[1].get<int64_t>() < 0 || h[1].get<int64_t>() > 1000000)
      throw ValueError(where + ": bad call index in " + h.dump());
    t.call = h[1].get<int>();
  }
  if (h.size() > 2) {
    if (!h[2].is_number_integer() || h[2].get<int64_t>() < 0 || h[2].get<int64_t>() > 1000)
      throw ValueError(where + ": bad tensor index in " + h.dump());
    t.tensor = h[2].get<int>();
  }
  return t;
}

// The tensors each call of a layer reads, from its inbound_nodes in Keras 3's form ({"args":
// [tensor or [tensors]]} with keras_history) or Keras 2's ([[["dense", 0, 0, {}], ...], ...]).
std::vector<std::vector<TensorRef>> inbound_calls(const json& inbound, const std::string& where) {
  std::vector<std::vector<TensorRef>> calls;
  if (!inbound.is_array()) throw ValueError(where + ": 'inbound_nodes' must be a list");
  for (const json& node : inbound) {
    std::vector<TensorRef> reads;
    if (node.is_array()) {  // Keras 2
      for (const auto& e : node) reads.push_back(tensor_ref(e, where));
    } else {
      if (!node.is_object() || !node.contains("args") || !node["args"].is_array() || node["args"].empty())
        throw ValueError(where + ": an inbound node needs 'args'");
      const json& arg = node["args"][0];
      auto read = [&](const json& t) {
        if (!t.is_object() || !t.contains("config") || !t["config"].is_object() || !t["config"].contains("keras_history"))
          throw ValueError(where + ": an inbound tensor needs 'keras_history', got " + t.dump());
        reads.push_back(tensor_ref(t["config"]["keras_history"], where));
      };
      auto is_tensor = [](const json& t) { return t.is_object() && t.contains("config") && t["config"].is_object() &&
                                                  t["config"].contains("keras_history"); };
      if (arg.is_array())
        for (const auto& t : arg) read(t);
      else
        read(arg);
      // Keras's MultiHeadAttention takes query, value[, key] as positional tensors and attention_mask
      // by keyword: myelin's inputs are {query, value, key, attention_mask}, the key defaulting to value.
      for (size_t k = 1; k < node["args"].size(); ++k)
        if (is_tensor(node["args"][k])) read(node["args"][k]);
      if (node.contains("kwargs") && node["kwargs"].is_object()) {
        const json& kw = node["kwargs"];
        if (kw.contains("key") && is_tensor(kw["key"])) read(kw["key"]);
        if (kw.contains("attention_mask") && is_tensor(kw["attention_mask"])) {
          if (reads.size() == 2) reads.push_back(reads[1]);
          read(kw["attention_mask"]);
        }
      }
      // A recurrent layer's initial state, read after its input.
      if (node.contains("kwargs") && node["kwargs"].is_object() && node["kwargs"].contains("initial_state")) {
        const json& state = node["kwargs"]["initial_state"];
        if (!state.is_array()) throw ValueError(where + ": 'initial_state' must be a list of tensors");
        for (const auto& t : state) read(t);
      }
    }
    if (reads.empty()) throw ValueError(where + ": an inbound node reads nothing");
    calls.push_back(std::move(reads));
  }
  return calls;
}

Model functional_from_architecture(const json& config, const std::string& where) {
  std::string name = "functional";
  if (config.contains("name") && config["name"].is_string()) name = config["name"].get<std::string>();
  // Each layer's calls are made once the tensors they read exist; a call may read a layer listed
  // after its own (Keras lists each layer once, with all of its calls), so passes repeat until done.
  struct Pending {
    std::shared_ptr<Layer> layer;
    std::vector<std::vector<TensorRef>> calls;
    size_t made = 0;
    std::string where;
  };
  std::vector<Pending> pending;
  // layer name -> the outputs of each of its calls so far
  std::map<std::string, std::vector<std::vector<SymbolicTensor>>> made;
  size_t index = 0;
  for (const auto& entry : config["layers"]) {
    const std::string at = where + ": layer " + std::to_string(index++);
    if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string())
      throw ValueError(at + " needs a string 'class_name'");
    const json layer_config = entry.value("config", json::object());
    std::shared_ptr<Layer> layer;
    try {
      layer = layers::from_config(entry["class_name"].get<std::string>(), layer_config);
    } catch (const ValueError& e) {
      throw ValueError(at + ": " + e.what());
    }
    if (entry.contains("name") && entry["name"].is_string() && layer->name().empty()) layer->set_name(entry["name"]);
    if (made.count(layer->name())) throw ValueError(at + ": two layers named '" + layer->name() + "'");
    auto calls = inbound_calls(entry.value("inbound_nodes", json::array()), at);
    if (auto* input = dynamic_cast<layers::Input*>(layer.get())) {
      if (!calls.empty()) throw ValueError(at + ": an InputLayer reads no other layer");
      made[layer->name()].push_back({SymbolicTensor(*input)});
      continue;
    }
    if (calls.empty()) throw ValueError(at + " ('" + layer->name() + "') reads no layer");
    made[layer->name()];
    pending.push_back({layer, std::move(calls), 0, at});
  }
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& p : pending)
      while (p.made < p.calls.size()) {
        std::vector<SymbolicTensor> in;
        for (const auto& t : p.calls[p.made]) {
          auto it = made.find(t.layer);
          if (it == made.end())
            throw ValueError(p.where + " ('" + p.layer->name() + "') reads layer '" + t.layer + "', which the model does not have");
          if (size_t(t.call) >= it->second.size()) break;
          const auto& outs = it->second[size_t(t.call)];
          if (size_t(t.tensor) >= outs.size())
            throw ValueError(p.where + " ('" + p.layer->name() + "') reads output " + std::to_string(t.tensor) +
                             " of layer '" + t.layer + "', which has " + std::to_string(outs.size()));
          in.push_back(outs[size_t(t.tensor)]);
        }
        if (in.size() < p.calls[p.made].size()) break;  // waits for a call not made yet
        made[p.layer->name()].push_back(call_layer_outputs(p.layer, in));
        ++p.made;
        progress = true;
      }
  }
  for (const auto& p : pending)
    if (p.made < p.calls.size())
      throw ValueError(p.where + " ('" + p.layer->name() + "'): call " + std::to_string(p.made) +
                       " reads a tensor that no layer makes (a cycle, or a call index beyond the calls listed)");
  auto endpoints = [&](const char* key) {
    std::vector<SymbolicTensor> out;
    if (!config.contains(key) || !config[key].is_array()) throw ValueError(where + ": the model needs '" + key + "'");
    const json& list = config[key];
    // One endpoint may be written as ["name", 0, 0] instead of [["name", 0, 0]].
    const bool single = !list.empty() && list[0].is_string();
    for (const auto& e : single ? json::array({list}) : list) {
      const TensorRef t = tensor_ref(e, where);
      auto it = made.find(t.layer);
      if (it == made.end() || size_t(t.call) >= it->second.size() || size_t(t.tensor) >= it->second[size_t(t.call)].size())
        throw ValueError(where + ": '" + key + "' names layer '" + t.layer + "', which the model does not have");
      out.push_back(it->second[size_t(t.call)][size_t(t.tensor)]);
    }
    return out;
  };
  try {
    return Model(endpoints("input_layers"), endpoints("output_layers"), name);
  } catch (const ValueError& e) {
    throw ValueError(where + ": " + e.what());
  }
}

json architecture(Model& model) {
  if (!model.built()) model.build();
  if (!model.is_sequential()) return functional_architecture(model);
  json layers = json::array();
  for (const auto& l : model.layers()) layers.push_back({{"class_name", l->class_name()}, {"config", l->get_config()}});
  json shape = json::array({nullptr});
  for (int64_t d : model.input_shape()) shape.push_back(d);
  return {{"class_name", "Sequential"},
          {"config", {{"name", model.name()}, {"layers", layers}, {"build_input_shape", shape}}}};
}

Model from_architecture(const json& j, const std::string& where) {
  const json* config = &j;
  bool functional = false;
  if (j.is_object() && j.contains("class_name")) {
    functional = j["class_name"] == "Functional" || j["class_name"] == "Model";
    if (j["class_name"] != "Sequential" && !functional)
      throw ValueError(where + ": only Sequential and Functional models are supported, got class " +
                       j["class_name"].dump());
    if (!j.contains("config")) throw ValueError(where + ": the model has no 'config'");
    config = &j["config"];
  }
  if (!config->is_object() || !config->contains("layers") || !(*config)["layers"].is_array())
    throw ValueError(where + ": the architecture needs a 'layers' list");
  if (functional) {
    Model model = functional_from_architecture(*config, where);
    try {
      model.build();
    } catch (const ShapeError& e) {
      throw ShapeError(where + ": " + e.what());
    }
    return model;
  }
  std::string name = "sequential";
  if (config->contains("name") && !(*config)["name"].is_null()) {
    if (!(*config)["name"].is_string()) throw ValueError(where + ": the model's 'name' must be a string");
    name = (*config)["name"].get<std::string>();
  }
  Sequential model(name);
  size_t index = 0;
  for (const auto& entry : (*config)["layers"]) {
    if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string())
      throw ValueError(where + ": layer " + std::to_string(index) + " needs a string 'class_name'");
    try {
      model.add(layers::from_config(entry["class_name"].get<std::string>(), entry.value("config", json::object())));
    } catch (const ValueError& e) {
      throw ValueError(where + ": layer " + std::to_string(index) + ": " + e.what());
    }
    ++index;
  }
  std::optional<Shape> shape;
  if (config->contains("build_input_shape") && (*config)["build_input_shape"].is_array()) {
    Shape s;
    const auto& b = (*config)["build_input_shape"];
    for (size_t i = 1; i < b.size(); ++i) {
      if (!b[i].is_number_integer() || b[i].get<int64_t>() <= 0)
        throw ValueError(where + ": 'build_input_shape' must hold positive sizes after the batch entry");
      s.push_back(b[i].get<int64_t>());
    }
    shape = s;
  }
  // Without a known input shape the model stays unbuilt until fit/predict see data, as in Keras.
  if (shape || (!model.layers().empty() && model.layers()[0]->declared_input_shape())) {
    try {
      model.build(shape);
    } catch (const ShapeError& e) {
      // The layers do not fit together: the file (or JSON) that says so is named.
      throw ShapeError(where + ": " + e.what());
    }
  }
  return model;
}

json metric_names(const std::vector<MetricArg>& metrics) {
  json names = json::array();
  for (const auto& m : metrics) names.push_back(m.get() ? m.get()->name() : m.name());
  return names;
}

// Metrics as compile() took them: a list, or a map by output name.
json metrics_json(const MetricsArg& metrics) {
  if (!metrics.is_map()) return metric_names(metrics.list());
  json by_name = json::object();
  for (const auto& [k, ms] : metrics.map()) by_name[k] = metric_names(ms);
  return by_name;
}

MetricsArg metrics_from_json(const json& j) {
  auto list = [](const json& names) {
    std::vector<MetricArg> out;
    for (const auto& m : names) out.emplace_back(m.get<std::string>());
    return out;
  };
  if (!j.is_object()) return MetricsArg(list(j));
  std::map<std::string, std::vector<MetricArg>> by_name;
  for (const auto& [k, v] : j.items()) by_name.emplace(k, list(v));
  return MetricsArg(std::move(by_name));
}

json compile_settings(Model& model) {
  if (!model.compiled()) return nullptr;
  Optimizer& opt = model.optimizer();
  json settings = {{"optimizer", {{"class_name", opt.name()}, {"config", opt.get_config()}, {"iterations", opt.iterations()}}},
                   {"metrics", metrics_json(model.compile_options().metrics)}};
  const auto& weighted = model.compile_options().weighted_metrics;
  if (!weighted.empty()) settings["weighted_metrics"] = metrics_json(weighted);
  if (!model.built() || model.output_names().size() == 1) {
    settings["loss"] = {{"name", model.loss().name()}, {"config", model.loss().get_config()}};
    return settings;
  }
  // Several outputs: each one's loss and loss weight by output name, as Keras's compile config has them.
  const auto names = model.output_names();
  const auto losses = model.losses();
  const auto& lw = model.compile_options().loss_weights;
  json loss = json::object(), weights = json::object();
  for (size_t k = 0; k < names.size(); ++k) {
    loss[names[k]] = {{"name", losses[k]->name()}, {"config", losses[k]->get_config()}};
    double w = lw.list().empty() ? 1.0 : lw.list()[k];
    if (auto it = lw.map().find(names[k]); it != lw.map().end()) w = it->second;
    weights[names[k]] = w;
  }
  settings["loss"] = loss;
  settings["loss_weights"] = weights;
  return settings;
}

std::vector<std::pair<std::string, const Tensor*>> weight_tensors(Model& model) {
  std::vector<std::pair<std::string, const Tensor*>> out;
  for (const auto& p : model.weights()) out.emplace_back(p.name, p.value);
  return out;
}

// Puts the file's weights into the model, after checking every one, so a mismatch changes nothing.
void assign_weights(Model& model, const io::SafetensorsFile& f, const std::string& path) {
  const auto ws = model.weights();
  for (const auto& p : ws) {
    if (!f.contains(p.name)) throw IOError("'" + path + "' has no weight '" + p.name + "' for model '" + model.name() + "'");
    const Tensor& t = f.at(p.name);
    if (t.shape() != p.value->shape())
      throw IOError("'" + path + "': weight '" + p.name + "' has shape " + shape_to_string(t.shape()) +
                    " but the model's is " + shape_to_string(p.value->shape()));
  }
  for (const auto& p : ws) p.value->copy_from(f.at(p.name));
}

bool has_extension(const std::string& path, const std::string& ext) {
  if (path.size() < ext.size()) return false;
  std::string tail = path.substr(path.size() - ext.size());
  for (auto& c : tail) c = char(std::tolower(static_cast<unsigned char>(c)));
  return tail == ext;
}
}  // namespace

namespace io {
nlohmann::json parse_model_json(const std::string& text, const std::string& what) { return parse_json(text, what); }
Model model_from_architecture(const nlohmann::json& j, const std::string& where) { return from_architecture(j, where); }
nlohmann::json model_architecture(Model& model) { return architecture(model); }
}  // namespace io

const char* version() { return "0.1.0"; }

std::string model_to_json(Model& model) { return architecture(model).dump(); }

Model model_from_json(const std::string& text) {
  return from_architecture(parse_json(text, "model JSON"), "model JSON");
}

void save_model(Model& model, const std::string& path, const std::map<std::string, std::string>& extra_metadata) {
  // Under mpirun every rank holds the same weights: rank 0 alone writes them.
  if (!distributed::is_primary()) return;
  if (has_extension(path, ".keras")) return io::save_keras(model, path);
  if (has_extension(path, ".h5") || has_extension(path, ".hdf5"))
    throw ValueError("'" + path + "': myelin reads Keras 2 .h5 files but does not write them; save as .keras or .safetensors");
  auto tensors = weight_tensors(model);
  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = "myelin";
  meta["myelin_version"] = version();
  meta["architecture"] = architecture(model).dump();
  if (const auto* tv = model.text_vectorization()) meta["text_vectorization"] = tv->get_config().dump();
  const json compile = compile_settings(model);
  if (!compile.is_null()) {
    meta["compile"] = compile.dump();
    // The optimizer's moments, so that a loaded model trains on exactly as the saved one would.
    Optimizer& opt = model.optimizer();
    for (const auto& [name, t] : opt.slots()) tensors.emplace_back(kOptimizerPrefix + name, t);
  }
  io::write_safetensors(path, tensors, meta);
}

Model load_model(const std::string& path) {
  if (has_extension(path, ".keras")) return io::load_keras(path);
  if (has_extension(path, ".h5") || has_extension(path, ".hdf5")) return io::load_keras2_h5(path);
  const io::SafetensorsFile f = io::read_safetensors(path);
  auto arch = f.metadata.find("architecture");
  if (arch == f.metadata.end())
    throw IOError("'" + path + "' holds no model architecture (a weights-only file? use load_weights)");
  json a;
  try {
    a = parse_json(arch->second, "the architecture in __metadata__");
  } catch (const ValueError& e) {
    throw IOError("'" + path + "': " + e.what());
  }
  // Building allocates each layer's weights and gradients before they can be checked against the
  // file; a budget of a few times the file's own tensors stops a hostile architecture first.
  int64_t file_bytes = 0;
  for (const auto& [name, t] : f.tensors) file_bytes += t.size() * int64_t(sizeof(float));
  Model model = [&] {
    TensorBudget budget(4 * file_bytes + (int64_t(1) << 20), "'" + path + "'");
    return from_architecture(a, "'" + path + "'");
  }();
  assign_weights(model, f, path);
  if (auto tv = f.metadata.find("text_vectorization"); tv != f.metadata.end()) {
    try {
      model.set_text_vectorization(
          data::TextVectorization::from_config(parse_json(tv->second, "the text_vectorization in __metadata__")));
    } catch (const Error& e) {
      throw IOError("'" + path + "': the TextVectorization stored with the model: " + e.what());
    } catch (const json::exception& e) {
      throw IOError("'" + path + "': the TextVectorization stored with the model is malformed: " + e.what());
    }
  }
  auto compile = f.metadata.find("compile");
  if (compile != f.metadata.end()) {
    json c;
    try {
      c = parse_json(compile->second, "'" + path + "': the compile settings in __metadata__");
      auto opt = optimizers::from_config(c.at("optimizer").at("class_name").get<std::string>(), c["optimizer"].at("config"));
      auto loss_from = [](const json& l) {
        return losses::from_config(l.at("name").get<std::string>(), l.value("config", json::object()));
      };
      CompileOptions options{.metrics = metrics_from_json(c.at("metrics")),
                             .weighted_metrics = c.contains("weighted_metrics") ? metrics_from_json(c["weighted_metrics"])
                                                                                : MetricsArg()};
      const json& loss = c.at("loss");
      if (loss.contains("name")) {
        model.compile(opt, loss_from(loss), options);
      } else {
        // Several outputs: losses and loss weights by output name.
        std::map<std::string, LossArg> by_name;
        for (const auto& [k, v] : loss.items()) by_name.emplace(k, loss_from(v));
        if (c.contains("loss_weights")) options.loss_weights = c["loss_weights"].get<std::map<std::string, double>>();
        model.compile(opt, LossesArg(std::move(by_name)), options);
      }
      // Restore the optimizer's state when the file has it.
      const auto params = model.parameters();
      opt->ensure_built(params);
      const auto slots = opt->slots();
      bool all = !slots.empty();
      for (const auto& [name, t] : slots) all = all && f.contains(kOptimizerPrefix + name);
      if (all) {
        for (const auto& [name, t] : slots) {
          const Tensor& saved = f.at(kOptimizerPrefix + name);
          if (saved.shape() != t->shape())
            throw IOError("'" + path + "': optimizer state '" + name + "' has shape " + shape_to_string(saved.shape()) +
                          ", expected " + shape_to_string(t->shape()));
          t->copy_from(saved);
        }
        opt->set_iterations(c["optimizer"].value("iterations", int64_t(0)));
      }
    } catch (const json::exception& e) {
      throw IOError("'" + path + "': the compile settings in __metadata__ are malformed: " + e.what());
    }
  }
  return model;
}

void save_weights(Model& model, const std::string& path) {
  if (!distributed::is_primary()) return;
  io::write_safetensors(path, weight_tensors(model), {{"format", "myelin"}, {"myelin_version", version()}});
}

void load_weights(Model& model, const std::string& path) { assign_weights(model, io::read_safetensors(path), path); }

void Model::save(const std::string& path) { save_model(*this, path); }
void Model::save_weights(const std::string& path) { myelin::save_weights(*this, path); }
void Model::load_weights(const std::string& path) { myelin::load_weights(*this, path); }
std::string Model::to_json() { return model_to_json(*this); }

}  // namespace myelin
