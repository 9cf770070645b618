// JPEG through libjpeg-turbo. libjpeg reports errors by calling error_exit, which must not return:
// ours longjmps back to read_jpeg, and decode_jpeg then throws.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "data/image_codecs.hpp"
#include "myelin/error.hpp"

namespace myelin::data::detail {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are ignored (as PIL ignores them: "extraneous bytes before marker" still decodes), except
// the end of the data before the image's end: libjpeg would fill the rest with grey, PIL and
// TensorFlow refuse the file.
void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "the file is truncated (it ends inside the image data)");
    std::longjmp(err->jump, 1);
  }
}

struct DecompressGuard {
  jpeg_decompress_struct* cinfo;
  ~DecompressGuard() { jpeg_destroy_decompress(cinfo); }
};

// PIL's CMYK to RGB (Convert.c, cmyk2rgb), from libjpeg's samples: Adobe files store CMYK inverted
// (PIL's "CMYK;I" raw mode), others as they are.
inline uint8_t mul_div_255(int a, int b) {
  const int t = a * b + 128;
  return uint8_t(((t >> 8) + t) >> 8);
}
void cmyk_to_rgb(const uint8_t* in, uint8_t* out, size_t n, bool inverted) {
  for (size_t i = 0; i < n; ++i, in += 4, out += 3) {
    int c = in[0], m = in[1], y = in[2], k = in[3];
    if (inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
    const int nk = 255 - k;
    out[0] = uint8_t(nk - mul_div_255(c, nk));
    out[1] = uint8_t(nk - mul_div_255(m, nk));
    out[2] = uint8_t(nk - mul_div_255(y, nk));
  }
}

// Runs libjpeg over its source into `image` (CMYK files through `cmyk`); false when libjpeg reported
// an error (its message is in err.message). All live in the caller's frame, so the longjmp skips no
// destructor and leaves no object of this frame half-updated.
bool read_jpeg(jpeg_decompress_struct& cinfo, ErrorManager& err, Image& image, std::vector<uint8_t>& cmyk,
               const std::string& name, const ImageLimits& limits) {
  if (setjmp(err.jump)) return false;
  jpeg_read_header(&cinfo, TRUE);
  check_image_size(cinfo.image_width, cinfo.image_height, limits, name, "JPEG");
  bool is_cmyk = false;
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo.out_color_space = JCS_CMYK;
      is_cmyk = true;
      break;
    default: cinfo.out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(&cinfo);
  const int components = cinfo.output_components;
  image.height = cinfo.output_height;
  image.width = cinfo.output_width;
  image.channels = is_cmyk ? 3 : components;
  const size_t stride = size_t(image.width) * size_t(components);
  std::vector<uint8_t>& target = is_cmyk ? cmyk : image.pixels;
  target.resize(stride * size_t(image.height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = target.data() + size_t(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  if (is_cmyk) {
    image.pixels.resize(size_t(image.height) * size_t(image.width) * 3);
    cmyk_to_rgb(cmyk.data(), image.pixels.data(), size_t(image.height) * size_t(image.width), cinfo.saw_Adobe_marker);
  }
  return true;
}

}  // namespace

Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  jpeg_create_decompress(&cinfo);
  DecompressGuard guard{&cinfo};
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  Image image;
  std::vector<uint8_t> cmyk;
  if (!read_jpeg(cinfo, err, image, cmyk, name, limits)) throw IOError("'" + name + "': corrupt JPEG: " + err.message);
  return image;
}

}  // namespace myelin::data::detail
