// PNG through libpng, read from memory. libpng reports errors through a callback that must not
// return: ours longjmps back to read_png, and decode_png then throws.
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "data/image_codecs.hpp"
#include "myelin/error.hpp"

namespace myelin::data::detail {

namespace {

struct Reader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::span<const uint8_t> bytes;
  size_t offset = 0;
  char message[256] = "";
  ~Reader() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

[[noreturn]] void on_error(png_structp png, png_const_charp msg) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // e.g. a bad ancillary chunk, skipped (as PIL does)

void read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (r->bytes.size() - r->offset < n) png_error(png, "the file is truncated");
  std::memcpy(out, r->bytes.data() + r->offset, n);
  r->offset += n;
}

// Runs libpng over r.bytes into `image`; false when libpng reported an error (its message is in
// r.message). Both live in the caller's frame, so the longjmp skips no destructor and leaves no
// object of this frame half-updated.
bool read_png(Reader& r, Image& image, const std::string& name, const ImageLimits& limits) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_read_fn(r.png, &r, read_bytes);
  // ImageLimits decides the size, not libpng's default limit of a million pixels a side.
  png_set_user_limits(r.png, 0x7fffffff, 0x7fffffff);
  png_read_info(r.png, r.info);
  const png_uint_32 width = png_get_image_width(r.png, r.info);
  const png_uint_32 height = png_get_image_height(r.png, r.info);
  check_image_size(width, height, limits, name, "PNG");
  const int bit_depth = png_get_bit_depth(r.png, r.info);
  const int color_type = png_get_color_type(r.png, r.info);
  // The high byte of 16-bit samples, as TensorFlow's convert_image_dtype(uint16 -> uint8) and PIL's
  // 16-bit RGB modes give (png_set_strip_16 drops the low byte; png_set_scale_16 would round).
  if (bit_depth == 16) png_set_strip_16(r.png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (png_get_valid(r.png, r.info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(r.png);
  const int passes = png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);

  image.height = height;
  image.width = width;
  image.channels = png_get_channels(r.png, r.info);
  const size_t stride = size_t(width) * size_t(image.channels);
  if (png_get_rowbytes(r.png, r.info) != stride) png_error(r.png, "unexpected row size after conversion to 8 bits");
  image.pixels.resize(stride * height);
  for (int pass = 0; pass < passes; ++pass)
    for (png_uint_32 y = 0; y < height; ++y) png_read_row(r.png, image.pixels.data() + size_t(y) * stride, nullptr);
  // The end chunk is not read: the pixels are complete, and PIL does not require it either.
  return true;
}

}  // namespace

Image decode_png(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits) {
  Reader r;
  r.bytes = bytes;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
  if (r.png) r.info = png_create_info_struct(r.png);
  if (!r.png || !r.info) throw IOError("'" + name + "': cannot start the PNG decoder (out of memory)");
  Image image;
  if (!read_png(r, image, name, limits)) throw IOError("'" + name + "': corrupt PNG: " + r.message);
  return image;
}

}  // namespace myelin::data::detail
