// Internal: one decoder per image format, each giving the file's own channels (1 grey, 2 grey +
// alpha, 3 RGB, 4 RGBA); decode_image (image_decode.cpp) converts to what the caller asked for.
// Not part of the public API.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "myelin/data/image.hpp"

namespace myelin::data::detail {

/// Throws IOError naming `name` when a `width` x `height` image exceeds `limits` (or is empty).
/// Called with the header's dimensions, before any pixel buffer is allocated.
void check_image_size(int64_t width, int64_t height, const ImageLimits& limits, const std::string& name,
                      const char* format);

/// libjpeg-turbo, islow DCT and fancy upsampling (libjpeg's defaults, which PIL keeps): the same
/// pixels as PIL. Grey JPEGs give 1 channel, YCbCr and RGB give 3, CMYK/YCCK give 3 (converted as
/// PIL converts CMYK to RGB). A file cut short is an IOError, as in PIL and TensorFlow.
Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits);

/// libpng: palette and 1/2/4-bit grey expanded to 8 bits, tRNS turned into alpha, 16-bit samples
/// reduced to their high byte, interlaced files de-interlaced. Gamma and colour profiles ignored
/// (as PIL and Keras ignore them).
Image decode_png(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits);

/// stb_image for BMP and GIF (its first frame; GIFs always give 4 channels). The file's structure is
/// checked first, since stb_image reads past the end of a truncated file as zeros.
Image decode_bmp(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits);
Image decode_gif(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits);

}  // namespace myelin::data::detail
