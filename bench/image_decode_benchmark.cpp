// Decoding throughput of image files: myelin's decode_image (libjpeg-turbo for JPEG, libpng for PNG)
// against stb_image on the same bytes, for 64x64 and 256x256 RGB images. Prints name=value lines.
//
//   image_decode_benchmark [--repeats R] [--seconds S]
//
// The files: 32 different pictures per size (gradients plus noise, like a photo to a JPEG encoder),
// JPEG at quality 90 with 4:2:0 chroma (PIL's and libjpeg's defaults), PNG as save_png writes it.
// Also prints the share of bytes where stb_image's JPEG pixels differ from libjpeg-turbo's (which
// equal PIL's) and the largest difference. Each repeat decodes the 32 files in turn for about S seconds (default 0.3) and counts images/s;
// the figure printed is the median of R repeats (default 7). Decoders alternate repeat by repeat,
// so drifting machine load touches both alike. One thread.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <stb/stb_image.h>

#include "myelin/data/image.hpp"
#include "timing.hpp"

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

myelin::data::Image picture(int side, uint32_t seed) {
  myelin::data::Image img{side, side, 3, std::vector<uint8_t>(size_t(side) * side * 3)};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-20, 20);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(size_t(y) * side + x) * 3 + c] =
            uint8_t(std::clamp((x * (3 + c) + y * (5 - c) + 40 * c + int(seed)) % 256 + noise(rng), 0, 255));
  return img;
}

Bytes encode_jpeg(const myelin::data::Image& img) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);  // a benchmark's own valid input: libjpeg's exit() on error is fine
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = JDIMENSION(img.width);
  cinfo.image_height = JDIMENSION(img.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 90, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(img.pixels.data()) + size_t(cinfo.next_scanline) * size_t(img.width) * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes bytes(out, out + size);
  std::free(out);
  return bytes;
}

Bytes encode_png(const myelin::data::Image& img, const fs::path& dir) {
  const fs::path p = dir / "x.png";
  myelin::data::save_png(p.string(), img);
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double images_per_second(const std::vector<Bytes>& files, double seconds, const std::function<void(const Bytes&)>& decode) {
  size_t n = 0;
  const auto t0 = bench::Clock::now();
  double t = 0;
  do {
    decode(files[n % files.size()]);
    ++n;
  } while ((n % files.size()) != 0 || (t = bench::seconds_since(t0)) < seconds);
  return double(n) / t;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 7;
  double seconds = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--repeats") repeats = std::atoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: image_decode_benchmark [--repeats R] [--seconds S]\n");
      return 2;
    }
  }
  const fs::path dir = fs::temp_directory_path() / ("myelin_image_bench_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  uint64_t checksum = 0;  // keeps the decodes from being optimised away
  const auto ours = [&](const Bytes& b) {
    checksum += myelin::data::decode_image(b, 3, "bench").pixels[7];
  };
  const auto stb = [&](const Bytes& b) {
    int w, h, c;
    uint8_t* p = stbi_load_from_memory(b.data(), int(b.size()), &w, &h, &c, 3);
    if (!p) throw std::runtime_error(std::string("stb_image failed: ") + stbi_failure_reason());
    checksum += p[7];
    stbi_image_free(p);
  };
  for (int side : {64, 256}) {
    std::vector<Bytes> jpegs, pngs;
    size_t jpeg_bytes = 0, png_bytes = 0, jpeg_bytes_differing = 0, jpeg_bytes_compared = 0;
    int jpeg_max_difference = 0;
    for (uint32_t k = 0; k < 32; ++k) {
      const auto img = picture(side, k);
      jpegs.push_back(encode_jpeg(img));
      pngs.push_back(encode_png(img, dir));
      jpeg_bytes += jpegs.back().size();
      png_bytes += pngs.back().size();
      // Both decoders must give the same pixels for PNG (lossless); for JPEG stb_image's own IDCT and
      // upsampling differ from libjpeg's (and so from PIL's): count by how much.
      int w, h, c;
      uint8_t* p = stbi_load_from_memory(pngs.back().data(), int(pngs.back().size()), &w, &h, &c, 3);
      if (!p || !std::equal(p, p + img.pixels.size(), img.pixels.begin())) throw std::runtime_error("PNG mismatch");
      stbi_image_free(p);
      p = stbi_load_from_memory(jpegs.back().data(), int(jpegs.back().size()), &w, &h, &c, 3);
      const auto ours_jpeg = myelin::data::decode_image(jpegs.back(), 3, "bench");
      for (size_t i = 0; i < ours_jpeg.pixels.size(); ++i) {
        const int d = std::abs(int(p[i]) - int(ours_jpeg.pixels[i]));
        jpeg_max_difference = std::max(jpeg_max_difference, d);
        jpeg_bytes_differing += d != 0;
      }
      jpeg_bytes_compared += ours_jpeg.pixels.size();
      stbi_image_free(p);
    }
    std::printf("jpeg_%d_stb_bytes_differing_from_libjpeg=%.3f\n", side, double(jpeg_bytes_differing) / double(jpeg_bytes_compared));
    std::printf("jpeg_%d_stb_max_difference_from_libjpeg=%d\n", side, jpeg_max_difference);
    for (const auto& [format, files, bytes] :
         {std::tuple{"jpeg", &jpegs, jpeg_bytes}, std::tuple{"png", &pngs, png_bytes}}) {
      std::vector<double> mine, theirs;
      for (int r = 0; r < repeats; ++r) {
        mine.push_back(images_per_second(*files, seconds, ours));
        theirs.push_back(images_per_second(*files, seconds, stb));
      }
      const std::string key = std::string(format) + "_" + std::to_string(side);
      std::printf("%s_mean_file_bytes=%zu\n", key.c_str(), bytes / files->size());
      std::printf("%s_myelin_images_per_s=%.0f\n", key.c_str(), bench::median(mine));
      std::printf("%s_stb_images_per_s=%.0f\n", key.c_str(), bench::median(theirs));
      std::printf("%s_myelin_over_stb=%.2f\n", key.c_str(), bench::median(mine) / bench::median(theirs));
    }
  }
  std::printf("checksum=%llu\n", static_cast<unsigned long long>(checksum));
  fs::remove_all(dir);
  return 0;
}
