#include "io/onnx_graph.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include "io/protobuf_writer.hpp"

namespace myelin::io {

static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian");

namespace {

// onnx.proto's field numbers and enums.
constexpr int kFloat = 1, kInt64 = 7;  // TensorProto.DataType
constexpr int kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrInts = 7, kAttrStrings = 8;

ProtobufWriter attribute(const OnnxAttribute& a) {
  ProtobufWriter w;
  w.bytes_field(1, a.name);
  if (auto* i = std::get_if<int64_t>(&a.value)) {
    w.varint_field(3, *i);
    w.varint_field(20, kAttrInt);
  } else if (auto* f = std::get_if<float>(&a.value)) {
    w.float_field(2, *f);
    w.varint_field(20, kAttrFloat);
  } else if (auto* s = std::get_if<std::string>(&a.value)) {
    w.bytes_field(4, *s);
    w.varint_field(20, kAttrString);
  } else if (auto* list = std::get_if<std::vector<std::string>>(&a.value)) {
    for (const auto& item : *list) w.bytes_field(9, item);
    w.varint_field(20, kAttrStrings);
  } else {
    w.repeated_varint_field(8, std::get<std::vector<int64_t>>(a.value));
    w.varint_field(20, kAttrInts);
  }
  return w;
}

// ValueInfoProto { name, type: TypeProto { tensor_type { elem_type, shape { dim... } } } }
ProtobufWriter value_info(const std::string& name, const std::vector<int64_t>& dims) {
  ProtobufWriter shape;
  for (int64_t d : dims) {
    ProtobufWriter dim;
    if (d < 0)
      dim.bytes_field(2, "batch");
    else
      dim.varint_field(1, d);
    shape.message_field(1, dim);
  }
  ProtobufWriter tensor;
  tensor.varint_field(1, kFloat);
  tensor.message_field(2, shape);
  ProtobufWriter type;
  type.message_field(1, tensor);
  ProtobufWriter v;
  v.bytes_field(1, name);
  v.message_field(2, type);
  return v;
}

}  // namespace

std::string OnnxGraph::unique(const std::string& hint) {
  std::string name = hint;
  for (int k = 1; std::binary_search(used_.begin(), used_.end(), name); ++k) name = hint + "_" + std::to_string(k);
  used_.insert(std::upper_bound(used_.begin(), used_.end(), name), name);
  return name;
}

std::string OnnxGraph::node(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& hint,
                            std::vector<OnnxAttribute> attributes) {
  const std::string out = unique(hint);
  nodes_.push_back({op_type, out, inputs, {out}, std::move(attributes)});
  return out;
}

std::vector<std::string> OnnxGraph::node_outputs(const std::string& op_type, const std::vector<std::string>& inputs,
                                                 const std::vector<std::string>& hints,
                                                 std::vector<OnnxAttribute> attributes) {
  std::vector<std::string> outs;
  for (const auto& h : hints) outs.push_back(h.empty() ? std::string() : unique(h));
  nodes_.push_back({op_type, unique(op_type + "_" + outs.front() + outs.back()), inputs, outs, std::move(attributes)});
  return outs;
}

void OnnxGraph::node_named(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& output,
                           std::vector<OnnxAttribute> attributes) {
  nodes_.push_back({op_type, output, inputs, {output}, std::move(attributes)});
}

std::string OnnxGraph::constant(const std::string& hint, const std::vector<int64_t>& dims, std::vector<float> values) {
  Constant c{unique(hint), dims, kFloat, std::string(values.size() * sizeof(float), '\0')};
  std::memcpy(c.raw.data(), values.data(), c.raw.size());
  constants_.push_back(std::move(c));
  return constants_.back().name;
}

std::string OnnxGraph::constant_int64(const std::string& hint, const std::vector<int64_t>& values) {
  Constant c{unique(hint), {int64_t(values.size())}, kInt64, std::string(values.size() * sizeof(int64_t), '\0')};
  std::memcpy(c.raw.data(), values.data(), c.raw.size());
  constants_.push_back(std::move(c));
  return constants_.back().name;
}

void OnnxGraph::add_input(const std::string& name, const std::vector<int64_t>& dims) { inputs_.push_back({name, dims}); }
void OnnxGraph::add_output(const std::string& name, const std::vector<int64_t>& dims) { outputs_.push_back({name, dims}); }

// The translation may leave nodes whose results nothing reads (a layout change another node made
// unnecessary): keep only what the outputs depend on.
std::vector<bool> OnnxGraph::live_nodes() const {
  std::set<std::string> needed;
  for (const auto& o : outputs_) needed.insert(o.name);
  std::vector<bool> live(nodes_.size(), false);
  for (size_t k = nodes_.size(); k-- > 0;) {
    const Node& n = nodes_[k];
    if (!std::any_of(n.outputs.begin(), n.outputs.end(), [&](const std::string& o) { return needed.count(o) > 0; }))
      continue;
    live[k] = true;
    needed.insert(n.inputs.begin(), n.inputs.end());
  }
  return live;
}

std::string OnnxGraph::serialize(int64_t opset, const std::string& producer_version) const {
  const std::vector<bool> live = live_nodes();
  std::set<std::string> read;
  for (size_t k = 0; k < nodes_.size(); ++k)
    if (live[k]) read.insert(nodes_[k].inputs.begin(), nodes_[k].inputs.end());

  ProtobufWriter graph;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (!live[k]) continue;
    const Node& n = nodes_[k];
    ProtobufWriter w;
    for (const auto& i : n.inputs) w.bytes_field(1, i);
    for (const auto& o : n.outputs) w.bytes_field(2, o);
    w.bytes_field(3, n.name);
    w.bytes_field(4, n.op_type);
    for (const auto& a : n.attributes) w.message_field(5, attribute(a));
    graph.message_field(1, w);
  }
  graph.bytes_field(2, name_);
  for (const auto& c : constants_) {
    if (!read.count(c.name)) continue;
    ProtobufWriter t;
    t.repeated_varint_field(1, c.dims);
    t.varint_field(2, c.data_type);
    t.bytes_field(8, c.name);
    t.bytes_field(9, c.raw);
    graph.message_field(5, t);
  }
  for (const auto& v : inputs_) graph.message_field(11, value_info(v.name, v.dims));
  for (const auto& v : outputs_) graph.message_field(12, value_info(v.name, v.dims));

  ProtobufWriter opset_id;
  opset_id.bytes_field(1, "");
  opset_id.varint_field(2, opset);
  ProtobufWriter model;
  model.varint_field(1, 8);  // IR version 8: what ONNX 1.13+ writes for opsets up to 18
  model.bytes_field(2, "myelin");
  model.bytes_field(3, producer_version);
  model.message_field(7, graph);
  model.message_field(8, opset_id);
  return model.take();
}

}  // namespace myelin::io
