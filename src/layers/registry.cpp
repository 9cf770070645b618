#include "myelin/layers/registry.hpp"

#include <functional>
#include <utility>

#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/attention.hpp"
#include "myelin/layers/batch_normalization.hpp"
#include "myelin/layers/bidirectional.hpp"
#include "myelin/layers/center_crop.hpp"
#include "myelin/layers/conv1d.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/dropout.hpp"
#include "myelin/layers/embedding.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/layer_normalization.hpp"
#include "myelin/layers/dot.hpp"
#include "myelin/layers/masking.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/multi_head_attention.hpp"
#include "myelin/layers/normalization.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/layers/pooling1d.hpp"
#include "myelin/layers/random_brightness.hpp"
#include "myelin/layers/random_contrast.hpp"
#include "myelin/layers/random_crop.hpp"
#include "myelin/layers/random_flip.hpp"
#include "myelin/layers/random_rotation.hpp"
#include "myelin/layers/random_translation.hpp"
#include "myelin/layers/random_zoom.hpp"
#include "myelin/layers/recurrent.hpp"
#include "myelin/layers/rescaling.hpp"
#include "myelin/layers/reshape.hpp"
#include "myelin/layers/resizing.hpp"
#include "myelin/layers/spatial_dropout2d.hpp"
#include "myelin/layers/time_distributed.hpp"
#include "myelin/layers/up_sampling1d.hpp"
#include "myelin/layers/zero_padding2d.hpp"
#include "myelin/mixed_precision.hpp"

namespace myelin::layers {

namespace {
using json = nlohmann::json;
using Factory = std::function<std::shared_ptr<Layer>(const json&, const std::string&)>;

// Keras writes sizes as [h, w] (or one number for both).
Size2 size2(const json& c, const char* key, Size2 fallback, const std::string& who) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  const json& v = c[key];
  if (v.is_number_integer()) return Size2(v.get<int64_t>());
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
    return Size2(v[0].get<int64_t>(), v[1].get<int64_t>());
  throw ValueError(who + ": config '" + key + "' must be an integer or [h, w], got " + v.dump());
}

std::optional<Size2> optional_size2(const json& c, const char* key, const std::string& who) {
  if (!c.contains(key) || c[key].is_null()) return std::nullopt;
  return size2(c, key, Size2(1), who);
}

// Keras 3 writes a 1-D size as a 1-tuple ([3]); older files and hand-written configs as a number.
int64_t size1(const json& c, const char* key, int64_t fallback, const std::string& who) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  const json& v = c[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && v.size() == 1 && v[0].is_number_integer()) return v[0].get<int64_t>();
  throw ValueError(who + ": config '" + key + "' must be an integer or [n], got " + v.dump());
}

std::optional<int64_t> optional_size1(const json& c, const char* key, const std::string& who) {
  if (!c.contains(key) || c[key].is_null()) return std::nullopt;
  return size1(c, key, 1, who);
}

// The image layers compute in channels_last only.
void channels_last(const json& c, const std::string& who) {
  const auto format = io::config_value<std::string>(c, "data_format", "channels_last", who);
  if (format != "channels_last")
    throw ValueError(who + ": data_format '" + format + "' is not supported, only 'channels_last'");
}

// The arguments SimpleRNN, LSTM and GRU share; the layer itself refuses the values it does not support.
RecurrentOptions recurrent_options(const json& c, const std::string& who) {
  if (!c.contains("units")) throw ValueError(who + ": config needs 'units'");
  if (io::config_value(c, "stateful", false, who)) throw ValueError(who + ": stateful=True is not supported");
  RecurrentOptions o;
  o.input_shape = io::input_shape_from_config(c);
  o.activation = io::config_value<std::string>(c, "activation", "tanh", who);
  o.recurrent_activation = io::config_value<std::string>(c, "recurrent_activation", "sigmoid", who);
  o.use_bias = io::config_value(c, "use_bias", true, who);
  o.return_sequences = io::config_value(c, "return_sequences", false, who);
  o.go_backwards = io::config_value(c, "go_backwards", false, who);
  if (c.contains("kernel_initializer")) o.kernel_initializer = io::initializer_from_json(c["kernel_initializer"]);
  if (c.contains("recurrent_initializer"))
    o.recurrent_initializer = io::initializer_from_json(c["recurrent_initializer"]);
  if (c.contains("bias_initializer")) o.bias_initializer = io::initializer_from_json(c["bias_initializer"]);
  o.unit_forget_bias = io::config_value(c, "unit_forget_bias", true, who);
  o.reset_after = io::config_value(c, "reset_after", true, who);
  if (c.contains("kernel_regularizer")) o.kernel_regularizer = io::regularizer_from_json(c["kernel_regularizer"]);
  if (c.contains("recurrent_regularizer"))
    o.recurrent_regularizer = io::regularizer_from_json(c["recurrent_regularizer"]);
  if (c.contains("bias_regularizer")) o.bias_regularizer = io::regularizer_from_json(c["bias_regularizer"]);
  o.dropout = io::config_value(c, "dropout", 0.f, who);
  o.recurrent_dropout = io::config_value(c, "recurrent_dropout", 0.f, who);
  o.return_state = io::config_value(c, "return_state", false, who);
  o.zero_output_for_mask = io::config_value(c, "zero_output_for_mask", false, who);
  o.dtype = mixed_precision::policy_from_config(c, who);
  return o;
}

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
         o.dtype = mixed_precision::policy_from_config(c, who);
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
      {"Masking",
       [](const json& c, const std::string& who) {
         return std::make_shared<Masking>(io::config_value<float>(c, "mask_value", 0.f, who), io::input_shape_from_config(c));
       }},
      {"InputLayer",
       [](const json& c, const std::string& who) {
         auto shape = io::input_shape_from_config(c);
         if (!shape) throw ValueError(who + ": config needs 'batch_input_shape'");
         return std::make_shared<Input>(*shape, io::config_value<std::string>(c, "name", "", who));
       }},
      {"Add", [](const json&, const std::string&) { return std::make_shared<Add>(); }},
      {"Subtract", [](const json&, const std::string&) { return std::make_shared<Subtract>(); }},
      {"Multiply", [](const json&, const std::string&) { return std::make_shared<Multiply>(); }},
      {"Average", [](const json&, const std::string&) { return std::make_shared<Average>(); }},
      {"Maximum", [](const json&, const std::string&) { return std::make_shared<Maximum>(); }},
      {"Minimum", [](const json&, const std::string&) { return std::make_shared<Minimum>(); }},
      {"Dot",
       [](const json& c, const std::string& who) {
         if (!c.contains("axes")) throw ValueError(who + ": config needs 'axes'");
         const json& a = c["axes"];
         std::vector<int> axes;
         if (a.is_number_integer()) axes.push_back(a.get<int>());
         else if (a.is_array() && a.size() == 2 && a[0].is_number_integer() && a[1].is_number_integer())
           axes = {a[0].get<int>(), a[1].get<int>()};
         else throw ValueError(who + ": axes must be an integer or a pair of integers, got " + a.dump());
         return std::make_shared<Dot>(axes, io::config_value(c, "normalize", false, who));
       }},
      {"Concatenate",
       [](const json& c, const std::string& who) {
         return std::make_shared<Concatenate>(io::config_value<int>(c, "axis", -1, who));
       }},
      {"SimpleRNN",
       [](const json& c, const std::string& who) {
         return std::make_shared<SimpleRNN>(io::config_value<int64_t>(c, "units", 0, who), recurrent_options(c, who));
       }},
      {"LSTM",
       [](const json& c, const std::string& who) {
         return std::make_shared<LSTM>(io::config_value<int64_t>(c, "units", 0, who), recurrent_options(c, who));
       }},
      {"GRU",
       [](const json& c, const std::string& who) {
         return std::make_shared<GRU>(io::config_value<int64_t>(c, "units", 0, who), recurrent_options(c, who));
       }},
      {"Bidirectional",
       [](const json& c, const std::string& who) {
         // The wrapped layers come as Keras's {"class_name", "config"}.
         auto inner = [&](const char* key) -> std::shared_ptr<Recurrent> {
           if (!c.contains(key) || c[key].is_null()) return nullptr;
           const json& l = c[key];
           if (!l.is_object() || !l.contains("class_name") || !l["class_name"].is_string())
             throw ValueError(who + ": config '" + key + "' must be {\"class_name\": ..., \"config\": ...}");
           auto layer = std::dynamic_pointer_cast<Recurrent>(
               from_config(l["class_name"].get<std::string>(), l.contains("config") ? l["config"] : json::object()));
           if (!layer)
             throw ValueError(who + ": wraps SimpleRNN, LSTM or GRU, got " + l["class_name"].get<std::string>());
           return layer;
         };
         auto layer = inner("layer");
         if (!layer) throw ValueError(who + ": config needs 'layer'");
         if (c.contains("merge_mode") && c["merge_mode"].is_null())
           throw ValueError(who + ": merge_mode None (two outputs) is not supported");
         return std::make_shared<Bidirectional>(layer, io::config_value<std::string>(c, "merge_mode", "concat", who),
                                                inner("backward_layer"), io::input_shape_from_config(c));
       }},
      {"TimeDistributed",
       [](const json& c, const std::string& who) {
         if (!c.contains("layer") || !c["layer"].is_object() || !c["layer"].contains("class_name") ||
             !c["layer"]["class_name"].is_string())
           throw ValueError(who + ": config needs 'layer' as {\"class_name\": ..., \"config\": ...}");
         const json& l = c["layer"];
         auto inner = from_config(l["class_name"].get<std::string>(), l.contains("config") ? l["config"] : json::object());
         return std::make_shared<TimeDistributed>(inner, io::input_shape_from_config(c));
       }},
      {"Normalization",
       [](const json& c, const std::string&) { return std::make_shared<Normalization>(io::input_shape_from_config(c)); }},
      {"Conv2D",
       [](const json& c, const std::string& who) {
         Conv2DOptions o;
         o.input_shape = io::input_shape_from_config(c);
         o.strides = size2(c, "strides", Size2(1), who);
         o.padding = io::config_value<std::string>(c, "padding", "valid", who);
         o.dilation_rate = size2(c, "dilation_rate", Size2(1), who);
         o.use_bias = io::config_value(c, "use_bias", true, who);
         if (c.contains("kernel_initializer")) o.kernel_initializer = io::initializer_from_json(c["kernel_initializer"]);
         if (c.contains("bias_initializer")) o.bias_initializer = io::initializer_from_json(c["bias_initializer"]);
         if (c.contains("kernel_regularizer")) o.kernel_regularizer = io::regularizer_from_json(c["kernel_regularizer"]);
         if (c.contains("bias_regularizer")) o.bias_regularizer = io::regularizer_from_json(c["bias_regularizer"]);
         o.dtype = mixed_precision::policy_from_config(c, who);
         if (!c.contains("filters") || !c.contains("kernel_size")) throw ValueError(who + ": config needs 'filters' and 'kernel_size'");
         return std::make_shared<Conv2D>(io::config_value<int64_t>(c, "filters", 0, who), size2(c, "kernel_size", Size2(1), who),
                                         io::config_value<std::string>(c, "activation", "linear", who), o);
       }},
      {"MaxPooling2D",
       [](const json& c, const std::string& who) {
         return std::make_shared<MaxPooling2D>(size2(c, "pool_size", Size2(2), who), optional_size2(c, "strides", who),
                                               io::config_value<std::string>(c, "padding", "valid", who),
                                               io::input_shape_from_config(c));
       }},
      {"AveragePooling2D",
       [](const json& c, const std::string& who) {
         return std::make_shared<AveragePooling2D>(size2(c, "pool_size", Size2(2), who), optional_size2(c, "strides", who),
                                                   io::config_value<std::string>(c, "padding", "valid", who),
                                                   io::input_shape_from_config(c));
       }},
      {"GlobalAveragePooling2D",
       [](const json& c, const std::string& who) {
         return std::make_shared<GlobalAveragePooling2D>(io::config_value(c, "keepdims", false, who),
                                                         io::input_shape_from_config(c));
       }},
      {"GlobalMaxPooling2D",
       [](const json& c, const std::string& who) {
         return std::make_shared<GlobalMaxPooling2D>(io::config_value(c, "keepdims", false, who), io::input_shape_from_config(c));
       }},
      {"BatchNormalization",
       [](const json& c, const std::string& who) {
         BatchNormalizationOptions o;
         o.input_shape = io::input_shape_from_config(c);
         o.axis = io::config_value(c, "axis", -1, who);
         o.momentum = io::config_value(c, "momentum", 0.99f, who);
         o.epsilon = io::config_value(c, "epsilon", 1e-3f, who);
         o.center = io::config_value(c, "center", true, who);
         o.scale = io::config_value(c, "scale", true, who);
         if (c.contains("beta_initializer")) o.beta_initializer = io::initializer_from_json(c["beta_initializer"]);
         if (c.contains("gamma_initializer")) o.gamma_initializer = io::initializer_from_json(c["gamma_initializer"]);
         if (c.contains("moving_mean_initializer"))
           o.moving_mean_initializer = io::initializer_from_json(c["moving_mean_initializer"]);
         if (c.contains("moving_variance_initializer"))
           o.moving_variance_initializer = io::initializer_from_json(c["moving_variance_initializer"]);
         if (c.contains("beta_regularizer")) o.beta_regularizer = io::regularizer_from_json(c["beta_regularizer"]);
         if (c.contains("gamma_regularizer")) o.gamma_regularizer = io::regularizer_from_json(c["gamma_regularizer"]);
         return std::make_shared<BatchNormalization>(o);
       }},
      {"LayerNormalization",
       [](const json& c, const std::string& who) {
         LayerNormalizationOptions o;
         o.input_shape = io::input_shape_from_config(c);
         // Keras writes the axis as a number or a list of them; one axis, the last, is supported.
         if (c.contains("axis") && c["axis"].is_array()) {
           if (c["axis"].size() != 1)
             throw ValueError(who + ": only the last axis is supported (axis=-1), got axis=" + c["axis"].dump());
           o.axis = io::config_value(json{{"axis", c["axis"][0]}}, "axis", -1, who);
         } else {
           o.axis = io::config_value(c, "axis", -1, who);
         }
         o.epsilon = io::config_value(c, "epsilon", 1e-3f, who);
         o.center = io::config_value(c, "center", true, who);
         o.scale = io::config_value(c, "scale", true, who);
         if (io::config_value(c, "rms_scaling", false, who))
           throw ValueError(who + ": rms_scaling=True is not supported");
         if (c.contains("beta_initializer")) o.beta_initializer = io::initializer_from_json(c["beta_initializer"]);
         if (c.contains("gamma_initializer")) o.gamma_initializer = io::initializer_from_json(c["gamma_initializer"]);
         if (c.contains("beta_regularizer")) o.beta_regularizer = io::regularizer_from_json(c["beta_regularizer"]);
         if (c.contains("gamma_regularizer")) o.gamma_regularizer = io::regularizer_from_json(c["gamma_regularizer"]);
         return std::make_shared<LayerNormalization>(o);
       }},
      {"Attention",
       [](const json& c, const std::string& who) {
         if (io::config_value(c, "use_scale", false, who)) throw ValueError(who + ": use_scale=True is not supported");
         if (io::config_value<std::string>(c, "score_mode", "dot", who) != "dot")
           throw ValueError(who + ": only score_mode=\"dot\" is supported");
         AttentionOptions o;
         o.dropout = io::config_value(c, "dropout", 0.f, who);
         o.use_causal_mask = io::config_value(c, "use_causal_mask", false, who);
         o.return_attention_scores = io::config_value(c, "return_attention_scores", false, who);
         o.dtype = mixed_precision::policy_from_config(c, who);
         return std::make_shared<Attention>(o);
       }},
      {"MultiHeadAttention",
       [](const json& c, const std::string& who) {
         if (!c.contains("num_heads") || !c.contains("key_dim")) throw ValueError(who + ": config needs 'num_heads' and 'key_dim'");
         MultiHeadAttentionOptions o;
         if (c.contains("value_dim") && !c["value_dim"].is_null())
           o.value_dim = io::config_value<int64_t>(c, "value_dim", 0, who);
         o.dropout = io::config_value(c, "dropout", 0.f, who);
         o.use_bias = io::config_value(c, "use_bias", true, who);
         // Keras writes output_shape as a number or a tuple; one axis (the features) is supported.
         if (c.contains("output_shape") && !c["output_shape"].is_null()) {
           const json& s = c["output_shape"];
           if (s.is_array() && s.size() != 1)
             throw ValueError(who + ": output_shape must be one size (the last axis), got " + s.dump());
           o.output_shape = io::config_value<int64_t>(json{{"output_shape", s.is_array() ? s[0] : s}}, "output_shape", 0, who);
         }
         // attention_axes: only the steps axis, which is Keras's default (None, or (1,) for 3-D inputs).
         if (c.contains("attention_axes") && !c["attention_axes"].is_null()) {
           const json& a = c["attention_axes"];
           const bool steps = (a.is_number_integer() && a.get<int>() == 1) ||
                              (a.is_array() && a.size() == 1 && a[0].is_number_integer() && a[0].get<int>() == 1);
           if (!steps) throw ValueError(who + ": only attention over the steps axis is supported, got attention_axes=" + a.dump());
         }
         o.use_causal_mask = io::config_value(c, "use_causal_mask", false, who);
         o.return_attention_scores = io::config_value(c, "return_attention_scores", false, who);
         if (c.contains("kernel_initializer")) o.kernel_initializer = io::initializer_from_json(c["kernel_initializer"]);
         if (c.contains("bias_initializer")) o.bias_initializer = io::initializer_from_json(c["bias_initializer"]);
         if (c.contains("kernel_regularizer")) o.kernel_regularizer = io::regularizer_from_json(c["kernel_regularizer"]);
         if (c.contains("bias_regularizer")) o.bias_regularizer = io::regularizer_from_json(c["bias_regularizer"]);
         for (const char* k : {"kernel_constraint", "bias_constraint", "activity_regularizer"})
           if (c.contains(k) && !c[k].is_null()) throw ValueError(who + ": " + k + " is not supported");
         o.dtype = mixed_precision::policy_from_config(c, who);
         return std::make_shared<MultiHeadAttention>(io::config_value<int64_t>(c, "num_heads", 0, who),
                                                     io::config_value<int64_t>(c, "key_dim", 0, who), o);
       }},
      {"Embedding",
       [](const json& c, const std::string& who) {
         EmbeddingOptions o;
         o.input_shape = io::input_shape_from_config(c);
         // Keras 2's input_length is ignored, as Keras 3 ignores it.
         if (c.contains("embeddings_initializer"))
           o.embeddings_initializer = io::initializer_from_json(c["embeddings_initializer"]);
         if (c.contains("embeddings_regularizer"))
           o.embeddings_regularizer = io::regularizer_from_json(c["embeddings_regularizer"]);
         if (c.contains("embeddings_constraint") && !c["embeddings_constraint"].is_null())
           throw ValueError(who + ": embeddings_constraint is not supported");
         o.mask_zero = io::config_value(c, "mask_zero", false, who);
         if (!c.contains("input_dim") || !c.contains("output_dim"))
           throw ValueError(who + ": config needs 'input_dim' and 'output_dim'");
         return std::make_shared<Embedding>(io::config_value<int64_t>(c, "input_dim", 0, who),
                                            io::config_value<int64_t>(c, "output_dim", 0, who), o);
       }},
      {"Reshape",
       [](const json& c, const std::string& who) {
         if (!c.contains("target_shape")) throw ValueError(who + ": config needs 'target_shape'");
         return std::make_shared<Reshape>(io::config_value<Shape>(c, "target_shape", {}, who), io::input_shape_from_config(c));
       }},
      {"ZeroPadding2D",
       [](const json& c, const std::string& who) {
         const json& p = c.contains("padding") ? c["padding"] : json(1);
         auto whole = [](const json& v) { return v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)); };
         if (p.is_array() && p.size() == 2 && p[0].is_array() && p[1].is_array() && p[0].size() == 2 && p[1].size() == 2 &&
             whole(p[0][0]) && whole(p[0][1]) && whole(p[1][0]) && whole(p[1][1]))
           return std::make_shared<ZeroPadding2D>(p[0][0].get<int64_t>(), p[0][1].get<int64_t>(), p[1][0].get<int64_t>(),
                                                  p[1][1].get<int64_t>(), io::input_shape_from_config(c));
         return std::make_shared<ZeroPadding2D>(size2(c, "padding", Size2(1), who), io::input_shape_from_config(c));
       }},
      {"SpatialDropout2D",
       [](const json& c, const std::string& who) {
         if (!c.contains("rate")) throw ValueError(who + ": config needs 'rate'");
         return std::make_shared<SpatialDropout2D>(io::config_value<float>(c, "rate", 0.f, who), io::input_shape_from_config(c));
       }},
      {"Rescaling",
       [](const json& c, const std::string& who) {
         if (!c.contains("scale")) throw ValueError(who + ": config needs 'scale'");
         if (c["scale"].is_array() || (c.contains("offset") && c["offset"].is_array()))
           throw ValueError(who + ": per-channel scale or offset arrays are not supported, only numbers");
         return std::make_shared<Rescaling>(io::config_value<float>(c, "scale", 1.f, who),
                                            io::config_value<float>(c, "offset", 0.f, who), io::input_shape_from_config(c));
       }},
      {"CenterCrop",
       [](const json& c, const std::string& who) {
         if (!c.contains("height") || !c.contains("width")) throw ValueError(who + ": config needs 'height' and 'width'");
         channels_last(c, who);
         return std::make_shared<CenterCrop>(io::config_value<int64_t>(c, "height", 0, who),
                                             io::config_value<int64_t>(c, "width", 0, who), io::input_shape_from_config(c));
       }},
      {"Resizing",
       [](const json& c, const std::string& who) {
         if (!c.contains("height") || !c.contains("width")) throw ValueError(who + ": config needs 'height' and 'width'");
         channels_last(c, who);
         // Keras 3's options that change the result; their defaults are what myelin does.
         if (io::config_value(c, "pad_to_aspect_ratio", false, who))
           throw ValueError(who + ": pad_to_aspect_ratio is not supported");
         if (io::config_value(c, "antialias", false, who)) throw ValueError(who + ": antialias is not supported");
         return std::make_shared<Resizing>(io::config_value<int64_t>(c, "height", 0, who),
                                           io::config_value<int64_t>(c, "width", 0, who),
                                           io::config_value<std::string>(c, "interpolation", "bilinear", who),
                                           io::config_value(c, "crop_to_aspect_ratio", false, who),
                                           io::input_shape_from_config(c));
       }},
      {"RandomFlip",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<RandomFlip>(io::config_value<std::string>(c, "mode", "horizontal_and_vertical", who),
                                             seed_from_config(c, who), io::input_shape_from_config(c));
       }},
      {"RandomRotation",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<RandomRotation>(
             Factor::from_config(c, "factor", who), io::config_value<std::string>(c, "fill_mode", "reflect", who),
             io::config_value<std::string>(c, "interpolation", "bilinear", who), seed_from_config(c, who),
             io::config_value<float>(c, "fill_value", 0.f, who), io::input_shape_from_config(c));
       }},
      {"RandomZoom",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         std::optional<Factor> width;
         if (c.contains("width_factor") && !c["width_factor"].is_null()) width = Factor::from_config(c, "width_factor", who);
         return std::make_shared<RandomZoom>(
             Factor::from_config(c, "height_factor", who), width,
             io::config_value<std::string>(c, "fill_mode", "reflect", who),
             io::config_value<std::string>(c, "interpolation", "bilinear", who), seed_from_config(c, who),
             io::config_value<float>(c, "fill_value", 0.f, who), io::input_shape_from_config(c));
       }},
      {"RandomTranslation",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<RandomTranslation>(
             Factor::from_config(c, "height_factor", who), Factor::from_config(c, "width_factor", who),
             io::config_value<std::string>(c, "fill_mode", "reflect", who),
             io::config_value<std::string>(c, "interpolation", "bilinear", who), seed_from_config(c, who),
             io::config_value<float>(c, "fill_value", 0.f, who), io::input_shape_from_config(c));
       }},
      {"RandomCrop",
       [](const json& c, const std::string& who) {
         if (!c.contains("height") || !c.contains("width")) throw ValueError(who + ": config needs 'height' and 'width'");
         channels_last(c, who);
         return std::make_shared<RandomCrop>(io::config_value<int64_t>(c, "height", 0, who),
                                             io::config_value<int64_t>(c, "width", 0, who), seed_from_config(c, who),
                                             io::input_shape_from_config(c));
       }},
      {"RandomContrast",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<RandomContrast>(Factor::from_config(c, "factor", who), value_range_from_config(c, who),
                                                 seed_from_config(c, who), io::input_shape_from_config(c));
       }},
      {"RandomBrightness",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<RandomBrightness>(Factor::from_config(c, "factor", who),
                                                   value_range_from_config(c, who), seed_from_config(c, who),
                                                   io::input_shape_from_config(c));
       }},
      {"Conv1D",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         if (io::config_value<int64_t>(c, "groups", 1, who) != 1) throw ValueError(who + ": groups other than 1 are not supported");
         Conv1DOptions o;
         o.input_shape = io::input_shape_from_config(c);
         o.strides = size1(c, "strides", 1, who);
         o.padding = io::config_value<std::string>(c, "padding", "valid", who);
         o.dilation_rate = size1(c, "dilation_rate", 1, who);
         o.use_bias = io::config_value(c, "use_bias", true, who);
         if (c.contains("kernel_initializer")) o.kernel_initializer = io::initializer_from_json(c["kernel_initializer"]);
         if (c.contains("bias_initializer")) o.bias_initializer = io::initializer_from_json(c["bias_initializer"]);
         if (c.contains("kernel_regularizer")) o.kernel_regularizer = io::regularizer_from_json(c["kernel_regularizer"]);
         if (c.contains("bias_regularizer")) o.bias_regularizer = io::regularizer_from_json(c["bias_regularizer"]);
         if (!c.contains("filters") || !c.contains("kernel_size")) throw ValueError(who + ": config needs 'filters' and 'kernel_size'");
         o.dtype = mixed_precision::policy_from_config(c, who);
         return std::make_shared<Conv1D>(io::config_value<int64_t>(c, "filters", 0, who), size1(c, "kernel_size", 1, who),
                                         io::config_value<std::string>(c, "activation", "linear", who), o);
       }},
      {"MaxPooling1D",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<MaxPooling1D>(size1(c, "pool_size", 2, who), optional_size1(c, "strides", who),
                                               io::config_value<std::string>(c, "padding", "valid", who),
                                               io::input_shape_from_config(c));
       }},
      {"AveragePooling1D",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<AveragePooling1D>(size1(c, "pool_size", 2, who), optional_size1(c, "strides", who),
                                                   io::config_value<std::string>(c, "padding", "valid", who),
                                                   io::input_shape_from_config(c));
       }},
      {"GlobalAveragePooling1D",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<GlobalAveragePooling1D>(io::config_value(c, "keepdims", false, who),
                                                         io::input_shape_from_config(c));
       }},
      {"GlobalMaxPooling1D",
       [](const json& c, const std::string& who) {
         channels_last(c, who);
         return std::make_shared<GlobalMaxPooling1D>(io::config_value(c, "keepdims", false, who), io::input_shape_from_config(c));
       }},
      {"UpSampling1D",
       [](const json& c, const std::string& who) {
         return std::make_shared<UpSampling1D>(size1(c, "size", 2, who), io::input_shape_from_config(c));
       }},
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
      layer->set_trainable(io::config_value(config, "trainable", true, who));
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
