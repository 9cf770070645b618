#include "io/protobuf_writer.hpp"

#include <cstring>

namespace myelin::io {

void ProtobufWriter::varint(uint64_t value) {
  while (value >= 0x80) {
    bytes_.push_back(char(uint8_t(value) | 0x80));
    value >>= 7;
  }
  bytes_.push_back(char(uint8_t(value)));
}

void ProtobufWriter::tag(int field, int wire_type) { varint((uint64_t(field) << 3) | uint64_t(wire_type)); }

void ProtobufWriter::varint_field(int field, int64_t value) {
  tag(field, 0);
  varint(uint64_t(value));  // two's complement: -1 is ten bytes, as protobuf writes int64
}

void ProtobufWriter::float_field(int field, float value) {
  tag(field, 5);
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  for (int i = 0; i < 4; ++i) bytes_.push_back(char(uint8_t(bits >> (8 * i))));
}

void ProtobufWriter::bytes_field(int field, std::string_view bytes) {
  tag(field, 2);
  varint(bytes.size());
  bytes_.append(bytes);
}

void ProtobufWriter::repeated_varint_field(int field, std::span<const int64_t> values) {
  for (int64_t v : values) varint_field(field, v);
}

}  // namespace myelin::io
