#include "data/idx_format.hpp"

#include <cstring>

#include "myelin/error.hpp"

namespace myelin::data::detail {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex_byte(int v) {
  static const char digits[] = "0123456789ABCDEF";
  return std::string("0x") + digits[(v >> 4) & 15] + digits[v & 15];
}

std::string describe(const IdxHeader& h) { return "shape " + shape_to_string(h.shape) + " of " + h.type->name; }

}  // namespace

void check_idx_magic(const std::string& path, const unsigned char magic[4], const IdxElementType*& type, int& ndim) {
  static const IdxElementType types[] = {{0x08, 1, "unsigned byte"}, {0x09, 1, "signed byte"}, {0x0B, 2, "int16"},
                                         {0x0C, 4, "int32"},         {0x0D, 4, "float32"},     {0x0E, 8, "float64"}};
  if (magic[0] != 0 || magic[1] != 0)
    throw IOError("'" + path + "' is not an IDX file: its magic number (bytes 0 to 3) does not start with two zero bytes");
  type = nullptr;
  for (const auto& t : types)
    if (t.code == magic[2]) type = &t;
  if (!type)
    throw IOError("'" + path + "': unknown IDX element type code " + hex_byte(magic[2]) +
                  " at byte 2 (known: 0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)");
  ndim = magic[3];
  if (ndim < 1 || ndim > 8)
    throw IOError("'" + path + "': IDX header gives " + std::to_string(ndim) + " dimensions at byte 3, expected 1 to 8");
}

IdxHeader idx_header(const std::string& path, const IdxElementType* type, int ndim, const unsigned char* dims) {
  IdxHeader h;
  h.type = type;
  h.shape.resize(ndim);
  h.count = 1;
  for (int i = 0; i < ndim; ++i) {
    h.shape[i] = be32(dims + 4 * i);
    // Checked one dimension at a time so the product can never overflow.
    if (h.shape[i] != 0 && h.count > kMaxElements / h.shape[i]) {
      h.count = -1;
      break;
    }
    h.count *= h.shape[i];
  }
  h.header_bytes = 4 + 4 * int64_t{ndim};
  if (h.count < 0 || h.count > kMaxElements)
    throw IOError("'" + path + "': IDX header claims shape " + shape_to_string(h.shape) + " (bytes 4 to " +
                  std::to_string(h.header_bytes - 1) + "), more than the limit of 2^31 elements");
  h.data_bytes = h.count * type->bytes;
  return h;
}

std::string idx_truncated(const std::string& path, const IdxHeader& h, int64_t present) {
  return "'" + path + "' is truncated: it ends at byte " + std::to_string(h.header_bytes + present) +
         ", but its header (" + describe(h) + ") promises " + std::to_string(h.data_bytes) +
         " bytes of data starting at byte " + std::to_string(h.header_bytes) + "; only " + std::to_string(present) +
         " bytes present";
}

std::string idx_trailing(const std::string& path, const IdxHeader& h, int64_t extra) {
  const std::string count = extra == 1 ? "1 byte " : extra > 1 ? std::to_string(extra) + " bytes " : "bytes ";
  return "'" + path + "' has " + count + "after the data its header announces (" + describe(h) + "), from byte " +
         std::to_string(h.header_bytes + h.data_bytes);
}

void idx_convert(int code, const unsigned char* in, int64_t count, float* out, float scale) {
  switch (code) {
    case 0x08:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]) * scale;
      break;
    case 0x09:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<int8_t>(in[i])) * scale;
      break;
    case 0x0B:
      for (int64_t i = 0; i < count; ++i) {
        const unsigned char* p = in + 2 * i;
        out[i] = static_cast<float>(static_cast<int16_t>((uint16_t{p[0]} << 8) | p[1])) * scale;
      }
      break;
    case 0x0C:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<int32_t>(be32(in + 4 * i))) * scale;
      break;
    case 0x0D:
      for (int64_t i = 0; i < count; ++i) {
        const uint32_t bits = be32(in + 4 * i);
        std::memcpy(&out[i], &bits, 4);
        if (scale != 1.0f) out[i] *= scale;  // keeps a NaN's payload bits when unscaled
      }
      break;
    case 0x0E:
      for (int64_t i = 0; i < count; ++i) {
        const unsigned char* p = in + 8 * i;
        const uint64_t bits = (uint64_t{be32(p)} << 32) | be32(p + 4);
        double d;
        std::memcpy(&d, &bits, 8);
        out[i] = static_cast<float>(d) * scale;
      }
      break;
  }
}

}  // namespace myelin::data::detail
