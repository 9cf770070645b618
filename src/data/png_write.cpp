// save_png: an 8-bit PNG through libpng, written under a temporary name and renamed into place
// (io::write_file_atomically). libpng's error callback longjmps back to the writer, which throws.
#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <ostream>

#include "myelin/data/image.hpp"
#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"

namespace myelin::data {

namespace {

struct Writer {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::ostream* out = nullptr;
  char message[256] = "";
  ~Writer() { png_destroy_write_struct(&png, info ? &info : nullptr); }
};

[[noreturn]] void on_error(png_structp png, png_const_charp msg) {
  auto* w = static_cast<Writer*>(png_get_error_ptr(png));
  std::snprintf(w->message, sizeof w->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

void write_bytes(png_structp png, png_bytep data, png_size_t n) {
  auto* w = static_cast<Writer*>(png_get_io_ptr(png));
  // A failed stream is reported by write_file_atomically once the writer returns.
  w->out->write(reinterpret_cast<const char*>(data), std::streamsize(n));
}

void flush_bytes(png_structp png) { static_cast<Writer*>(png_get_io_ptr(png))->out->flush(); }

void write_png(std::ostream& out, const Image& image, const std::string& path) {
  Writer w;
  w.out = &out;
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w, on_error, on_warning);
  if (w.png) w.info = png_create_info_struct(w.png);
  if (!w.png || !w.info) throw IOError("cannot write '" + path + "': cannot start the PNG encoder (out of memory)");
  if (setjmp(png_jmpbuf(w.png))) throw IOError("cannot write '" + path + "': " + w.message);
  png_set_write_fn(w.png, &w, write_bytes, flush_bytes);
  // PNG's own limit (2^31 - 1 a side, checked by save_png), not libpng's default of a million pixels.
  png_set_user_limits(w.png, 0x7fffffff, 0x7fffffff);
  const int color_type = image.channels == 1 ? PNG_COLOR_TYPE_GRAY
                         : image.channels == 3 ? PNG_COLOR_TYPE_RGB
                                               : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(w.png, w.info, png_uint_32(image.width), png_uint_32(image.height), 8, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(w.png, w.info);
  const size_t stride = size_t(image.width) * size_t(image.channels);
  for (int64_t y = 0; y < image.height; ++y) png_write_row(w.png, image.pixels.data() + size_t(y) * stride);
  png_write_end(w.png, nullptr);
}

}  // namespace

void save_png(const std::string& path, const Image& image) {
  if (image.channels != 1 && image.channels != 3 && image.channels != 4)
    throw ValueError("save_png('" + path + "'): channels must be 1 (grey), 3 (RGB) or 4 (RGBA), got " +
                     std::to_string(image.channels));
  // PNG's limit on each side is 2^31 - 1; an empty image has no PNG form.
  if (image.height <= 0 || image.width <= 0 || image.height > INT32_MAX || image.width > INT32_MAX)
    throw ShapeError("save_png('" + path + "'): cannot write a " + std::to_string(image.height) + " x " +
                     std::to_string(image.width) + " image (each side must be 1 to 2^31 - 1 pixels)");
  // 128 bits: two sides of up to 2^31 times 4 channels overflow 64.
  const unsigned __int128 expected = (unsigned __int128)(image.height) * uint64_t(image.width) * uint64_t(image.channels);
  if (image.pixels.size() != expected)
    throw ShapeError("save_png('" + path + "'): " + std::to_string(image.height) + " x " +
                     std::to_string(image.width) + " x " + std::to_string(image.channels) + " needs " +
                     std::to_string(uint64_t(expected)) + " bytes of pixels, the image holds " +
                     std::to_string(image.pixels.size()));
  io::write_file_atomically(path, [&](std::ostream& out) { write_png(out, image, path); });
}

}  // namespace myelin::data
