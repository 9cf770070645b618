// BMP and GIF through stb_image (Debian's libstb). stb_image reads past the end of its buffer as
// zeros, so a truncated file would decode into a partly black image: the file's structure is walked
// here first, up to the end of the pixel data (BMP) or of the first frame (GIF).
#include <stb/stb_image.h>

#include <climits>
#include <cstdlib>
#include <memory>

#include "data/image_codecs.hpp"
#include "myelin/error.hpp"

namespace myelin::data::detail {

namespace {

uint32_t le16(std::span<const uint8_t> b, size_t at) { return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8; }
uint32_t le32(std::span<const uint8_t> b, size_t at) { return le16(b, at) | le16(b, at + 2) << 16; }

[[noreturn]] void corrupt(const std::string& name, const char* format, const std::string& why) {
  throw IOError("'" + name + "': corrupt " + format + ": " + why);
}

// The BMP's header and its uncompressed pixel rows lie within the file. (stb_image refuses the RLE
// compressions, so only uncompressed and bit-field rows remain.)
void check_bmp_structure(std::span<const uint8_t> b, const std::string& name) {
  if (b.size() < 26) corrupt(name, "BMP", "the file is truncated (it ends inside the header)");
  const uint64_t offset = le32(b, 10), header = le32(b, 14);
  int64_t width, height;
  uint32_t bits, compression = 0;
  if (header == 12) {
    width = le16(b, 18), height = le16(b, 20), bits = le16(b, 24);
  } else {
    if (b.size() < 34) corrupt(name, "BMP", "the file is truncated (it ends inside the header)");
    width = int32_t(le32(b, 18)), height = int32_t(le32(b, 22)), bits = le16(b, 28), compression = le32(b, 30);
  }
  if (compression == 1 || compression == 2) return;  // RLE: refused by stb_image with its own message
  if (width < 0 || bits == 0 || bits > 32) return;   // also refused by stb_image
  const uint64_t row = (uint64_t(width) * bits + 31) / 32 * 4;
  const uint64_t rows = uint64_t(height < 0 ? -height : height);
  if (offset + row * rows > b.size())
    corrupt(name, "BMP", "the file is truncated (" + std::to_string(b.size()) + " bytes; its header needs " +
                             std::to_string(offset + row * rows) + ")");
}

// The GIF's blocks up to the end of the first image's data lie within the file.
void check_gif_structure(std::span<const uint8_t> b, const std::string& name) {
  const auto truncated = [&] { corrupt(name, "GIF", "the file is truncated (it ends before the first frame does)"); };
  const auto table_bytes = [](uint8_t flags) -> size_t { return flags & 0x80 ? 3u << ((flags & 7) + 1) : 0; };
  size_t pos = 13;
  if (b.size() < pos) truncated();
  pos += table_bytes(b[10]);
  const auto skip_sub_blocks = [&] {
    for (;;) {
      if (pos >= b.size()) truncated();
      const size_t len = b[pos];
      pos += 1 + len;
      if (len == 0) return;
    }
  };
  for (;;) {
    if (pos >= b.size()) truncated();
    const uint8_t block = b[pos];
    if (block == 0x21) {  // extension: label, then sub-blocks
      pos += 2;
      skip_sub_blocks();
    } else if (block == 0x2C) {  // image descriptor, local colour table, LZW code size, data
      if (pos + 10 > b.size()) truncated();
      pos += 10 + table_bytes(b[pos + 9]) + 1;
      skip_sub_blocks();
      return;
    } else if (block == 0x3B) {
      corrupt(name, "GIF", "the file has no image");
    } else {
      corrupt(name, "GIF", "unknown block type " + std::to_string(block) + " at byte " + std::to_string(pos));
    }
  }
}

Image decode_with_stb(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits,
                      const char* format, int channels_wanted) {
  if (bytes.size() > size_t(INT_MAX)) corrupt(name, format, "the file is larger than 2 GiB");
  const auto* data = bytes.data();
  const int len = int(bytes.size());
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &c)) corrupt(name, format, stbi_failure_reason());
  check_image_size(w, h, limits, name, format);
  std::unique_ptr<uint8_t, void (*)(void*)> pixels(stbi_load_from_memory(data, len, &w, &h, &c, channels_wanted),
                                                   &stbi_image_free);
  if (!pixels) corrupt(name, format, stbi_failure_reason());
  Image image;
  image.height = h;
  image.width = w;
  image.channels = channels_wanted ? channels_wanted : c;
  image.pixels.assign(pixels.get(), pixels.get() + size_t(h) * size_t(w) * size_t(image.channels));
  return image;
}

}  // namespace

Image decode_bmp(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits) {
  check_bmp_structure(bytes, name);
  return decode_with_stb(bytes, name, limits, "BMP", 0);
}

Image decode_gif(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits) {
  check_gif_structure(bytes, name);
  return decode_with_stb(bytes, name, limits, "GIF", 4);
}

}  // namespace myelin::data::detail
