// ONNX export: the protobuf wire format against the encoding protobuf's documentation spells out,
// and the errors. The exported models themselves are checked in onnxruntime and onnx.checker by
// tests/python/test_onnx_export.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "expect_error.hpp"
#include "io/protobuf_writer.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::io::ProtobufWriter;

TEST(ProtobufWriter, EncodesAsTheProtobufDocumentation) {
  ProtobufWriter w;
  w.varint_field(1, 150);  // the documentation's example message: 08 96 01
  EXPECT_EQ(w.bytes(), std::string("\x08\x96\x01", 3));

  ProtobufWriter s;
  s.bytes_field(2, "testing");  // 12 07 74 65 73 74 69 6e 67
  EXPECT_EQ(s.bytes(), std::string("\x12\x07testing", 9));

  ProtobufWriter nested;
  nested.message_field(3, w);  // 1a 03 08 96 01
  EXPECT_EQ(nested.bytes(), std::string("\x1a\x03\x08\x96\x01", 5));

  ProtobufWriter f;
  f.float_field(2, 1.0f);  // wire type 5, 0x3f800000 little-endian
  EXPECT_EQ(f.bytes(), std::string("\x15\x00\x00\x80\x3f", 5));

  ProtobufWriter neg;
  neg.varint_field(1, -1);  // int64 -1: ten bytes
  EXPECT_EQ(neg.bytes(), std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));

  ProtobufWriter big;
  big.varint_field(20, 300);  // a field number above 15 takes a two-byte tag: a0 01 ac 02
  EXPECT_EQ(big.bytes(), std::string("\xa0\x01\xac\x02", 4));
}

namespace {

// A layer defined outside myelin, which the exporter cannot know.
class Squash : public Layer {
  MYELIN_LAYER_MOVABLE(Squash)
  std::string class_name() const override { return "Squash"; }
  Shape build(const Shape& input_shape, Rng&) override {
    built_ = true;
    return input_shape;
  }
  const Tensor& forward(const Tensor& x, bool) override { return x; }
  const Tensor& backward(const Tensor& dy) override { return dy; }
};

}  // namespace

TEST(OnnxExport, UnsupportedLayerIsAnErrorNamingIt) {
  Sequential model({layers::Dense(4, "relu", {.input_shape = Shape{3}}), Squash(), layers::Dense(2)});
  model.build();
  const auto path = std::filesystem::temp_directory_path() / "myelin_unsupported.onnx";
  std::filesystem::remove(path);
  test::expect_error<ValueError>([&] { model.export_model(path.string()); },
                                 {"ONNX export", "class Squash", "no ONNX translation"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(OnnxExport, UnbuiltModelAndUnknownFormatAreErrors) {
  Sequential unbuilt({layers::Dense(2)});
  test::expect_error<ValueError>([&] { (void)onnx_model_bytes(unbuilt); }, {"not built"});
  Sequential model({layers::Dense(2, "linear", {.input_shape = Shape{3}})});
  model.build();
  test::expect_error<ValueError>([&] { model.export_model("m.pb", "tf_saved_model"); },
                                 {"format 'tf_saved_model'", "onnx"});
}

TEST(OnnxExport, WritesAModelProtoAtOpset17) {
  Sequential model({layers::Dense(2, "softmax", {.input_shape = Shape{3}})});
  model.build();
  const std::string bytes = onnx_model_bytes(model);
  EXPECT_EQ(bytes.substr(0, 2), std::string("\x08\x08", 2));  // ir_version = 8
  // opset_import { domain: "" version: 17 }, the last field
  EXPECT_EQ(bytes.substr(bytes.size() - 6), std::string("\x42\x04\x0a\x00\x10\x11", 6));
  EXPECT_NE(bytes.find("Softmax"), std::string::npos);
}
