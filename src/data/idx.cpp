#include "myelin/data/idx.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <vector>

#include "data/file_reader.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;

struct ElementType {
  int code;
  int bytes;
  const char* name;
};

const ElementType* element_type(int code) {
  static const ElementType types[] = {{0x08, 1, "unsigned byte"}, {0x09, 1, "signed byte"}, {0x0B, 2, "int16"},
                                      {0x0C, 4, "int32"},         {0x0D, 4, "float32"},     {0x0E, 8, "float64"}};
  for (const auto& t : types)
    if (t.code == code) return &t;
  return nullptr;
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Converts `count` big-endian elements of type `code` to floats.
void convert(int code, const unsigned char* in, int64_t count, float* out) {
  switch (code) {
    case 0x08:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]);
      break;
    case 0x09:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<int8_t>(in[i]));
      break;
    case 0x0B:
      for (int64_t i = 0; i < count; ++i) {
        const unsigned char* p = in + 2 * i;
        out[i] = static_cast<float>(static_cast<int16_t>((uint16_t{p[0]} << 8) | p[1]));
      }
      break;
    case 0x0C:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<int32_t>(be32(in + 4 * i)));
      break;
    case 0x0D:
      for (int64_t i = 0; i < count; ++i) {
        const uint32_t bits = be32(in + 4 * i);
        std::memcpy(&out[i], &bits, 4);
      }
      break;
    case 0x0E:
      for (int64_t i = 0; i < count; ++i) {
        const unsigned char* p = in + 8 * i;
        const uint64_t bits = (uint64_t{be32(p)} << 32) | be32(p + 4);
        double d;
        std::memcpy(&d, &bits, 8);
        out[i] = static_cast<float>(d);
      }
      break;
  }
}

}  // namespace

Tensor read_idx(const std::string& path) {
  detail::InputFile file(path);

  unsigned char magic[4];
  file.read_exact(magic, 4, "the IDX magic number");
  if (magic[0] != 0 || magic[1] != 0)
    throw IOError("'" + path + "' is not an IDX file: its magic number does not start with two zero bytes");
  const ElementType* type = element_type(magic[2]);
  if (!type)
    throw IOError("'" + path + "': unknown IDX element type code " + std::to_string(magic[2]) +
                  " (known: 0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)");
  const int ndim = magic[3];
  if (ndim < 1 || ndim > 8)
    throw IOError("'" + path + "': IDX header gives " + std::to_string(ndim) + " dimensions, expected 1 to 8");

  unsigned char dims_raw[8 * 4];
  file.read_exact(dims_raw, static_cast<size_t>(ndim) * 4, "the IDX header's " + std::to_string(ndim) + " dimension sizes");
  Shape shape(ndim);
  int64_t count = 1;
  for (int i = 0; i < ndim; ++i) {
    shape[i] = be32(dims_raw + 4 * i);
    // Checked one dimension at a time so the product can never overflow.
    if (shape[i] != 0 && count > kMaxElements / shape[i]) {
      count = -1;
      break;
    }
    count *= shape[i];
  }
  if (count < 0 || count > kMaxElements)
    throw IOError("'" + path + "': IDX header claims shape " + shape_to_string(shape) + ", more than the limit of 2^31 elements");

  const int64_t header_bytes = 4 + 4 * int64_t{ndim};
  const int64_t data_bytes = count * type->bytes;
  if (!file.compressed()) {
    // A raw file's size is known: check it against the header before allocating anything.
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec) {
      const int64_t present = static_cast<int64_t>(size) - header_bytes;
      if (present < data_bytes)
        throw IOError("'" + path + "' is truncated: its header claims shape " + shape_to_string(shape) + " of " +
                      type->name + " (" + std::to_string(data_bytes) + " bytes of data), only " +
                      std::to_string(present) + " bytes present");
      if (present > data_bytes)
        throw IOError("'" + path + "' has " + std::to_string(present - data_bytes) +
                      " bytes after the data its header announces (shape " + shape_to_string(shape) + ")");
    }
  }

  // Read in chunks, keeping only the bytes that actually arrived, so a gzip file whose header
  // lies about its size costs no more memory than its real contents.
  std::vector<unsigned char> bytes;
  bytes.reserve(static_cast<size_t>(std::min<int64_t>(data_bytes, int64_t{1} << 26)));
  constexpr size_t kChunk = size_t{1} << 22;
  while (static_cast<int64_t>(bytes.size()) < data_bytes) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(data_bytes - static_cast<int64_t>(bytes.size()), kChunk));
    const size_t old = bytes.size();
    bytes.resize(old + want);
    const size_t got = file.read(bytes.data() + old, want);
    bytes.resize(old + got);
    if (got < want)
      throw IOError("'" + path + "' is truncated: its header claims shape " + shape_to_string(shape) + " of " +
                    type->name + " (" + std::to_string(data_bytes) + " bytes of data), only " +
                    std::to_string(bytes.size()) + " bytes present");
  }
  unsigned char extra;
  if (file.read(&extra, 1) != 0)
    throw IOError("'" + path + "' has bytes after the data its header announces (shape " + shape_to_string(shape) + ")");

  Tensor t(shape);
  convert(type->code, bytes.data(), count, t.data());
  return t;
}

}  // namespace myelin::data
