// Image files: decoding JPEG, PNG, BMP and GIF (first frame) into 8-bit pixels, and writing PNG.
// The format is told from the file's first bytes, not from its name, so a PNG named .jpg still
// decodes (as Keras's decode_image does).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace myelin::data {

/// Decoded pixels, row-major HWC, one byte per channel (0..255).
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  ///< height * width * channels bytes
};

/// Limits on what a decoder will allocate for one image.
struct ImageLimits {
  /// Largest height * width accepted; a header declaring more is an IOError before any pixel
  /// buffer is allocated (a 100,000 x 100,000 header costs nothing). 2^26 is 67 megapixels.
  int64_t max_pixels = int64_t{1} << 26;
};

/// Decodes an image file held in memory into `channels` channels: 1 (grey), 3 (RGB) or 4 (RGBA).
/// Conversions follow Keras's color_mode, which loads through PIL, and give PIL's bytes exactly:
/// grey from RGB by ITU-R 601 luma in PIL's integer form,
/// (19595 R + 38470 G + 7471 B + 32768) >> 16, i.e. 0.299 R + 0.587 G + 0.114 B rounded; RGB from
/// grey by repeating it; alpha dropped for RGB and grey; alpha 255 added where the file has none
/// (a PNG's tRNS colour becomes alpha 0). JPEGs decode as libjpeg's defaults (and PIL) do: islow
/// DCT, fancy upsampling. 16-bit PNG samples keep their high byte (as TensorFlow's
/// convert_image_dtype); palette and low-bit-depth PNGs are expanded; interlaced PNGs are
/// supported; GIFs give their first frame. Gamma and colour profiles are ignored, as in PIL.
/// Throws IOError naming `name` (the file, for messages) for an unknown format, a truncated or
/// corrupt file, or one larger than `limits`; ValueError for channels not 1, 3 or 4.
Image decode_image(std::span<const uint8_t> bytes, int channels, const std::string& name,
                   const ImageLimits& limits = {});

/// Reads and decodes the file at `path` (as decode_image). Throws IOError naming the path if it
/// cannot be read.
Image load_image(const std::string& path, int channels, const ImageLimits& limits = {});

/// True when `bytes` start like a JPEG, PNG, BMP or GIF file.
bool looks_like_image(std::span<const uint8_t> bytes);

/// Writes `image` (1, 3 or 4 channels) as an 8-bit PNG file at `path`, through a temporary name
/// renamed into place, so an existing file is never left half-written. Throws IOError naming the
/// path on failure, ShapeError for an empty image or a pixel count that does not match the
/// dimensions, ValueError for channels not 1, 3 or 4. zlib's default compression, no interlacing.
void save_png(const std::string& path, const Image& image);

}  // namespace myelin::data
