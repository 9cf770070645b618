// Keras's image preprocessing layers, Rescaling, CenterCrop and Resizing: forward values worked out
// by hand, gradients against finite differences, Resizing against PyTorch's interpolate
// (tests/pytorch/resize_reference.py), a save and load round trip, and their argument errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"
#include "position_images.hpp"
#include "reference_file.hpp"
#include "torch_reference.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using namespace myelin::layers;
using myelin::test::expect_error;
using myelin::test::positions;

namespace {

void expect_values(const Tensor& y, const Shape& shape, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(y.shape(), shape);
  ASSERT_EQ(y.size(), int64_t(want.size()));
  for (int64_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[size_t(i)], tol) << "at " << i;
}

// Builds the layer for the per-sample shape of x and checks its input gradient by central differences.
void check_gradient(Layer& layer, Tensor x) {
  Rng rng(3);
  const Shape out = layer.build({x.shape()[1], x.shape()[2], x.shape()[3]}, rng);
  const Tensor w = myelin::test::random_tensor(with_batch(x.rows(), out), rng, -1.f, 1.f);
  auto loss = [&] { return myelin::test::weighted_sum(layer.forward(x, true), w); };
  const Tensor numeric = myelin::test::numerical_gradient(loss, x, 1e-2);
  layer.forward(x, true);
  const Tensor analytic = layer.backward(w).clone();
  EXPECT_TRUE(myelin::test::gradients_close(analytic, numeric, 1e-3, 1e-2)) << layer.class_name();
}

}  // namespace

TEST(Rescaling, ScalesAndShiftsEveryValueAndItsGradient) {
  Rescaling layer(1.f / 255, -0.5f);
  Rng rng(0);
  EXPECT_EQ(layer.build({2, 3}, rng), (Shape{2, 3}));
  const Tensor x({2, 2, 3}, {0, 51, 255, 102, 204, 25.5f, 1, 2, 3, 4, 5, 6});
  const Tensor& y = layer.forward(x, false);
  ASSERT_EQ(y.shape(), x.shape());
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i] / 255 - 0.5f, 1e-6f);
  const Tensor dy({2, 2, 3}, {1, -2, 3, 0.5f, 0, 255, 1, 1, 1, 1, 1, 1});
  const Tensor& dx = layer.backward(dy);
  for (int64_t i = 0; i < dy.size(); ++i) EXPECT_NEAR(dx[i], dy[i] / 255, 1e-7f);
  Rescaling three(3.f, 1.f);
  Rng r(1);
  check_gradient(three, myelin::test::random_tensor({2, 3, 2, 2}, r, -1.f, 1.f));
}

TEST(Resizing, BilinearUpsamplesTwoByTwoToFourByFourWithHalfPixelCentres) {
  Resizing layer(4, 4);
  Rng rng(0);
  EXPECT_EQ(layer.build({2, 2, 1}, rng), (Shape{4, 4, 1}));
  // Output row i samples source row (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
  expect_values(layer.forward(Tensor({1, 2, 2, 1}, {1, 2, 3, 4}), false), {1, 4, 4, 1},
                {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
}

TEST(Resizing, BilinearDownsamplesFourByFourToTheMeansOfEachQuarter) {
  Resizing layer(2, 2);
  Rng rng(0);
  layer.build({4, 4, 2}, rng);
  // Source coordinates 0.5 and 2.5: each output is the mean of a 2 x 2 block.
  const Tensor x = positions(2, 4, 4, 2);
  std::vector<float> want;
  for (float n : {0.f, 100.f})
    for (float r : {5.f, 25.f})
      for (float c : {0.5f, 2.5f})
        for (float k : {0.f, 0.1f}) want.push_back(n + r + c + k);
  expect_values(layer.forward(x, false), {2, 2, 2, 2}, want);
}

TEST(Resizing, NearestTakesThePixelUnderEachHalfPixelCentre) {
  Resizing down(2, 2, "nearest");
  Rng rng(0);
  down.build({4, 4, 1}, rng);
  // floor((i + 0.5) * 2) = rows and columns 1 and 3.
  expect_values(down.forward(positions(1, 4, 4, 1), false), {1, 2, 2, 1}, {11, 13, 31, 33});
  Resizing up(3, 3, "nearest");
  up.build({2, 2, 1}, rng);
  // floor((i + 0.5) * 2 / 3) = 0, 1, 1.
  expect_values(up.forward(positions(1, 2, 2, 1), false), {1, 3, 3, 1}, {0, 1, 1, 10, 11, 11, 10, 11, 11});
}

TEST(Resizing, CropToAspectRatioResizesTheLargestCentredWindow) {
  Resizing layer(2, 2, "bilinear", true);
  Rng rng(0);
  layer.build({4, 6, 1}, rng);
  // A 4 x 6 image to a square: the window is columns 1..4; it is then halved as above.
  expect_values(layer.forward(positions(1, 4, 6, 1), false), {1, 2, 2, 1}, {6.5f, 8.5f, 26.5f, 28.5f});
  // Without the crop, the whole width is squeezed: columns sample at 1 and 4.
  Resizing squeeze(2, 2);
  squeeze.build({4, 6, 1}, rng);
  expect_values(squeeze.forward(positions(1, 4, 6, 1), false), {1, 2, 2, 1}, {6, 9, 26, 29});
}

TEST(CenterCrop, KeepsTheCentralWindowRoundingTheOffsetDown) {
  CenterCrop layer(2, 3);
  Rng rng(0);
  EXPECT_EQ(layer.build({5, 6, 2}, rng), (Shape{2, 3, 2}));
  // Offsets (5 - 2) / 2 = 1 and (6 - 3) / 2 = 1.
  std::vector<float> want;
  for (float r : {10.f, 20.f})
    for (float c : {1.f, 2.f, 3.f})
      for (float k : {0.f, 0.1f}) want.push_back(r + c + k);
  expect_values(layer.forward(positions(1, 5, 6, 2), false), {1, 2, 3, 2}, want);
  // Backward puts dy back where it came from and zeroes the rest.
  Tensor dy({1, 2, 3, 2});
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = float(i + 1);
  const Tensor& dx = layer.backward(dy);
  ASSERT_EQ(dx.shape(), (Shape{1, 5, 6, 2}));
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t c = 0; c < 6; ++c)
      for (int64_t k = 0; k < 2; ++k) {
        const bool inside = r >= 1 && r < 3 && c >= 1 && c < 4;
        const float want_dx = inside ? dy[((r - 1) * 3 + (c - 1)) * 2 + k] : 0.f;
        EXPECT_EQ(dx[(r * 6 + c) * 2 + k], want_dx) << r << "," << c << "," << k;
      }
}

TEST(CenterCrop, ResizesUpAnImageSmallerThanTheTargetAsKerasDoes) {
  CenterCrop square(4, 4);
  Rng rng(0);
  square.build({2, 2, 1}, rng);
  expect_values(square.forward(Tensor({1, 2, 2, 1}, {1, 2, 3, 4}), false), {1, 4, 4, 1},
                {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
  // Taller than the target but narrower: Keras's smart resize, the same as Resizing with the crop.
  CenterCrop crop(5, 5);
  Resizing resize(5, 5, "bilinear", true);
  crop.build({3, 10, 2}, rng);
  resize.build({3, 10, 2}, rng);
  const Tensor x = positions(2, 3, 10, 2);
  EXPECT_EQ(crop.forward(x, false).to_vector(), resize.forward(x, false).to_vector());
}

TEST(PreprocessingLayers, GradientsMatchFiniteDifferences) {
  Rng rng(5);
  auto x = [&](Shape s) { return myelin::test::random_tensor(s, rng, -1.f, 1.f); };
  {
    Resizing l(5, 7);
    check_gradient(l, x({2, 3, 4, 2}));
  }
  {
    Resizing l(3, 2);
    check_gradient(l, x({2, 6, 5, 3}));
  }
  {
    Resizing l(5, 3, "nearest");
    check_gradient(l, x({1, 3, 7, 2}));
  }
  {
    Resizing l(4, 4, "bilinear", true);
    check_gradient(l, x({2, 5, 9, 1}));
  }
  {
    CenterCrop l(3, 2);
    check_gradient(l, x({2, 6, 5, 2}));
  }
  {
    CenterCrop l(6, 4);
    check_gradient(l, x({1, 3, 5, 2}));
  }
}

TEST(PreprocessingLayers, ResizingTrainsInsideAModel) {
  set_random_seed(2);
  Sequential m({Input(Shape{4, 4, 1}), Conv2D(3, 3, "relu", {.padding = "same"}), Resizing(8, 8), Flatten(), Dense(2)});
  m.compile("adam", "mse");
  Tensor x({16, 4, 4, 1}), y({16, 2});
  Rng r(4);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(0.f, 1.f);
  for (int64_t i = 0; i < y.size(); ++i) y[i] = r.uniform(-1.f, 1.f);
  const float before = m.evaluate(x, y)["loss"];
  m.fit(x, y, {.epochs = 20, .batch_size = 8, .verbose = 0, .seed = 1});
  EXPECT_LT(m.evaluate(x, y)["loss"], before);
}

TEST(PreprocessingLayers, ASequentialOfAllThreeSavesAndReloads) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_prep_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  set_random_seed(1);
  Sequential m({Input(Shape{7, 9, 3}), Rescaling(1.f / 255, -0.25f), CenterCrop(6, 8), Resizing(3, 5, "nearest"),
                Resizing(4, 4, "bilinear", true), Flatten(), Dense(2)});
  const std::string file = (dir / "m.safetensors").string();
  m.save(file);
  Sequential loaded = load_model(file);
  fs::remove_all(dir);
  EXPECT_EQ(loaded.to_json(), m.to_json());
  EXPECT_EQ(loaded.summary_string(), m.summary_string());
  std::vector<const Resizing*> resizes;
  for (const auto& l : loaded.layers())
    if (const auto* r = dynamic_cast<const Resizing*>(l.get())) resizes.push_back(r);
  ASSERT_EQ(resizes.size(), 2u);
  EXPECT_EQ(resizes[0]->interpolation(), "nearest");
  EXPECT_FALSE(resizes[0]->crop_to_aspect_ratio());
  EXPECT_TRUE(resizes[1]->crop_to_aspect_ratio());
  Tensor x({2, 7, 9, 3});
  Rng r(2);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(0.f, 255.f);
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());
}

TEST(PreprocessingLayers, BadArgumentsAreValueErrorsNamingTheLayer) {
  expect_error<ValueError>([] { Resizing(0, 4); }, {"Resizing", "0 x 4"});
  expect_error<ValueError>([] { Resizing(4, -2); }, {"Resizing", "4 x -2"});
  expect_error<ValueError>([] { Resizing(4, 4, "bicubic"); }, {"Resizing", "bicubic"});
  expect_error<ValueError>([] { CenterCrop(3, 0); }, {"CenterCrop", "3 x 0"});
  expect_error<ValueError>([] { CenterCrop(-1, 3); }, {"CenterCrop", "-1 x 3"});
  expect_error<ValueError>([] { Rescaling(std::numeric_limits<float>::infinity()); }, {"Rescaling", "finite"});
  // From a saved config too.
  expect_error<ValueError>([] { from_config("Resizing", {{"name", "rs"}, {"height", 2}, {"width", 2}, {"interpolation", "area"}}); },
                           {"Resizing", "area"});
  expect_error<ValueError>([] { from_config("Resizing", {{"name", "rs"}, {"height", 2}, {"width", 2}, {"antialias", true}}); },
                           {"Resizing 'rs'", "antialias"});
  expect_error<ValueError>([] { from_config("CenterCrop", {{"name", "cc"}, {"height", 2}, {"width", 2}, {"data_format", "channels_first"}}); },
                           {"CenterCrop 'cc'", "channels_first"});
  expect_error<ValueError>([] { from_config("CenterCrop", {{"name", "cc"}, {"height", 2}}); }, {"CenterCrop 'cc'", "width"});
  expect_error<ValueError>([] { from_config("Rescaling", {{"name", "r"}, {"scale", {1, 2}}}); }, {"Rescaling 'r'", "per-channel"});
  // An input that is not an image is a ShapeError naming the layer and the shape.
  Resizing flat(2, 2);
  flat.set_name("resize_me");
  expect_error<ShapeError>([&] { flat.plan({4, 4}); }, {"Resizing 'resize_me'", "(4, 4)"});
  CenterCrop crop(2, 2);
  crop.set_name("crop_me");
  Rng rng(0);
  expect_error<ShapeError>([&] { crop.build({4}, rng); }, {"CenterCrop 'crop_me'", "(4,)"});
}

// Resizing against torch.nn.functional.interpolate (up and down, bilinear and nearest), forward
// and input gradient, each within 1e-5.
TEST(PreprocessingLayers, ResizingMatchesPyTorchInterpolate) {
  const myelin::test::TorchReference torch("resize_reference.py");
  if (!torch.skip_reason().empty()) GTEST_SKIP() << torch.skip_reason();
  ASSERT_EQ(torch.error(), "");
  for (const char* name : {"bilinear_up", "bilinear_down", "nearest_up", "nearest_down"}) {
    SCOPED_TRACE(name);
    const auto file = torch.load(name);
    ASSERT_EQ(file.size(), 4u);
    std::map<std::string, Tensor> ref;
    for (const auto& [key, t] : file) ref.emplace(key, t.to_tensor());
    const Shape xs = ref.at("x").shape(), ys = ref.at("y").shape();
    Resizing layer(ys[1], ys[2], std::string(name).rfind("bilinear", 0) == 0 ? "bilinear" : "nearest");
    Rng rng(0);
    layer.build({xs[1], xs[2], xs[3]}, rng);
    const Tensor& y = layer.forward(ref.at("x"), true);
    ASSERT_EQ(y.shape(), ys);
    for (int64_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref.at("y")[i], 1e-5) << "y[" << i << "]";
    const Tensor& dx = layer.backward(ref.at("w"));
    ASSERT_EQ(dx.shape(), xs);
    for (int64_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx[i], ref.at("dx")[i], 1e-5) << "dx[" << i << "]";
  }
}
