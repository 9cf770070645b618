// The translation of each layer class into ONNX nodes (see myelin/io/onnx_export.hpp). A layer is
// translated from its Keras config and its weights, the same description its file holds, so the
// export needs nothing from a layer beyond what saving it needs.
#include "myelin/io/onnx_export.hpp"

#include <climits>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "io/onnx_graph.hpp"
#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/image.hpp"
#include "myelin/activations.hpp"
#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/layers/dot.hpp"
#include "myelin/layers/time_distributed.hpp"

namespace myelin {
namespace {

using io::OnnxAttribute;
using io::OnnxGraph;
using json = nlohmann::json;
using Ints = std::vector<int64_t>;

// One layer call being translated: its inputs (ONNX names, per-sample shapes) and what it makes.
struct Call {
  Layer& layer;
  json config;
  std::vector<std::string> inputs;
  std::vector<Shape> input_shapes;
  Shape output_shape;
  std::string name;  // the layer's name, or a name made for a wrapped layer that has none
};

class Exporter {
 public:
  explicit Exporter(Model& model) : model_(model), g_(model.name()) {}
  std::string run();

 private:
  std::string translate(Call& c);
  std::string label(const Call& c) const { return c.layer.class_name() + " '" + c.name + "'"; }
  const Tensor& weight(Call& c, const std::string& name);
  // Layout changes: a tensor's channels-first twin is remembered, so that conv -> pool -> conv
  // transposes once on the way in and once on the way out.
  std::string to_channels_first(const std::string& x, size_t rank);
  std::string to_channels_last(const std::string& x, size_t rank, const std::string& hint);
  std::string activation(ActivationKind kind, const std::string& x, const std::string& hint);
  std::string dense(Call& c);
  std::string conv(Call& c, int spatial);
  std::string pool(Call& c, const std::string& op, int spatial);
  std::string batch_normalization(Call& c);
  std::string normalization(Call& c);
  std::string resize_window(Call& c, const std::string& x, const kernels::ResizeWindow& r, bool nearest);
  std::string merge(Call& c);
  std::string recurrent(Call& c, const std::string& cls, const json& config, const std::string& prefix,
                        const std::string& x, const std::string& hint);
  std::string bidirectional(Call& c);
  std::string reverse_time(const std::string& x, int64_t axis, const std::string& hint);
  std::string masked_softmax(const std::string& scores, const std::string& mask, bool causal, int64_t tq, int64_t tv,
                             const std::string& hint);
  std::string projection(Call& c, const std::string& x, const std::string& prefix, int64_t steps, int64_t heads,
                         int64_t width, const Ints& perm);
  std::string multi_head_attention(Call& c);
  std::string attention(Call& c);
  std::string time_distributed(Call& c);
  std::string dot(Call& c);

  Model& model_;
  OnnxGraph g_;
  std::map<std::string, std::string> channels_first_;  // channels-last tensor -> its transpose
};

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.size()); }

Ints ints(const json& v) {
  if (v.is_array()) return v.get<Ints>();
  return {v.get<int64_t>()};
}

const Tensor& Exporter::weight(Call& c, const std::string& name) {
  for (const Param& p : c.layer.params())
    if (p.name == name) return *p.value;
  throw ValueError("ONNX export: " + label(c) + " has no weight '" + name + "'");
}

std::string Exporter::to_channels_first(const std::string& x, size_t rank) {
  if (auto it = channels_first_.find(x); it != channels_first_.end()) return it->second;
  Ints perm{0, int64_t(rank) - 1};
  for (size_t k = 1; k + 1 < rank; ++k) perm.push_back(int64_t(k));
  return channels_first_[x] = g_.node("Transpose", {x}, x + "_nchw", {{"perm", perm}});
}

std::string Exporter::to_channels_last(const std::string& x, size_t rank, const std::string& hint) {
  Ints perm{0};
  for (size_t k = 2; k < rank; ++k) perm.push_back(int64_t(k));
  perm.push_back(1);
  const std::string y = g_.node("Transpose", {x}, hint, {{"perm", perm}});
  channels_first_[y] = x;
  return y;
}

// Element-wise activations apply in either layout; softmax is over the last (channels) axis.
std::string Exporter::activation(ActivationKind kind, const std::string& x, const std::string& hint) {
  switch (kind) {
    case ActivationKind::Linear:
      return x;
    case ActivationKind::ReLU:
      return g_.node("Relu", {x}, hint);
    case ActivationKind::Sigmoid:
      return g_.node("Sigmoid", {x}, hint);
    case ActivationKind::Tanh:
      return g_.node("Tanh", {x}, hint);
    case ActivationKind::Softmax:
      return g_.node("Softmax", {x}, hint, {{"axis", int64_t(-1)}});
    case ActivationKind::LeakyReLU:
      return g_.node("LeakyRelu", {x}, hint, {{"alpha", 0.2f}});  // Keras's default slope, as myelin's
    case ActivationKind::ELU:
      return g_.node("Elu", {x}, hint, {{"alpha", 1.0f}});
    case ActivationKind::Softplus:
      return g_.node("Softplus", {x}, hint);
    case ActivationKind::Swish:
      return g_.node("Mul", {x, g_.node("Sigmoid", {x}, hint + "_sigmoid")}, hint);
    case ActivationKind::GELU: {
      // Opset 17 has no Gelu: the exact form 0.5 x (1 + erf(x / sqrt 2)), as myelin computes it.
      const auto e = g_.node("Erf", {g_.node("Mul", {x, g_.constant("sqrt1_2", {}, {float(M_SQRT1_2)})}, hint + "_scaled")},
                             hint + "_erf");
      const auto p = g_.node("Add", {e, g_.constant("one", {}, {1.f})}, hint + "_cdf2");
      return g_.node("Mul", {g_.node("Mul", {x, p}, hint + "_xcdf2"), g_.constant("half", {}, {0.5f})}, hint);
    }
  }
  throw ValueError("ONNX export: activation " + activation_name(kind) + " has no translation");
}

std::string Exporter::dense(Call& c) {
  const std::string& n = c.name;
  const Tensor& k = weight(c, "kernel");
  std::string y = g_.node("MatMul", {c.inputs[0], g_.constant(n + "/kernel", k.shape(), values(k))}, n + "_matmul");
  if (c.config.value("use_bias", true)) {
    const Tensor& b = weight(c, "bias");
    y = g_.node("Add", {y, g_.constant(n + "/bias", b.shape(), values(b))}, n + "_biased");
  }
  return activation(activation_from_name(c.config.value("activation", "linear")), y, n);
}

// Conv1D {T, C} and Conv2D {H, W, C}: a channels-first Conv with the kernel moved from Keras's
// {k..., in, out} to ONNX's {out, in, k...}, and 'same' or 'causal' padding made explicit.
std::string Exporter::conv(Call& c, int spatial) {
  const std::string& n = c.name;
  const Shape& in = c.input_shapes[0];
  const Tensor& k = weight(c, "kernel");
  const Ints ks = ints(c.config["kernel_size"]), st = ints(c.config["strides"]), dil = ints(c.config["dilation_rate"]);
  const std::string padding = c.config["padding"];
  const int64_t cin = k.shape()[size_t(spatial)], cout = k.shape()[size_t(spatial) + 1];
  Ints begin, end;
  for (int a = 0; a < spatial; ++a) {
    if (padding == "causal") {  // Keras pads (k - 1) * d in front
      begin.push_back((ks[size_t(a)] - 1) * dil[size_t(a)]);
      end.push_back(0);
    } else {
      const auto ax = kernels::conv_axis(in[size_t(a)], ks[size_t(a)], st[size_t(a)], dil[size_t(a)], padding == "same");
      begin.push_back(ax.pad_begin);
      end.push_back(ax.pad_end);
    }
  }
  Ints pads = begin;
  pads.insert(pads.end(), end.begin(), end.end());
  // {k..., in, out} -> {out, in, k...}
  const int64_t taps = spatial == 1 ? ks[0] : ks[0] * ks[1];
  std::vector<float> w(size_t(k.size()));
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t o = 0; o < cout; ++o) w[size_t((o * cin + i) * taps + t)] = k.data()[(t * cin + i) * cout + o];
  Ints wdims{cout, cin};
  wdims.insert(wdims.end(), ks.begin(), ks.end());
  std::vector<std::string> inputs{to_channels_first(c.inputs[0], in.size() + 1), g_.constant(n + "/kernel", wdims, w)};
  if (c.config.value("use_bias", true)) {
    const Tensor& b = weight(c, "bias");
    inputs.push_back(g_.constant(n + "/bias", b.shape(), values(b)));
  }
  std::string y = g_.node("Conv", inputs, n + "_nchw",
                          {{"kernel_shape", ks}, {"strides", st}, {"dilations", dil}, {"pads", pads}, {"group", int64_t(1)}});
  const auto act = activation_from_name(c.config.value("activation", "linear"));
  if (act == ActivationKind::Softmax) return activation(act, to_channels_last(y, in.size() + 1, n + "_logits"), n);
  return to_channels_last(activation(act, y, n + "_act_nchw"), in.size() + 1, n);
}

// Keras's pooling leaves padding out of every window: a max over the pixels inside, an average
// over their count (count_include_pad = 0).
std::string Exporter::pool(Call& c, const std::string& op, int spatial) {
  const std::string& n = c.name;
  const Shape& in = c.input_shapes[0];
  const Ints ps = ints(c.config["pool_size"]), st = ints(c.config["strides"]);
  const bool same = c.config["padding"] == "same";
  Ints begin, end;
  for (int a = 0; a < spatial; ++a) {
    const auto ax = kernels::conv_axis(in[size_t(a)], ps[size_t(a)], st[size_t(a)], 1, same);
    begin.push_back(ax.pad_begin);
    end.push_back(ax.pad_end);
  }
  Ints pads = begin;
  pads.insert(pads.end(), end.begin(), end.end());
  std::vector<OnnxAttribute> attrs{{"kernel_shape", ps}, {"strides", st}, {"pads", pads}};
  if (op == "AveragePool") attrs.push_back({"count_include_pad", int64_t(0)});
  const std::string y = g_.node(op, {to_channels_first(c.inputs[0], in.size() + 1)}, n + "_nchw", attrs);
  return to_channels_last(y, in.size() + 1, n);
}

// Inference form: y = x * gamma / sqrt(moving_variance + epsilon) + (beta - moving_mean * that).
std::string Exporter::batch_normalization(Call& c) {
  const std::string& n = c.name;
  const Shape& in = c.input_shapes[0];
  const int rank = int(in.size()) + 1;
  int axis = c.config.value("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 1 || axis >= rank) throw ValueError("ONNX export: " + label(c) + " has axis " + c.config["axis"].dump());
  const Tensor& mean = weight(c, "moving_mean");
  const Tensor& var = weight(c, "moving_variance");
  const float eps = c.config.value("epsilon", 1e-3f);
  const bool scale = c.config.value("scale", true), center = c.config.value("center", true);
  const int64_t ch = mean.size();
  std::vector<float> mul(static_cast<size_t>(ch)), add(static_cast<size_t>(ch));
  for (int64_t i = 0; i < ch; ++i) {
    const float gamma = scale ? weight(c, "gamma").data()[i] : 1.f;
    const float beta = center ? weight(c, "beta").data()[i] : 0.f;
    mul[size_t(i)] = gamma / std::sqrt(var.data()[i] + eps);
    add[size_t(i)] = beta - mean.data()[i] * mul[size_t(i)];
  }
  Ints dims{ch};  // broadcast along `axis`: trailing ones for the axes after it
  for (int a = axis + 1; a < rank; ++a) dims.push_back(1);
  const auto y = g_.node("Mul", {c.inputs[0], g_.constant(n + "/scale", dims, mul)}, n + "_scaled");
  return g_.node("Add", {y, g_.constant(n + "/shift", dims, add)}, n);
}

// (x - mean) / max(sqrt(variance), 1e-7) over the last axis, as myelin's Normalization.
std::string Exporter::normalization(Call& c) {
  const std::string& n = c.name;
  const Tensor& mean = weight(c, "mean");
  const Tensor& var = weight(c, "variance");
  std::vector<float> inv(size_t(var.size()));
  for (int64_t i = 0; i < var.size(); ++i) inv[size_t(i)] = 1.f / std::max(std::sqrt(var.data()[i]), 1e-7f);
  const auto d = g_.node("Sub", {c.inputs[0], g_.constant(n + "/mean", mean.shape(), values(mean))}, n + "_centred");
  return g_.node("Mul", {d, g_.constant(n + "/inverse_std", var.shape(), inv)}, n);
}

// A window of each image (Slice), resized to the output with half-pixel centres (Resize): what
// Resizing, CenterCrop and RandomCrop do at inference.
std::string Exporter::resize_window(Call& c, const std::string& x, const kernels::ResizeWindow& r, bool nearest) {
  const std::string& n = c.name;
  std::string y = x;
  if (r.window_h != r.in_h || r.window_w != r.in_w)
    y = g_.node("Slice",
                {y, g_.constant_int64("starts", {r.top, r.left}),
                 g_.constant_int64("ends", {r.top + r.window_h, r.left + r.window_w}), g_.constant_int64("axes", {1, 2})},
                n + "_window");
  if (r.window_h == r.out_h && r.window_w == r.out_w) return y == x ? g_.node("Identity", {x}, n) : y;
  const auto xf = to_channels_first(y, 4);
  const auto batch_channels = g_.node("Shape", {xf}, n + "_nc", {{"start", int64_t(0)}, {"end", int64_t(2)}});
  const auto sizes = g_.node("Concat", {batch_channels, g_.constant_int64(n + "/size", {r.out_h, r.out_w})}, n + "_sizes",
                             {{"axis", int64_t(0)}});
  std::vector<OnnxAttribute> attrs{{"coordinate_transformation_mode", std::string("half_pixel")}};
  if (nearest) {
    // myelin's source pixel floor((i + 0.5) * in / out) is half_pixel's coordinate rounded half up.
    attrs.push_back({"mode", std::string("nearest")});
    attrs.push_back({"nearest_mode", std::string("round_prefer_ceil")});
  } else {
    attrs.push_back({"mode", std::string("linear")});
  }
  return to_channels_last(g_.node("Resize", {xf, "", "", sizes}, n + "_nchw", attrs), 4, n);
}

std::string Exporter::merge(Call& c) {
  const std::string& cls = c.layer.class_name();
  const std::string& n = c.name;
  if (cls == "Concatenate") return g_.node("Concat", c.inputs, n, {{"axis", int64_t(c.config.value("axis", -1))}});
  static const std::map<std::string, std::string> variadic{
      {"Add", "Sum"}, {"Average", "Mean"}, {"Maximum", "Max"}, {"Minimum", "Min"}};
  if (auto it = variadic.find(cls); it != variadic.end()) return g_.node(it->second, c.inputs, n);
  if (cls == "Subtract") return g_.node("Sub", c.inputs, n);
  std::string y = c.inputs[0];  // Multiply: Mul is binary
  for (size_t k = 1; k < c.inputs.size(); ++k) y = g_.node("Mul", {y, c.inputs[k]}, k + 1 == c.inputs.size() ? n : n + "_partial");
  return y;
}

std::string Exporter::reverse_time(const std::string& x, int64_t axis, const std::string& hint) {
  return g_.node("Slice",
                 {x, g_.constant_int64("minus_one", {-1}), g_.constant_int64("int64_min", {INT64_MIN}),
                  g_.constant_int64("axis" + std::to_string(axis), {axis}), g_.constant_int64("minus_one", {-1})},
                 hint);
}

// SimpleRNN, LSTM and GRU as ONNX's RNN, LSTM and GRU over time-major input (onnxruntime runs no
// batch-major layout). Keras's kernels {features, G*units} become {1, G*units, features}, with
// LSTM's gates reordered from Keras's i, f, c, o to ONNX's i, o, f, c (GRU's z, r, h agree);
// Keras's reset_after GRU is ONNX's linear_before_reset = 1, its bias {2, 3*units} ONNX's input
// and recurrent biases. go_backwards runs the reversed sequence forwards, which returns the steps
// in the order they ran, as Keras does.
std::string Exporter::recurrent(Call& c, const std::string& cls, const json& config, const std::string& prefix,
                                const std::string& x, const std::string& hint) {
  const int64_t gates = cls == "LSTM" ? 4 : cls == "GRU" ? 3 : 1;
  const int64_t units = config.at("units").get<int64_t>();
  const Tensor& k = weight(c, prefix + "kernel");
  const Tensor& rk = weight(c, prefix + "recurrent_kernel");
  const int64_t features = k.shape()[0], gu = gates * units;
  const std::vector<int64_t> order = gates == 4 ? std::vector<int64_t>{0, 3, 1, 2} : std::vector<int64_t>{0, 1, 2};
  std::vector<float> w(size_t(gu * features)), r(size_t(gu * units)), b(size_t(2 * gu), 0.f);
  const bool use_bias = config.value("use_bias", true);
  const float* bias = use_bias ? weight(c, prefix + "bias").data() : nullptr;
  for (int64_t g = 0; g < gates; ++g)
    for (int64_t u = 0; u < units; ++u) {
      const int64_t row = g * units + u, col = order[size_t(g)] * units + u;  // ONNX row <- Keras column
      for (int64_t f = 0; f < features; ++f) w[size_t(row * features + f)] = k.data()[f * gu + col];
      for (int64_t v = 0; v < units; ++v) r[size_t(row * units + v)] = rk.data()[v * gu + col];
      if (bias) {
        b[size_t(row)] = bias[col];
        if (gates == 3) b[size_t(gu + row)] = bias[gu + col];  // GRU's recurrent bias
      }
    }
  auto onnx_activation = [&](const std::string& key, const std::string& fallback) {
    const std::string a = config.value(key, fallback);
    if (a == "tanh") return std::string("Tanh");
    if (a == "sigmoid") return std::string("Sigmoid");
    if (a == "relu") return std::string("Relu");
    throw ValueError("ONNX export: " + label(c) + "'s " + key + " '" + a + "' has no ONNX translation");
  };
  std::vector<std::string> acts;
  if (gates == 1) acts = {onnx_activation("activation", "tanh")};
  if (gates == 3) acts = {onnx_activation("recurrent_activation", "sigmoid"), onnx_activation("activation", "tanh")};
  if (gates == 4)
    acts = {onnx_activation("recurrent_activation", "sigmoid"), onnx_activation("activation", "tanh"),
            onnx_activation("activation", "tanh")};
  std::vector<OnnxAttribute> attrs{{"hidden_size", units}, {"activations", acts}};
  if (gates == 3) attrs.push_back({"linear_before_reset", int64_t(1)});

  std::string xt = g_.node("Transpose", {x}, hint + "_time_major", {{"perm", Ints{1, 0, 2}}});
  if (config.value("go_backwards", false)) xt = reverse_time(xt, 0, hint + "_reversed");
  const std::string op = gates == 4 ? "LSTM" : gates == 3 ? "GRU" : "RNN";
  const std::vector<std::string> inputs{xt, g_.constant(hint + "/W", {1, gu, features}, w),
                                        g_.constant(hint + "/R", {1, gu, units}, r),
                                        g_.constant(hint + "/B", {1, 2 * gu}, b)};
  if (config.value("return_sequences", false)) {
    const auto y = g_.node_outputs(op, inputs, {hint + "_Y", ""}, attrs)[0];  // {steps, 1, batch, units}
    const auto s = g_.node("Squeeze", {y, g_.constant_int64("axis1", {1})}, hint + "_steps");
    return g_.node("Transpose", {s}, hint, {{"perm", Ints{1, 0, 2}}});
  }
  const auto h = g_.node_outputs(op, inputs, {"", hint + "_Y_h"}, attrs)[1];  // {1, batch, units}
  return g_.node("Squeeze", {h, g_.constant_int64("axis0", {0})}, hint);
}

// Keras's Bidirectional: the forward layer, and the backward one (go_backwards) whose returned
// steps are put back in the input's order, merged.
std::string Exporter::bidirectional(Call& c) {
  const std::string& n = c.name;
  const json& fwd = c.config.at("layer");
  const json& bwd = c.config.at("backward_layer");
  const std::string f = recurrent(c, fwd.at("class_name"), fwd.at("config"),
                                  fwd["config"].at("name").get<std::string>() + "/", c.inputs[0], n + "_forward");
  std::string b = recurrent(c, bwd.at("class_name"), bwd.at("config"),
                            bwd["config"].at("name").get<std::string>() + "/", c.inputs[0], n + "_backward");
  if (bwd["config"].value("return_sequences", false)) b = reverse_time(b, 1, n + "_backward_in_order");
  const std::string mode = c.config.value("merge_mode", "concat");
  if (mode == "concat") return g_.node("Concat", {f, b}, n, {{"axis", int64_t(-1)}});
  if (mode == "sum") return g_.node("Add", {f, b}, n);
  if (mode == "mul") return g_.node("Mul", {f, b}, n);
  if (mode == "ave") return g_.node("Mean", {f, b}, n);
  throw ValueError("ONNX export: " + label(c) + "'s merge_mode '" + mode + "' has no ONNX translation");
}

// softmax over the last axis of scores (..., Tq, Tv), with the steps not allowed set to -1e9 first,
// as myelin's kernel does (Where rather than Add, so that a row with nothing allowed is uniform):
// those above the diagonal when causal, and where `mask` ((batch, [1,] Tq, Tv), or "") is 0.
std::string Exporter::masked_softmax(const std::string& scores, const std::string& mask, bool causal, int64_t tq,
                                     int64_t tv, const std::string& hint) {
  std::string s = scores;
  const auto masked = g_.constant("masked_score", {}, {-1e9f});
  const auto zero = g_.constant("zero", {}, {0.f});
  if (causal) {
    std::vector<float> allowed(size_t(tq * tv));
    for (int64_t i = 0; i < tq; ++i)
      for (int64_t j = 0; j < tv; ++j) allowed[size_t(i * tv + j)] = j <= i ? 1.f : 0.f;
    const auto blocked = g_.node("Equal", {g_.constant(hint + "/causal", {tq, tv}, allowed), zero}, hint + "_causal");
    s = g_.node("Where", {blocked, masked, s}, hint + "_causal_scores");
  }
  if (!mask.empty()) {
    const auto blocked = g_.node("Equal", {mask, zero}, hint + "_blocked");
    s = g_.node("Where", {blocked, masked, s}, hint + "_masked_scores");
  }
  return g_.node("Softmax", {s}, hint + "_probs", {{"axis", int64_t(-1)}});
}

// One of MultiHeadAttention's projections: x (batch, steps, in) times prefix/kernel (in, heads,
// width), plus prefix/bias (heads, width), split into heads and transposed by perm.
std::string Exporter::projection(Call& c, const std::string& x, const std::string& prefix, int64_t steps,
                                 int64_t heads, int64_t width, const Ints& perm) {
  const std::string& n = c.name;
  const Tensor& k = weight(c, prefix + "/kernel");
  const std::string hint = n + "_" + prefix;
  std::string y = g_.node("MatMul", {x, g_.constant(n + "/" + prefix + "/kernel", {k.shape()[0], heads * width}, values(k))},
                          hint + "_matmul");
  if (c.config.value("use_bias", true))
    y = g_.node("Add", {y, g_.constant(n + "/" + prefix + "/bias", {heads * width}, values(weight(c, prefix + "/bias")))},
                hint + "_biased");
  y = g_.node("Reshape", {y, g_.constant_int64(hint + "/shape", {0, steps, heads, width})}, hint + "_heads");
  return g_.node("Transpose", {y}, hint, {{"perm", perm}});
}

// Keras's MultiHeadAttention on (query, value[, key[, attention_mask]]): per head,
// softmax(q k^T / sqrt(key_dim)) v, the heads joined by attention_output.
std::string Exporter::multi_head_attention(Call& c) {
  const std::string& n = c.name;
  const int64_t heads = c.config.at("num_heads"), key_dim = c.config.at("key_dim");
  const int64_t value_dim = weight(c, "value/kernel").shape()[2];  // (in, heads, value_dim)
  const int64_t tq = c.input_shapes[0][0], tv = c.input_shapes[1][0];
  const std::string& key = c.inputs.size() >= 3 ? c.inputs[2] : c.inputs[1];
  auto q = projection(c, c.inputs[0], "query", tq, heads, key_dim, {0, 2, 1, 3});   // (batch, heads, Tq, key_dim)
  auto k = projection(c, key, "key", tv, heads, key_dim, {0, 2, 3, 1});             // (batch, heads, key_dim, Tv)
  auto v = projection(c, c.inputs[1], "value", tv, heads, value_dim, {0, 2, 1, 3}); // (batch, heads, Tv, value_dim)
  q = g_.node("Mul", {q, g_.constant(n + "/scale", {}, {float(1.0 / std::sqrt(double(key_dim)))})}, n + "_query_scaled");
  const auto scores = g_.node("MatMul", {q, k}, n + "_scores");
  std::string mask;  // (batch, Tq, Tv) -> (batch, 1, Tq, Tv): the same for every head
  if (c.inputs.size() == 4) mask = g_.node("Unsqueeze", {c.inputs[3], g_.constant_int64("axis1", {1})}, n + "_mask");
  const auto p = masked_softmax(scores, mask, c.config.value("use_causal_mask", false), tq, tv, n);
  auto o = g_.node("MatMul", {p, v}, n + "_context");  // (batch, heads, Tq, value_dim)
  o = g_.node("Transpose", {o}, n + "_context_steps", {{"perm", Ints{0, 2, 1, 3}}});
  o = g_.node("Reshape", {o, g_.constant_int64(n + "/joined_shape", {0, tq, heads * value_dim})}, n + "_joined");
  const Tensor& wo = weight(c, "attention_output/kernel");
  const int64_t out = wo.shape()[2];
  std::string y = g_.node("MatMul", {o, g_.constant(n + "/attention_output/kernel", {heads * value_dim, out}, values(wo))},
                          n + "_output");
  if (c.config.value("use_bias", true)) {
    const Tensor& b = weight(c, "attention_output/bias");
    y = g_.node("Add", {y, g_.constant(n + "/attention_output/bias", {out}, values(b))}, n);
  }
  return y;
}

// Keras's Attention (Luong's dot product): softmax(query key^T) value, key defaulting to value.
std::string Exporter::attention(Call& c) {
  const std::string& n = c.name;
  if (c.config.value("use_scale", false) || c.config.value("score_mode", "dot") != "dot")
    throw ValueError("ONNX export: " + label(c) + " with use_scale or score_mode other than 'dot' has no ONNX translation");
  const std::string& key = c.inputs.size() >= 3 ? c.inputs[2] : c.inputs[1];
  const auto kt = g_.node("Transpose", {key}, n + "_key_t", {{"perm", Ints{0, 2, 1}}});
  const auto scores = g_.node("MatMul", {c.inputs[0], kt}, n + "_scores");
  const auto p = masked_softmax(scores, "", c.config.value("use_causal_mask", false), c.input_shapes[0][0],
                                c.input_shapes[1][0], n);
  return g_.node("MatMul", {p, c.inputs[1]}, n);
}

// TimeDistributed: the steps folded into the batch, the wrapped layer's own translation, unfolded.
std::string Exporter::time_distributed(Call& c) {
  const std::string& n = c.name;
  auto* td = dynamic_cast<layers::TimeDistributed*>(&c.layer);
  if (!td) throw ValueError("ONNX export: " + label(c) + " is not myelin's TimeDistributed");
  Layer& inner = td->layer();
  const Shape& in = c.input_shapes[0];
  const Shape step_in(in.begin() + 1, in.end());
  const Shape step_out(c.output_shape.begin() + 1, c.output_shape.end());
  Ints folded{-1};
  folded.insert(folded.end(), step_in.begin(), step_in.end());
  const auto x = g_.node("Reshape", {c.inputs[0], g_.constant_int64(n + "/folded_shape", folded)}, n + "_folded");
  Call ic{inner, inner.get_config(), {x}, {step_in}, step_out, inner.name().empty() ? n + "_inner" : inner.name()};
  std::string y;
  try {
    y = translate(ic);
  } catch (const ValueError& e) {
    std::string why = e.what();
    if (why.starts_with("ONNX export: ")) why = why.substr(13);
    throw ValueError("ONNX export: " + label(c) + " wraps what cannot be translated: " + why);
  }
  Ints unfolded{-1, in[0]};
  unfolded.insert(unfolded.end(), step_out.begin(), step_out.end());
  return g_.node("Reshape", {y, g_.constant_int64(n + "/shape", unfolded)}, n);
}

// Keras's Dot: each input made a (batch, rows, cols) matrix with the contracted axis last for the
// first and first for the second (a vector gains a unit axis, a matrix is transposed when needed),
// one batched MatMul, and the result reshaped to the layer's output. normalize divides by
// max(L2 norm, 1e-7) along the contracted axis first, as the layer does.
std::string Exporter::dot(Call& c) {
  const std::string& n = c.name;
  auto* d = dynamic_cast<layers::Dot*>(&c.layer);
  if (!d || c.inputs.size() != 2) throw ValueError("ONNX export: " + label(c) + " is not myelin's two-input Dot");
  const std::vector<int>& axes = d->axes();
  std::string m[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t rank = int64_t(c.input_shapes[size_t(i)].size()) + 1;  // with the batch
    int64_t axis = axes.size() == 2 ? axes[size_t(i)] : axes[0];
    if (axis < 0) axis += rank;
    std::string x = c.inputs[size_t(i)];
    const std::string hint = n + "_input" + std::to_string(i);
    if (d->normalize()) {
      const auto norm = g_.node("Sqrt", {g_.node("ReduceSumSquare", {x}, hint + "_squares", {{"axes", Ints{axis}}})},
                                hint + "_norm");
      const auto floor = g_.node("Max", {norm, g_.constant("norm_floor", {}, {1e-7f})}, hint + "_norm_floor");
      x = g_.node("Div", {x, floor}, hint + "_normalized");
    }
    if (rank == 2) {  // a vector: (batch, 1, n) first, (batch, n, 1) second
      m[i] = g_.node("Unsqueeze", {x, g_.constant_int64("axis" + std::to_string(i + 1), {i + 1})}, hint + "_matrix");
    } else if ((i == 0) == (axis == 1)) {  // the contracted axis is not where the product wants it
      m[i] = g_.node("Transpose", {x}, hint + "_transposed", {{"perm", Ints{0, 2, 1}}});
    } else {
      m[i] = x;
    }
  }
  Ints shape{0};
  shape.insert(shape.end(), c.output_shape.begin(), c.output_shape.end());
  const auto y = g_.node("MatMul", {m[0], m[1]}, n + "_product");
  return g_.node("Reshape", {y, g_.constant_int64(n + "/shape", shape)}, n);
}

std::string Exporter::translate(Call& c) {
  const std::string& cls = c.layer.class_name();
  const std::string& n = c.name;
  const std::string& x = c.inputs[0];
  if (cls == "Dense") return dense(c);
  if (cls == "Conv2D") return conv(c, 2);
  if (cls == "Conv1D") return conv(c, 1);
  if (cls == "MaxPooling2D") return pool(c, "MaxPool", 2);
  if (cls == "AveragePooling2D") return pool(c, "AveragePool", 2);
  if (cls == "MaxPooling1D") return pool(c, "MaxPool", 1);
  if (cls == "AveragePooling1D") return pool(c, "AveragePool", 1);
  if (cls == "GlobalAveragePooling2D" || cls == "GlobalMaxPooling2D" || cls == "GlobalAveragePooling1D" ||
      cls == "GlobalMaxPooling1D") {
    const Ints axes = cls.ends_with("2D") ? Ints{1, 2} : Ints{1};
    return g_.node(cls.starts_with("GlobalAverage") ? "ReduceMean" : "ReduceMax", {x}, n,
                   {{"axes", axes}, {"keepdims", int64_t(c.config.value("keepdims", false))}});
  }
  if (cls == "BatchNormalization") return batch_normalization(c);
  if (cls == "SimpleRNN" || cls == "LSTM" || cls == "GRU") return recurrent(c, cls, c.config, "", x, n);
  if (cls == "Bidirectional") return bidirectional(c);
  if (cls == "MultiHeadAttention") return multi_head_attention(c);
  if (cls == "Attention") return attention(c);
  if (cls == "TimeDistributed") return time_distributed(c);
  if (cls == "Embedding") {
    // The exported graph carries no masks: the padded steps would count.
    if (c.config.value("mask_zero", false))
      throw ValueError("ONNX export: " + label(c) + " has mask_zero=True, and masks have no ONNX translation");
    // Ids travel as float32 (exact below 2^24): Gather wants integers.
    const Tensor& e = weight(c, "embeddings");
    const auto ids = g_.node("Cast", {x}, n + "_ids", {{"to", int64_t(7)}});
    return g_.node("Gather", {g_.constant(n + "/embeddings", e.shape(), values(e)), ids}, n, {{"axis", int64_t(0)}});
  }
  if (cls == "LayerNormalization") {
    // Over the last axis only (as myelin's); absent gamma or beta are ones and zeros.
    const int64_t ch = c.output_shape.back();
    const auto gamma = c.config.value("scale", true) ? values(weight(c, "gamma")) : std::vector<float>(size_t(ch), 1.f);
    const auto beta = c.config.value("center", true) ? values(weight(c, "beta")) : std::vector<float>(size_t(ch), 0.f);
    return g_.node("LayerNormalization", {x, g_.constant(n + "/gamma", {ch}, gamma), g_.constant(n + "/beta", {ch}, beta)},
                   n, {{"axis", int64_t(-1)}, {"epsilon", c.config.value("epsilon", 1e-3f)}});
  }
  if (cls == "Normalization") return normalization(c);
  if (cls == "Activation") {
    const auto y = activation(activation_from_name(c.config.value("activation", "linear")), x, n);
    return y == x ? g_.node("Identity", {x}, n) : y;
  }
  if (cls == "Rescaling") {
    const auto y = g_.node("Mul", {x, g_.constant(n + "/scale", {}, {c.config.value("scale", 1.f)})}, n + "_scaled");
    return g_.node("Add", {y, g_.constant(n + "/offset", {}, {c.config.value("offset", 0.f)})}, n);
  }
  if (cls == "Flatten") return g_.node("Reshape", {x, g_.constant_int64(n + "/shape", {0, -1})}, n);
  if (cls == "Reshape") {
    Ints shape{0};  // 0: the batch dimension as it is
    for (int64_t d : c.output_shape) shape.push_back(d);
    return g_.node("Reshape", {x, g_.constant_int64(n + "/shape", shape)}, n);
  }
  if (cls == "ZeroPadding2D") {
    const json& p = c.config["padding"];  // [[top, bottom], [left, right]]
    const Ints pads{0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1], 0};
    return g_.node("Pad", {x, g_.constant_int64(n + "/pads", pads)}, n);
  }
  if (cls == "UpSampling1D") {
    // {T, C} -> {T, 1, C} -> {T, size, C} -> {T * size, C}: each step repeated `size` times.
    const int64_t size = c.config.value("size", int64_t(2));
    const auto u = g_.node("Unsqueeze", {x, g_.constant_int64("axis2", {2})}, n + "_unsqueezed");
    const auto t = g_.node("Tile", {u, g_.constant_int64(n + "/repeats", {1, 1, size, 1})}, n + "_tiled");
    return g_.node("Reshape", {t, g_.constant_int64(n + "/shape", {0, c.output_shape[0], c.output_shape[1]})}, n);
  }
  if (cls == "Resizing" || cls == "CenterCrop" || cls == "RandomCrop") {
    const Shape& in = c.input_shapes[0];
    kernels::ResizeWindow r;
    r.in_h = in[0];
    r.in_w = in[1];
    r.channels = in[2];
    r.out_h = c.output_shape[0];
    r.out_w = c.output_shape[1];
    r.window_h = r.in_h;
    r.window_w = r.in_w;
    if (cls == "CenterCrop" && r.in_h >= r.out_h && r.in_w >= r.out_w) {
      r.top = (r.in_h - r.out_h) / 2;
      r.left = (r.in_w - r.out_w) / 2;
      r.window_h = r.out_h;
      r.window_w = r.out_w;
    } else if (cls != "Resizing" || c.config.value("crop_to_aspect_ratio", false)) {
      kernels::set_aspect_ratio_window(r);  // as ImageWindow::build_window
    }
    return resize_window(c, x, r, cls == "Resizing" && c.config.value("interpolation", "bilinear") == "nearest");
  }
  if (cls == "Add" || cls == "Subtract" || cls == "Multiply" || cls == "Average" || cls == "Maximum" ||
      cls == "Minimum" || cls == "Concatenate")
    return merge(c);
  if (cls == "Dot") return dot(c);
  // Random noise and augmentation are for training: at inference they pass their input through.
  if (cls == "Dropout" || cls == "SpatialDropout2D" || cls == "RandomFlip" || cls == "RandomRotation" ||
      cls == "RandomZoom" || cls == "RandomTranslation" || cls == "RandomContrast" || cls == "RandomBrightness")
    return g_.node("Identity", {x}, n);
  throw ValueError("ONNX export: layer '" + n + "' of class " + cls + " has no ONNX translation");
}

std::string Exporter::run() {
  if (!model_.built()) throw ValueError("ONNX export: model '" + model_.name() + "' is not built yet (build or fit it first)");
  const auto& layers = model_.layers();
  const auto calls = model_.layer_calls();
  const auto input_names = model_.input_names();
  const auto& input_shapes = model_.input_shapes();
  std::map<std::pair<std::string, int>, std::pair<std::string, Shape>> tensors;  // (layer, call) -> name, shape

  for (size_t i = 0; i < input_names.size(); ++i) {
    const std::string name = g_.unique(input_names[i]);
    Ints dims{-1};
    dims.insert(dims.end(), input_shapes[i].begin(), input_shapes[i].end());
    g_.add_input(name, dims);
    tensors[{input_names[i], 0}] = {name, input_shapes[i]};
  }
  // Output names are the output layers' names: claimed before any node is named after them.
  const auto output_refs = model_.output_refs();
  std::vector<std::string> output_names;
  for (const auto& ref : output_refs) output_names.push_back(g_.unique(ref.layer));

  for (size_t l = 0; l < layers.size(); ++l) {
    Layer& layer = *layers[l];
    if (layer.class_name() == "InputLayer") continue;
    for (size_t k = 0; k < calls[l].size(); ++k) {
      Call c{layer, layer.get_config(), {}, {}, layer.output_shape(), layer.name()};
      if (calls[l][k].empty()) {  // a Sequential's first layer without an InputLayer
        c.inputs.push_back(tensors.at({input_names[0], 0}).first);
        c.input_shapes.push_back(input_shapes[0]);
      }
      for (const TensorRef& ref : calls[l][k]) {
        auto it = tensors.find({ref.layer, ref.call});
        if (it == tensors.end())
          throw Error("ONNX export: " + layer.name() + " reads " + ref.layer + " before it is translated");
        c.inputs.push_back(it->second.first);
        c.input_shapes.push_back(it->second.second);
      }
      tensors[{layer.name(), int(k)}] = {translate(c), c.output_shape};
    }
  }
  for (size_t o = 0; o < output_refs.size(); ++o) {
    const auto& [name, shape] = tensors.at({output_refs[o].layer, output_refs[o].call});
    Ints dims{-1};
    dims.insert(dims.end(), shape.begin(), shape.end());
    // Identity gives the output the layer's name whatever node made it.
    g_.add_output(output_names[o], dims);
    g_.node_named("Identity", {name}, output_names[o]);
  }
  std::string bytes = g_.serialize(kOnnxOpset, version());
  if (bytes.size() >= (size_t(1) << 31))
    throw ValueError("ONNX export: model '" + model_.name() + "' takes " + std::to_string(bytes.size()) +
                     " bytes, over protobuf's 2 GiB limit for one file");
  return bytes;
}

}  // namespace

std::string onnx_model_bytes(Model& model) { return Exporter(model).run(); }

void export_onnx(Model& model, const std::string& path) { io::write_file_atomically(path, onnx_model_bytes(model)); }

void Model::export_model(const std::string& path, const std::string& format) {
  if (format != "onnx") throw ValueError("export: format '" + format + "' is not supported; the one format is 'onnx'");
  export_onnx(*this, path);
}

}  // namespace myelin
