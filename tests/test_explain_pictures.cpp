// Pictures and tables of attributions: the heat-map PNGs decoded back and checked pixel by pixel,
// the jet colour map, and the feature table's order, names and printed form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "expect_error.hpp"
#include "myelin/data/image.hpp"
#include "myelin/error.hpp"
#include "myelin/explain/feature_table.hpp"
#include "myelin/explain/heatmap.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using myelin::test::expect_error;

namespace {

struct Rgb {
  int r, g, b;
};

Rgb jet(double t) {
  unsigned char c[3];
  explain::jet_colour(t, c);
  return {c[0], c[1], c[2]};
}

Rgb pixel(const data::Image& im, int64_t y, int64_t x) {
  const uint8_t* p = im.pixels.data() + (y * im.width + x) * im.channels;
  return {p[0], p[1], p[2]};
}

// (1 - opacity) * 255 * grey + opacity * colour, as the header defines the blend.
Rgb blend(double grey, Rgb c, double opacity) {
  auto mix = [&](int v) { return int(std::lround((1 - opacity) * 255.0 * grey + opacity * v)); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

void expect_near(Rgb got, Rgb want, int tolerance, const std::string& where) {
  EXPECT_LE(std::abs(got.r - want.r), tolerance) << where << ": red " << got.r << " vs " << want.r;
  EXPECT_LE(std::abs(got.g - want.g), tolerance) << where << ": green " << got.g << " vs " << want.g;
  EXPECT_LE(std::abs(got.b - want.b), tolerance) << where << ": blue " << got.b << " vs " << want.b;
}

// Hue in degrees (0 red, 120 green, 240 blue).
double hue(Rgb c) {
  const double r = c.r / 255.0, g = c.g / 255.0, b = c.b / 255.0;
  const double hi = std::max({r, g, b}), lo = std::min({r, g, b}), d = hi - lo;
  if (d == 0) return 0;
  double h = hi == r ? std::fmod((g - b) / d, 6.0) : hi == g ? (b - r) / d + 2 : (r - g) / d + 4;
  h *= 60;
  return h < 0 ? h + 360 : h;
}

class Pictures : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("myelin_pictures_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

// A 4 x 5 grey ramp: pixel i holds i, so pixel 0 is black and pixel 19 white once scaled.
Tensor ramp_image() {
  std::vector<float> v(20);
  for (int i = 0; i < 20; ++i) v[size_t(i)] = float(i) * 3 + 7;  // its own scale: min 7, max 64
  return Tensor({4, 5}, v);
}

}  // namespace

TEST(JetColour, EndpointsAreDarkBlueAndDarkRedAndMiddleIsGreen) {
  const Rgb lo = jet(0), mid = jet(0.5), hi = jet(1);
  EXPECT_EQ(lo.r, 0);
  EXPECT_EQ(lo.g, 0);
  EXPECT_EQ(lo.b, 128);
  EXPECT_EQ(hi.r, 128);
  EXPECT_EQ(hi.g, 0);
  EXPECT_EQ(hi.b, 0);
  EXPECT_EQ(mid.g, 255);
  EXPECT_LT(mid.r, 255);
  EXPECT_LT(mid.b, 255);
  // Outside [0, 1] clamps.
  EXPECT_EQ(jet(-3).b, lo.b);
  EXPECT_EQ(jet(7).r, hi.r);
}

TEST(JetColour, HueFallsFromBlueToRedAsTRises) {
  double previous = hue(jet(0));
  EXPECT_NEAR(previous, 240, 1e-9);
  for (int i = 1; i <= 100; ++i) {
    const double h = hue(jet(i / 100.0));
    EXPECT_LE(h, previous + 1e-9) << "t=" << i / 100.0;
    previous = h;
  }
  EXPECT_NEAR(previous, 0, 1e-9);
  EXPECT_NEAR(hue(jet(0.5)), 120, 2);  // green halfway
}

TEST_F(Pictures, ZeroAttributionShowsGreyUnderJetZeroAndTheLargestShowsJetOne) {
  const Tensor image = ramp_image();
  Tensor attribution({4, 5});
  attribution.at(3, 4) = 2.5f;  // one pixel, the brightest
  attribution.at(1, 0) = -2.5f;  // magnitude counts: also the largest
  explain::save_heatmap(file("h.png"), image, attribution, {.scale = 1, .opacity = 0.4});
  const data::Image png = data::load_image(file("h.png"), 3);
  ASSERT_EQ(png.height, 4);
  ASSERT_EQ(png.width, 5);
  expect_near(pixel(png, 0, 0), blend(0.0, jet(0), 0.4), 1, "black pixel, no attribution");
  expect_near(pixel(png, 2, 3), blend(13.0 / 19, jet(0), 0.4), 1, "mid pixel, no attribution");
  expect_near(pixel(png, 3, 4), blend(1.0, jet(1), 0.4), 1, "white pixel, largest attribution");
  expect_near(pixel(png, 1, 0), blend(5.0 / 19, jet(1), 0.4), 1, "negative attribution");
}

TEST_F(Pictures, MapIsScaledByItsNinetyNinthPercentileAndClipped) {
  // 100 pixels holding 1..100, then one outlier: the 99th value (99) becomes red, the outlier is clipped.
  std::vector<float> a(100);
  for (int i = 0; i < 100; ++i) a[size_t(i)] = float(i + 1);
  a[99] = 1e6f;
  const Tensor attribution({10, 10}, a);
  explain::save_heatmap(file("p.png"), Tensor::full({10, 10}, 0.3f), attribution, {.opacity = 1.0});
  const data::Image png = data::load_image(file("p.png"), 3);
  for (int i : {0, 32, 65, 98, 99}) {
    const double t = std::min(1.0, (i + 1) / 99.0);
    expect_near(pixel(png, i / 10, i % 10), jet(t), 1, "pixel " + std::to_string(i));
  }
}

TEST_F(Pictures, ChannelsOfTheAttributionDrawTheirLargestMagnitude) {
  Tensor attribution({2, 2, 3});
  attribution[1] = -4;  // pixel (0, 0), green channel
  attribution[2] = 1;
  attribution[3] = 2;  // pixel (0, 1), red channel: half
  explain::save_heatmap(file("c.png"), Tensor::full({2, 2, 1}, 1.f), attribution, {.opacity = 1.0});
  const data::Image png = data::load_image(file("c.png"), 3);
  expect_near(pixel(png, 0, 0), jet(1), 0, "largest");
  expect_near(pixel(png, 0, 1), jet(0.5), 0, "half");
  expect_near(pixel(png, 1, 1), jet(0), 0, "none");
}

TEST_F(Pictures, RgbImageIsDrawnInGreyScaledByItsOwnRange) {
  // Red, green, blue and white pixels: ITU-R 601 luma 0.299, 0.587, 0.114, 1, then scaled to [0, 1].
  const Tensor image({2, 2, 3}, {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255});
  explain::save_heatmap(file("rgb.png"), image, Tensor({2, 2}), {.opacity = 0.0});
  const data::Image png = data::load_image(file("rgb.png"), 3);
  const double lo = 0.114, range = 1 - lo;
  const double expected[4] = {(0.299 - lo) / range, (0.587 - lo) / range, 0, 1};
  for (int i = 0; i < 4; ++i) {
    const int g = int(std::lround(255 * expected[i]));
    expect_near(pixel(png, i / 2, i % 2), {g, g, g}, 1, "pixel " + std::to_string(i));
  }
  // A constant image is mid-grey.
  explain::save_heatmap(file("flat.png"), Tensor::full({2, 2}, 5.f), Tensor({2, 2}), {.opacity = 0.0});
  expect_near(pixel(data::load_image(file("flat.png"), 3), 1, 1), {128, 128, 128}, 1, "constant image");
}

TEST_F(Pictures, ScaleMagnifiesEachPixelIntoABlock) {
  const Tensor image = ramp_image();
  Tensor attribution({4, 5});
  attribution.at(2, 1) = 1;
  explain::save_heatmap(file("one.png"), image, attribution);
  explain::save_heatmap(file("big.png"), image, attribution, {.scale = 3});
  const data::Image one = data::load_image(file("one.png"), 3), big = data::load_image(file("big.png"), 3);
  ASSERT_EQ(big.height, 12);
  ASSERT_EQ(big.width, 15);
  for (int64_t y = 0; y < 12; ++y)
    for (int64_t x = 0; x < 15; ++x)
      expect_near(pixel(big, y, x), pixel(one, y / 3, x / 3), 0, "(" + std::to_string(y) + ", " + std::to_string(x) + ")");
}

TEST_F(Pictures, GridHasOneRowPerImageAndTheImageThenOneOverlayPerMethod) {
  // Two images, two methods, magnified 2x: cells 8 x 10 with 2-pixel white gaps between them.
  Tensor images({2, 4, 5, 1});
  for (int64_t i = 0; i < images.size(); ++i) images[i] = float(i % 20) + (i >= 20 ? 40 : 0);
  Tensor a({2, 4, 5}), b({2, 4, 5});
  a.at(0, 3) = 1;
  a.at(1, 17) = 2;
  for (int64_t i = 0; i < b.size(); ++i) b[i] = float(i);
  explain::save_heatmap_grid(file("grid.png"), images, {a, b}, {.scale = 2, .opacity = 0.5});
  const data::Image grid = data::load_image(file("grid.png"), 3);
  ASSERT_EQ(grid.height, 2 * 8 + 2);
  ASSERT_EQ(grid.width, 3 * 10 + 2 * 2);
  for (int64_t y = 0; y < grid.height; ++y)
    for (int64_t x : {10, 11, 22, 23}) expect_near(pixel(grid, y, x), {255, 255, 255}, 0, "column gap");
  for (int64_t x = 0; x < grid.width; ++x)
    for (int64_t y : {8, 9}) expect_near(pixel(grid, y, x), {255, 255, 255}, 0, "row gap");
  // Each overlay cell is the same picture save_heatmap draws for that image and method.
  for (int row = 0; row < 2; ++row)
    for (int method = 0; method < 2; ++method) {
      const Tensor& attr = method == 0 ? a : b;
      const std::string single = file("cell" + std::to_string(row) + std::to_string(method) + ".png");
      explain::save_heatmap(single, images.rows(row, row + 1).reshape({4, 5, 1}),
                            attr.rows(row, row + 1).reshape({4, 5}), {.scale = 2, .opacity = 0.5});
      const data::Image cell = data::load_image(single, 3);
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 10; ++x)
          expect_near(pixel(grid, row * 10 + y, (method + 1) * 12 + x), pixel(cell, y, x), 0,
                      "row " + std::to_string(row) + " method " + std::to_string(method));
    }
  // The first column is the image alone: its darkest pixel black, its brightest white.
  expect_near(pixel(grid, 0, 0), {0, 0, 0}, 0, "image's minimum");
  expect_near(pixel(grid, 10 + 7, 9), {255, 255, 255}, 0, "second image's maximum");
}

TEST_F(Pictures, BadArgumentsNameTheArgumentAndShapes) {
  const Tensor image({4, 5});
  expect_error<ShapeError>([&] { explain::save_heatmap(file("e.png"), image, Tensor({4, 6})); },
                           {"attribution", "(4, 6)", "(4, 5)"});
  expect_error<ShapeError>([&] { explain::save_heatmap(file("e.png"), Tensor({4, 5, 2}), Tensor({4, 5})); },
                           {"image", "2 channels", "1 (grey) or 3 (RGB)"});
  expect_error<ShapeError>([&] { explain::save_heatmap(file("e.png"), Tensor({20}), Tensor({20})); },
                           {"image", "{height, width[, channels]}", "(20,)"});
  expect_error<ValueError>([&] { explain::save_heatmap(file("e.png"), image, image, {.opacity = 1.5}); },
                           {"opacity", "[0, 1]", "1.5"});
  expect_error<ValueError>([&] { explain::save_heatmap(file("e.png"), image, image, {.opacity = NAN}); }, {"opacity"});
  expect_error<ValueError>([&] { explain::save_heatmap(file("e.png"), image, image, {.scale = 0}); },
                           {"scale", "at least 1", "0"});
  expect_error<ValueError>([&] { explain::save_heatmap(file("e.png"), image, image, {.scale = 1 << 20}); },
                           {"pixels", "smaller scale"});
  expect_error<ShapeError>([&] { explain::save_heatmap_grid(file("e.png"), Tensor({2, 4, 5}), {Tensor({3, 4, 5})}); },
                           {"attributions[0]", "3 rows", "(2, 4, 5)"});
  expect_error<ShapeError>(
      [&] { explain::save_heatmap_grid(file("e.png"), Tensor({2, 4, 5}), {Tensor({2, 4, 5}), Tensor({2, 5, 4})}); },
      {"attributions[1]", "(2, 5, 4)", "(2, 4, 5)"});
  expect_error<ShapeError>([&] { explain::save_heatmap_grid(file("e.png"), Tensor({4, 5}), {}); },
                           {"images", "{n, height, width[, channels]}"});
  expect_error<IOError>([&] { explain::save_heatmap(file("no/such/dir/e.png"), image, image); }, {"no/such/dir"});
  EXPECT_FALSE(fs::exists(file("e.png")));
}

TEST(FeatureTable, SortedByMagnitudeLargestFirstTiesInColumnOrder) {
  const Tensor x({2, 5}, {1, 2, 3, 4, 5, 10, 20, 30, 40, 50});
  const Tensor a({2, 5}, {9, 9, 9, 9, 9, 0.5f, -3, 0.5f, 2, -0.5f});
  const auto table = explain::feature_table(x, a, 1, {"a", "b", "c", "d", "e"});
  ASSERT_EQ(table.size(), 5u);
  const std::vector<std::string> order = {"b", "d", "a", "c", "e"};
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(table[i].feature, order[i]) << i;
  EXPECT_EQ(table[0].value, 20);
  EXPECT_EQ(table[0].attribution, -3);
  EXPECT_EQ(table[4].value, 50);
  EXPECT_EQ(table[4].attribution, -0.5);
  // Without names the columns are numbered.
  const auto numbered = explain::feature_table(x, a, 1);
  EXPECT_EQ(numbered[0].feature, "1");
  EXPECT_EQ(numbered[1].feature, "3");
}

TEST(FeatureTable, BadArgumentsAreNamed) {
  const Tensor x({2, 3}), a({2, 3});
  expect_error<ShapeError>([&] { explain::feature_table(x, Tensor({2, 4}), 0); }, {"attributions", "(2, 4)", "(2, 3)"});
  expect_error<ShapeError>([&] { explain::feature_table(x, a, 0, {"a", "b"}); }, {"2 names", "3 features"});
  expect_error<ShapeError>([&] { explain::feature_table(Tensor({2, 3, 1}), Tensor({2, 3, 1}), 0); },
                           {"{rows, features}", "(2, 3, 1)"});
  expect_error<ValueError>([&] { explain::feature_table(x, a, 2); }, {"row 2", "2 rows"});
  expect_error<ValueError>([&] { explain::feature_table(x, a, -1); }, {"row -1"});
}

TEST(FeatureTable, PrintsAHeaderThenOneAlignedLinePerFeature) {
  const std::vector<explain::FeatureAttribution> table = {{"income_total", 52000, -1.25}, {"age", 31.5, 0.0625}};
  std::ostringstream out;
  explain::print_feature_table(out, table);
  EXPECT_EQ(out.str(),
            "feature              value   attribution\n"
            "income_total         52000         -1.25\n"
            "age                   31.5        0.0625\n");
}
