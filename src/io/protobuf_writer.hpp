// A minimal writer of the protocol buffers wire format (varints, fixed32, length-delimited fields),
// enough to write ONNX's ModelProto without linking libprotobuf: a message is built into a byte
// string, and a nested message is written as the bytes of another ProtobufWriter.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace myelin::io {

class ProtobufWriter {
 public:
  /// An integer field (wire type 0): int32, int64, enums and bools; negative values take ten bytes,
  /// as protobuf's own writer gives them.
  void varint_field(int field, int64_t value);
  /// A float field (wire type 5, little-endian IEEE 754).
  void float_field(int field, float value);
  /// A string, bytes or nested message field (wire type 2).
  void bytes_field(int field, std::string_view bytes);
  void message_field(int field, const ProtobufWriter& message) { bytes_field(field, message.bytes()); }
  /// A repeated integer field written one element per tag (what a proto2 parser reads with or
  /// without [packed=true]).
  void repeated_varint_field(int field, std::span<const int64_t> values);

  const std::string& bytes() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  void tag(int field, int wire_type);
  void varint(uint64_t value);
  std::string bytes_;
};

}  // namespace myelin::io
