// decode_image: tells the format from the first bytes, hands the file to its decoder
// (image_codecs.hpp), then converts the file's channels to the ones asked for.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "data/image_codecs.hpp"
#include "myelin/data/image.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

namespace {

enum class Format { kUnknown, kJpeg, kPng, kBmp, kGif };

Format format_of(std::span<const uint8_t> b) {
  auto starts = [&](std::initializer_list<uint8_t> magic) {
    if (b.size() < magic.size()) return false;
    return std::equal(magic.begin(), magic.end(), b.begin());
  };
  if (starts({0xFF, 0xD8, 0xFF})) return Format::kJpeg;
  if (starts({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return Format::kPng;
  if (starts({'G', 'I', 'F', '8', '7', 'a'}) || starts({'G', 'I', 'F', '8', '9', 'a'})) return Format::kGif;
  if (starts({'B', 'M'})) return Format::kBmp;
  return Format::kUnknown;
}

// PIL's luma (Convert.c, L24): ITU-R 601 weights 0.299/0.587/0.114 in 16-bit fixed point, rounded.
// Integer, so grey images equal PIL's convert("L"), which Keras's load_img uses, byte for byte.
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595u + uint32_t(g) * 38470u + uint32_t(b) * 7471u + 0x8000u) >> 16);
}

// From the file's channels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) to `to` (1, 3 or 4).
Image convert_channels(Image in, int to) {
  const int from = int(in.channels);
  if (from == to) return in;
  Image out{in.height, in.width, to, {}};
  const size_t n = size_t(in.height) * size_t(in.width);
  out.pixels.resize(n * size_t(to));
  const uint8_t* s = in.pixels.data();
  uint8_t* d = out.pixels.data();
  for (size_t i = 0; i < n; ++i, s += from, d += to) {
    uint8_t r, g, b, a = 255;
    if (from <= 2) {
      r = g = b = s[0];
      if (from == 2) a = s[1];
    } else {
      r = s[0], g = s[1], b = s[2];
      if (from == 4) a = s[3];
    }
    if (to == 1) {
      d[0] = from <= 2 ? s[0] : luma(r, g, b);
    } else {
      d[0] = r, d[1] = g, d[2] = b;
      if (to == 4) d[3] = a;
    }
  }
  return out;
}

}  // namespace

namespace detail {
void check_image_size(int64_t width, int64_t height, const ImageLimits& limits, const std::string& name,
                      const char* format) {
  if (width <= 0 || height <= 0)
    throw IOError("'" + name + "': " + format + " header declares an empty image (" + std::to_string(height) + " x " +
                  std::to_string(width) + ", height x width)");
  // Each factor is below 2^32 (every format stores 32-bit dimensions at most): no overflow.
  if (width * height > limits.max_pixels)
    throw IOError("'" + name + "': " + format + " header declares " + std::to_string(height) + " x " +
                  std::to_string(width) + " pixels (height x width), more than the limit of " + std::to_string(limits.max_pixels) +
                  " (ImageLimits::max_pixels); refused before decoding");
}
}  // namespace detail

bool looks_like_image(std::span<const uint8_t> bytes) { return format_of(bytes) != Format::kUnknown; }

Image decode_image(std::span<const uint8_t> bytes, int channels, const std::string& name, const ImageLimits& limits) {
  if (channels != 1 && channels != 3 && channels != 4)
    throw ValueError("decode_image('" + name + "'): channels must be 1 (grey), 3 (RGB) or 4 (RGBA), got " +
                     std::to_string(channels));
  Image image;
  switch (format_of(bytes)) {
    case Format::kJpeg: image = detail::decode_jpeg(bytes, name, limits); break;
    case Format::kPng: image = detail::decode_png(bytes, name, limits); break;
    case Format::kBmp: image = detail::decode_bmp(bytes, name, limits); break;
    case Format::kGif: image = detail::decode_gif(bytes, name, limits); break;
    case Format::kUnknown:
      throw IOError("'" + name + "' is not a JPEG, PNG, BMP or GIF file (" +
                    (bytes.empty() ? std::string("it is empty") : "unknown first bytes") + ")");
  }
  return convert_channels(std::move(image), channels);
}

Image load_image(const std::string& path, int channels, const ImageLimits& limits) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw IOError("cannot open image '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get())) throw IOError("cannot read image '" + path + "': " + std::strerror(errno));
  return decode_image(bytes, channels, path, limits);
}

}  // namespace myelin::data
