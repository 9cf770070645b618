// libFuzzer target for myelin::data::decode_image (JPEG, PNG, BMP, GIF).
// A myelin::Error is the expected answer to a bad file; anything else (a crash, a sanitizer report,
// another exception, an allocation beyond -malloc_limit_mb) is a finding.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "fuzz_input.hpp"
#include "myelin/data/image.hpp"
#include "myelin/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 4 megapixels: stb_image's GIF decoder holds three 4-byte buffers of the canvas, kept well under
  // -malloc_limit_mb; the check against the limit is the same code for any value.
  const myelin::data::ImageLimits limits{.max_pixels = int64_t{1} << 22};
  // The input's length picks the channel count, so every conversion is exercised.
  const int channels = (int[]){1, 3, 4}[size % 3];
  try {
    const myelin::data::Image img = myelin::data::decode_image(std::span(data, size), channels, "input", limits);
    // A decoded image is as large as it says, and within the limit.
    if (img.height <= 0 || img.width <= 0 || img.channels != channels || img.height * img.width > limits.max_pixels ||
        img.pixels.size() != size_t(img.height * img.width * channels))
      std::abort();
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
