// OnnxGraph: an ONNX graph under construction (nodes, constant tensors, typed inputs and outputs)
// and its serialisation as a ModelProto (onnx/onnx.proto's field numbers), written with
// ProtobufWriter. Tensors are float32 or int64; a dimension below 0 is the dynamic batch ("batch").
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace myelin::io {

/// An attribute of a node: an integer, a float, a string, a list of integers or of strings.
struct OnnxAttribute {
  std::string name;
  std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<std::string>> value;
};

class OnnxGraph {
 public:
  explicit OnnxGraph(std::string name) : name_(std::move(name)) {}

  /// Adds a node and returns its output's name (one output, made unique from `hint`).
  std::string node(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& hint,
                   std::vector<OnnxAttribute> attributes = {});
  /// Adds a node with several outputs, one per hint (an empty hint: an output not asked for), and
  /// returns their names.
  std::vector<std::string> node_outputs(const std::string& op_type, const std::vector<std::string>& inputs,
                                        const std::vector<std::string>& hints, std::vector<OnnxAttribute> attributes = {});
  /// Adds a node whose output takes `output`, a name already claimed with unique() (a graph output).
  void node_named(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& output,
                  std::vector<OnnxAttribute> attributes = {});
  /// Adds a float32 constant of this shape (row-major values) and returns its name.
  std::string constant(const std::string& hint, const std::vector<int64_t>& dims, std::vector<float> values);
  /// Adds an int64 constant (shapes, axes, pads) and returns its name.
  std::string constant_int64(const std::string& hint, const std::vector<int64_t>& values);
  /// A float32 graph input or output; dims below 0 are the dynamic batch.
  void add_input(const std::string& name, const std::vector<int64_t>& dims);
  void add_output(const std::string& name, const std::vector<int64_t>& dims);
  /// A name not used yet, from `hint` (hint, hint_1, ...).
  std::string unique(const std::string& hint);

  /// The ModelProto: IR version 8, the default domain at `opset`.
  std::string serialize(int64_t opset, const std::string& producer_version) const;

 private:
  struct Node {
    std::string op_type, name;
    std::vector<std::string> inputs, outputs;
    std::vector<OnnxAttribute> attributes;
  };
  struct Constant {
    std::string name;
    std::vector<int64_t> dims;
    int32_t data_type;  // 1 float, 7 int64
    std::string raw;    // little-endian values
  };
  struct Value {
    std::string name;
    std::vector<int64_t> dims;
  };
  std::vector<bool> live_nodes() const;

  std::string name_;
  std::vector<Node> nodes_;
  std::vector<Constant> constants_;
  std::vector<Value> inputs_, outputs_;
  std::vector<std::string> used_;  // every name given out, kept sorted
};

}  // namespace myelin::io
