// Image files (myelin/data/image.hpp): every format and colour conversion against the pixels PIL
// decodes from the same files (tests/pil/make_images.py, run at test time), bad files refused with
// an IOError naming the file, and save_png's round trip and atomic replacement.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "myelin/data/image.hpp"
#include "myelin/error.hpp"

namespace fs = std::filesystem;
using myelin::IOError;
using myelin::data::Image;
using myelin::test::expect_error;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

struct Reference {
  std::string name;
  int64_t height, width;
};

// One directory of files and PIL's pixels for the whole suite; empty `skip_reason` when PIL ran.
class ImageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("myelin_image_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    if (std::system("/usr/bin/python3 -c 'import PIL, numpy' >/dev/null 2>&1") != 0) {
      skip_reason_ = "python3-pil (and python3-numpy) are needed for the reference pixels: apt-get install python3-pil";
      return;
    }
    const std::string cmd = "/usr/bin/python3 " MYELIN_TESTS_DIR "/pil/make_images.py " + dir_->string();
    if (std::system(cmd.c_str()) != 0) {
      skip_reason_ = "tests/pil/make_images.py failed";
      failed_ = true;
      return;
    }
    std::ifstream manifest(*dir_ / "manifest.txt");
    Reference r;
    while (manifest >> r.name >> r.height >> r.width) refs_.push_back(r);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_FALSE(failed_) << skip_reason_;
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }
  static fs::path path(const std::string& name) { return *dir_ / name; }

  static fs::path* dir_;
  static std::string skip_reason_;
  static bool failed_;
  static std::vector<Reference> refs_;
};
fs::path* ImageTest::dir_ = nullptr;
std::string ImageTest::skip_reason_;
bool ImageTest::failed_ = false;
std::vector<Reference> ImageTest::refs_;

// The first differing pixel, for a readable failure.
std::string first_difference(const Image& got, const std::vector<uint8_t>& want) {
  for (size_t i = 0; i < want.size() && i < got.pixels.size(); ++i)
    if (got.pixels[i] != want[i]) {
      const size_t c = size_t(got.channels), pixel = i / c;
      std::ostringstream s;
      s << "first difference at row " << pixel / size_t(got.width) << ", column " << pixel % size_t(got.width)
        << ", channel " << i % c << ": " << int(got.pixels[i]) << " vs PIL's " << int(want[i]);
      return s.str();
    }
  return "sizes differ: " + std::to_string(got.pixels.size()) + " vs " + std::to_string(want.size());
}

TEST_F(ImageTest, EveryFormatAndChannelCountEqualsPilExactly) {
  ASSERT_GE(refs_.size(), 17u);
  for (const auto& r : refs_) {
    for (int channels : {1, 3, 4}) {
      SCOPED_TRACE(r.name + ", " + std::to_string(channels) + " channels");
      const Image img = myelin::data::load_image(path(r.name).string(), channels);
      EXPECT_EQ(img.height, r.height);
      EXPECT_EQ(img.width, r.width);
      EXPECT_EQ(img.channels, channels);
      const auto want = read_bytes(path(r.name + ".c" + std::to_string(channels)));
      ASSERT_EQ(want.size(), size_t(r.height * r.width * channels));
      EXPECT_TRUE(img.pixels == want) << first_difference(img, want);
    }
  }
}

TEST_F(ImageTest, FormatIsToldFromTheBytesNotTheName) {
  fs::copy_file(path("rgba.png"), path("really_a_png.jpg"), fs::copy_options::overwrite_existing);
  const Image img = myelin::data::load_image(path("really_a_png.jpg").string(), 4);
  EXPECT_TRUE(img.pixels == read_bytes(path("rgba.png.c4")));
  for (const char* name : {"rgb_q90.jpg", "rgb.png", "rgb24.bmp", "two_frames.gif"})
    EXPECT_TRUE(myelin::data::looks_like_image(read_bytes(path(name)))) << name;
  const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_FALSE(myelin::data::looks_like_image(text));
  EXPECT_FALSE(myelin::data::looks_like_image({}));
}

TEST_F(ImageTest, TruncatedFilesAreIOErrorsNamingTheFile) {
  for (const char* name : {"rgb_q90.jpg", "rgb_progressive.jpg", "rgb.png", "rgb_interlaced.png", "rgb24.bmp",
                           "two_frames.gif"}) {
    auto bytes = read_bytes(path(name));
    // Cut in the pixel data (and, for the GIF, inside the first frame).
    bytes.resize(bytes.size() * 2 / 5);
    const std::string cut = std::string("cut_") + name;
    write_bytes(path(cut), bytes);
    SCOPED_TRACE(cut);
    expect_error<IOError>([&] { myelin::data::load_image(path(cut).string(), 3); }, {cut, "truncated"});
  }
}

TEST_F(ImageTest, EmptyAndRandomFilesAreIOErrorsNamingTheFile) {
  write_bytes(path("empty.png"), {});
  expect_error<IOError>([&] { myelin::data::load_image(path("empty.png").string(), 3); }, {"empty.png", "empty"});
  std::vector<uint8_t> noise(4096);
  uint32_t x = 12345;
  for (auto& b : noise) b = uint8_t((x = x * 1103515245u + 12345u) >> 24);
  write_bytes(path("noise.jpg"), noise);
  expect_error<IOError>([&] { myelin::data::load_image(path("noise.jpg").string(), 3); },
                        {"noise.jpg", "not a JPEG, PNG, BMP or GIF"});
  // Random bytes after a valid signature reach the decoders, which must refuse them too.
  for (const std::vector<uint8_t>& magic : std::vector<std::vector<uint8_t>>{
           {0xFF, 0xD8, 0xFF}, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, {'B', 'M'}, {'G', 'I', 'F', '8', '9', 'a'}}) {
    auto bytes = noise;
    std::copy(magic.begin(), magic.end(), bytes.begin());
    write_bytes(path("noise_after_magic"), bytes);
    expect_error<IOError>([&] { myelin::data::load_image(path("noise_after_magic").string(), 3); },
                          {"noise_after_magic"});
  }
  expect_error<IOError>([&] { myelin::data::load_image(path("no_such_file.png").string(), 3); }, {"no_such_file.png"});
  expect_error<myelin::ValueError>([&] { myelin::data::load_image(path("rgb.png").string(), 2); },
                                   {"rgb.png", "channels"});
}

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

TEST_F(ImageTest, HugeHeaderIsRefusedBeforeAllocating) {
  // A valid PNG header declaring 100,000 x 100,000 RGBA pixels (40 GB decoded), and no data.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13};
  const uint8_t ihdr[] = {'I', 'H', 'D', 'R', 0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 6, 0, 0, 0};
  png.insert(png.end(), std::begin(ihdr), std::end(ihdr));
  const uint32_t crc = crc32(ihdr, sizeof ihdr);
  for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(crc >> s));
  // An empty IDAT chunk: the decoder has read the whole header when it reaches it.
  const uint8_t idat[] = {'I', 'D', 'A', 'T'};
  png.insert(png.end(), {0, 0, 0, 0, 'I', 'D', 'A', 'T'});
  const uint32_t idat_crc = crc32(idat, 4);
  for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(idat_crc >> s));
  const auto t0 = std::chrono::steady_clock::now();
  expect_error<IOError>([&] { myelin::data::decode_image(png, 3, "huge.png"); },
                        {"huge.png", "100000 x 100000", "max_pixels"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.5);
  // The same check for every format, through a limit below the real files' size.
  for (const char* name : {"rgb_q90.jpg", "rgb.png", "rgb24.bmp", "two_frames.gif"})
    expect_error<IOError>([&] { myelin::data::load_image(path(name).string(), 3, {.max_pixels = 100}); },
                          {name, " x ", "max_pixels"});
}

TEST_F(ImageTest, SavePngRoundTripsEveryChannelCount) {
  for (int channels : {1, 3, 4}) {
    const Image img = myelin::data::load_image(path("rgba.png").string(), channels);
    const std::string out = path("saved_" + std::to_string(channels) + ".png").string();
    myelin::data::save_png(out, img);
    const Image back = myelin::data::load_image(out, channels);
    EXPECT_EQ(back.height, img.height);
    EXPECT_EQ(back.width, img.width);
    EXPECT_TRUE(back.pixels == img.pixels) << channels << " channels: " << first_difference(back, img.pixels);
  }
}

TEST(ImageSave, APngWiderThanAMillionPixelsRoundTrips) {
  // libpng's own default limit is a million pixels a side; ImageLimits is what decides.
  const std::string file = (fs::temp_directory_path() / ("myelin_wide_" + std::to_string(::getpid()) + ".png")).string();
  Image wide{1, 1100000, 1, std::vector<uint8_t>(1100000)};
  for (size_t i = 0; i < wide.pixels.size(); ++i) wide.pixels[i] = uint8_t(i * 7);
  myelin::data::save_png(file, wide);
  const Image back = myelin::data::load_image(file, 1);
  fs::remove(file);
  EXPECT_EQ(back.width, 1100000);
  EXPECT_TRUE(back.pixels == wide.pixels);
}

TEST(ImageSave, ReplacesAnExistingFileAtomically) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_image_save_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "a.png").string();
  Image first{2, 3, 1, {0, 50, 100, 150, 200, 250}};
  myelin::data::save_png(file, first);
  // A hard link keeps the old file: a rename gives the path a new file, an in-place write would
  // change the linked one too.
  fs::create_hard_link(file, dir / "old.png");
  Image second{1, 2, 3, {1, 2, 3, 4, 5, 6}};
  myelin::data::save_png(file, second);
  EXPECT_TRUE(myelin::data::load_image(file, 3).pixels == second.pixels);
  EXPECT_TRUE(myelin::data::load_image((dir / "old.png").string(), 1).pixels == first.pixels);
  // A refused image leaves the file as it was, and no temporary behind.
  Image bad{2, 2, 3, {1, 2, 3}};
  expect_error<myelin::ShapeError>([&] { myelin::data::save_png(file, bad); }, {"a.png", "12 bytes"});
  expect_error<myelin::ValueError>([&] { myelin::data::save_png(file, Image{1, 1, 2, {0, 0}}); }, {"a.png", "channels"});
  EXPECT_TRUE(myelin::data::load_image(file, 3).pixels == second.pixels);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 2);
  // A folder that does not exist: an IOError naming the path.
  expect_error<IOError>([&] { myelin::data::save_png((dir / "missing" / "b.png").string(), second); }, {"b.png"});
  fs::remove_all(dir);
}

}  // namespace
