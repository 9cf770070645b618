// Keras's random image augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
// RandomCrop, RandomContrast, RandomBrightness): the identity at inference, forward values worked out
// by hand for draws made certain by a one-point factor range, seeds, gradients against finite
// differences, a save and load round trip, and their argument errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <set>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"
#include "position_images.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using namespace myelin::layers;
using myelin::test::expect_error;
using myelin::test::positions;

namespace {

// One-channel h x w image from a function of (row, column).
Tensor image(int64_t h, int64_t w, const std::function<float(int64_t, int64_t)>& f) {
  Tensor x({1, h, w, 1});
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) x[r * w + c] = f(r, c);
  return x;
}

void expect_values(const Tensor& y, const Tensor& want, float tol = 1e-4f) {
  ASSERT_EQ(y.shape(), want.shape());
  for (int64_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[i], tol) << "at " << i;
}

Shape per_sample(const Tensor& x) { return Shape(x.shape().begin() + 1, x.shape().end()); }

// Builds `layer` for x and returns its training output.
Tensor train(Layer& layer, const Tensor& x) {
  Rng rng(0);
  layer.build(per_sample(x), rng);
  return layer.forward(x, true).clone();
}

// The input gradient against central differences, the layer reseeded with the same generator
// before every forward so that each call makes the same draws (the layers here have no seed of
// their own, which would run on from call to call).
void check_gradient(Layer& layer, Tensor x, double h = 1e-2) {
  Rng rng(3);
  const Shape out = layer.build(per_sample(x), rng);
  const Tensor w = myelin::test::random_tensor(with_batch(x.rows(), out), rng, -1.f, 1.f);
  auto run = [&]() -> const Tensor& {
    Rng r(9);
    layer.reseed(r);
    return layer.forward(x, true);
  };
  auto loss = [&] { return myelin::test::weighted_sum(run(), w); };
  const Tensor numeric = myelin::test::numerical_gradient(loss, x, h);
  run();
  const Tensor analytic = layer.backward(w).clone();
  EXPECT_TRUE(myelin::test::gradients_close(analytic, numeric, 1e-3, 1e-2)) << layer.class_name();
}

std::vector<std::shared_ptr<Layer>> every_layer() {
  return {std::make_shared<RandomFlip>(),
          std::make_shared<RandomRotation>(0.3),
          std::make_shared<RandomZoom>(0.4, 0.2, "constant"),
          std::make_shared<RandomTranslation>(0.3, 0.3, "wrap"),
          std::make_shared<RandomContrast>(0.5),
          std::make_shared<RandomBrightness>(0.4)};
}

}  // namespace

TEST(AugmentationLayers, InferenceIsTheIdentity) {
  Rng r(1);
  const Tensor x = myelin::test::random_tensor({3, 5, 6, 2}, r, 0.f, 255.f);
  for (const auto& layer : every_layer()) {
    Rng rng(0);
    EXPECT_EQ(layer->build({5, 6, 2}, rng), (Shape{5, 6, 2})) << layer->class_name();
    EXPECT_EQ(layer->forward(x, false).to_vector(), x.to_vector()) << layer->class_name();
    // ... and its backward passes dy through.
    EXPECT_EQ(layer->backward(x).to_vector(), x.to_vector()) << layer->class_name();
    // Training changes the images.
    EXPECT_NE(layer->forward(x, true).to_vector(), x.to_vector()) << layer->class_name();
  }
}

TEST(RandomFlip, FlipsEachImageOrLeavesItWithOneDrawPerImage) {
  const Tensor one = positions(1, 2, 3, 2);
  Tensor x({32, 2, 3, 2});
  for (int64_t n = 0; n < 32; ++n)
    for (int64_t i = 0; i < one.size(); ++i) x[n * one.size() + i] = one[i];
  auto mirrored = [&](bool h, bool v) {
    Tensor m(one.shape());
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t k = 0; k < 2; ++k) m[(r * 3 + c) * 2 + k] = one[((v ? 1 - r : r) * 3 + (h ? 2 - c : c)) * 2 + k];
    return m.to_vector();
  };
  for (const auto& [mode, h, v] : std::vector<std::tuple<std::string, bool, bool>>{
           {"horizontal", true, false}, {"vertical", false, true}, {"horizontal_and_vertical", true, true}}) {
    SCOPED_TRACE(mode);
    RandomFlip layer(mode, 5);
    const Tensor y = train(layer, x);
    int flipped = 0;
    for (int64_t n = 0; n < 32; ++n) {
      const std::vector<float> img(y.data() + n * one.size(), y.data() + (n + 1) * one.size());
      if (img == mirrored(h, v))
        ++flipped;
      else
        EXPECT_EQ(img, one.to_vector()) << "image " << n << " is neither itself nor its mirror image";
    }
    EXPECT_GT(flipped, 4);
    EXPECT_LT(flipped, 28);
    // Backward applies the same flips: dx of y is x.
    EXPECT_EQ(layer.backward(y).to_vector(), x.to_vector());
  }
}

TEST(RandomRotation, AQuarterTurnOfAFourByFourImageIsNumpysRot90) {
  const Tensor x = positions(1, 4, 4, 1);
  for (const char* interpolation : {"bilinear", "nearest"}) {
    SCOPED_TRACE(interpolation);
    RandomRotation quarter({0.25, 0.25}, "constant", interpolation, std::nullopt, -1.f);
    // Counter-clockwise: out[i][j] = in[j][3 - i] (np.rot90), nothing read from outside.
    expect_values(train(quarter, x), image(4, 4, [](int64_t i, int64_t j) { return float(10 * j + 3 - i); }));
    RandomRotation half({0.5, 0.5}, "constant", interpolation);
    expect_values(train(half, x), image(4, 4, [](int64_t i, int64_t j) { return float(10 * (3 - i) + 3 - j); }));
    RandomRotation back({-0.25, -0.25}, "constant", interpolation);
    expect_values(train(back, x), image(4, 4, [](int64_t i, int64_t j) { return float(10 * (3 - j) + i); }));
  }
}

TEST(RandomTranslation, AWholePixelShiftReadsTheBorderAsEachFillModeSays) {
  const Tensor x = positions(1, 4, 4, 1);
  // Down by 0.25 * 4 = 1 row: out row i is input row i - 1; row 0 reads row -1 of the extended image.
  const std::map<std::string, float> row_minus_1 = {{"reflect", 0}, {"nearest", 0}, {"wrap", 30}, {"constant", -7}};
  // Down by 2 rows: rows -2 and -1.
  const std::map<std::string, std::pair<float, float>> rows_minus_2_1 = {
      {"reflect", {10, 0}}, {"nearest", {0, 0}}, {"wrap", {20, 30}}, {"constant", {-7, -7}}};
  for (const auto& [mode, first] : row_minus_1) {
    SCOPED_TRACE(mode);
    RandomTranslation down({0.25, 0.25}, 0.0, mode, "bilinear", std::nullopt, -7.f);
    expect_values(train(down, x), image(4, 4, [&, f = first](int64_t i, int64_t j) {
                    return i == 0 ? f + j * (mode != "constant") : float(10 * (i - 1) + j);
                  }));
    RandomTranslation down2({0.5, 0.5}, {0.0, 0.0}, mode, "nearest", std::nullopt, -7.f);
    const auto [a, b] = rows_minus_2_1.at(mode);
    expect_values(train(down2, x), image(4, 4, [&, a = a, b = b](int64_t i, int64_t j) {
                    const float add = mode == "constant" ? 0.f : float(j);
                    return i == 0 ? a + add : i == 1 ? b + add : float(10 * (i - 2) + j);
                  }));
    // Left by one column: out column j is input column j + 1; column 4 lies outside.
    const std::map<std::string, float> col_4 = {{"reflect", 3}, {"nearest", 3}, {"wrap", 0}, {"constant", -7}};
    RandomTranslation left(0.0, {-0.25, -0.25}, mode, "bilinear", std::nullopt, -7.f);
    expect_values(train(left, x), image(4, 4, [&](int64_t i, int64_t j) {
                    if (j < 3) return float(10 * i + j + 1);
                    return mode == "constant" ? -7.f : float(10 * i) + col_4.at(mode);
                  }));
  }
}

TEST(RandomTranslation, AHalfPixelShiftBlendsNeighboursAndTheConstantFill) {
  RandomTranslation layer({0.125, 0.125}, 0.0, "constant", "bilinear", std::nullopt, 100.f);
  // Down by half a row: out row i reads row i - 0.5; row 0 blends the fill with row 0.
  expect_values(train(layer, positions(1, 4, 4, 1)), image(4, 4, [](int64_t i, int64_t j) {
                  return i == 0 ? (100.f + float(j)) / 2 : float(10 * i - 5 + j);
                }));
}

TEST(RandomZoom, ZoomsAboutTheCentreByOnePlusTheFactor) {
  // x = 10 r + c is linear, so bilinear sampling at (r', c') gives 10 r' + c' exactly.
  const Tensor x = positions(1, 5, 5, 1);
  RandomZoom in(Factor(-0.5, -0.5));  // zoom 0.5: reads (2 + 0.5 (r - 2), 2 + 0.5 (c - 2))
  expect_values(train(in, x), image(5, 5, [](int64_t r, int64_t c) { return 10 * (1 + 0.5f * r) + 1 + 0.5f * c; }));
  // Only the height: width_factor (0, 0) keeps the columns.
  RandomZoom tall({-0.5, -0.5}, Factor(0.0, 0.0));
  expect_values(train(tall, x), image(5, 5, [](int64_t r, int64_t c) { return 10 * (1 + 0.5f * r) + float(c); }));
  // Zoom out by 2: reads (2 r - 2, 2 c - 2); outside, reflect mirrors (-2 -> 1, 6 -> 3), constant fills.
  auto reflect = [](int64_t i) { return i < 0 ? -i - 1 : i > 4 ? 9 - i : i; };
  RandomZoom out({1.0, 1.0}, std::nullopt, "reflect", "nearest");
  expect_values(train(out, x),
                image(5, 5, [&](int64_t r, int64_t c) { return float(10 * reflect(2 * r - 2) + reflect(2 * c - 2)); }));
  RandomZoom out_constant({1.0, 1.0}, std::nullopt, "constant", "nearest", std::nullopt, -1.f);
  expect_values(train(out_constant, x), image(5, 5, [&](int64_t r, int64_t c) {
                  const int64_t rr = 2 * r - 2, cc = 2 * c - 2;
                  return rr < 0 || rr > 4 || cc < 0 || cc > 4 ? -1.f : float(10 * rr + cc);
                }));
}

TEST(RandomContrast, ScalesEachChannelAboutItsMeanAndClips) {
  // {-0.5, 0.5}: the factor is drawn from [1 - (-0.5), 1 + 0.5], i.e. always 1.5.
  const Tensor x({1, 2, 2, 2}, {10, 1, 20, 2, 30, 3, 40, 6});  // means 25 and 3
  RandomContrast layer({-0.5, 0.5}, {0.5f, 45.f});
  expect_values(train(layer, x), Tensor({1, 2, 2, 2}, {2.5f, 0.5f, 17.5f, 1.5f, 32.5f, 3, 45, 7.5f}));
  // The clipped values (47.5 -> 45 on channel 0, 0 -> 0.5 on channel 1) get no gradient.
  const Tensor dy({1, 2, 2, 2}, {1, 1, 1, 1, 1, 1, 1, 1});
  // Channel 0: dx_j = 1.5 pass_j + (1 - 1.5) / 4 * 3 passes; channel 1 likewise.
  expect_values(layer.backward(dy),
                Tensor({1, 2, 2, 2}, {1.125f, -0.375f, 1.125f, 1.125f, 1.125f, 1.125f, -0.375f, 1.125f}));
  // Keras's single number f is the range (0, f): the contrast is only raised.
  RandomContrast one(0.5);
  EXPECT_EQ(one.factor(), (std::pair<double, double>(0.0, 0.5)));
}

TEST(RandomBrightness, AddsTheScaledDeltaAndClipsToTheValueRange) {
  const Tensor x({1, 1, 4, 1}, {0, 100, 240, 255});
  RandomBrightness up({0.1, 0.1});  // + 0.1 * 255
  expect_values(train(up, x), Tensor({1, 1, 4, 1}, {25.5f, 125.5f, 255, 255}));
  expect_values(up.backward(Tensor({1, 1, 4, 1}, {1, 2, 3, 4})), Tensor({1, 1, 4, 1}, {1, 2, 0, 0}));
  RandomBrightness down({-0.5, -0.5}, {1.f, -1.f});  // the range is sorted: -1 to 1, delta -1
  expect_values(train(down, Tensor({1, 1, 3, 1}, {-0.5f, 0.25f, 1})), Tensor({1, 1, 3, 1}, {-1, -0.75f, 0}));
  EXPECT_EQ(RandomBrightness(0.2).factor(), (std::pair<double, double>(-0.2, 0.2)));
}

TEST(RandomCrop, TrainingCropsTheWholeBatchAtOneRandomPlace) {
  const Tensor x = positions(2, 5, 6, 1);
  RandomCrop layer(2, 3, 7);
  Rng rng(0);
  EXPECT_EQ(layer.build({5, 6, 1}, rng), (Shape{2, 3, 1}));
  std::set<std::pair<int, int>> seen;
  for (int call = 0; call < 200; ++call) {
    const Tensor& y = layer.forward(x, true);
    ASSERT_EQ(y.shape(), (Shape{2, 2, 3, 1}));
    const int top = int(y[0]) / 10, left = int(y[0]) % 10;
    ASSERT_LE(top, 3);
    ASSERT_LE(left, 3);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t c = 0; c < 3; ++c) ASSERT_EQ(y[(n * 2 + r) * 3 + c], float(100 * n + 10 * (top + r) + left + c));
    seen.insert({top, left});
  }
  EXPECT_EQ(seen.size(), 16u);  // every one of the 4 x 4 places
  // Backward puts dy back at the last place.
  Tensor dy({2, 2, 3, 1});
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = 1;
  const Tensor& y = layer.forward(x, true);
  const int top = int(y[0]) / 10, left = int(y[0]) % 10;
  const Tensor& dx = layer.backward(dy);
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t c = 0; c < 6; ++c)
      EXPECT_EQ(dx[r * 6 + c], r >= top && r < top + 2 && c >= left && c < left + 3 ? 1.f : 0.f);
}

TEST(RandomCrop, InferenceAndSmallImagesResizeTheLargestCentredWindow) {
  // As Resizing(height, width, "bilinear", crop_to_aspect_ratio=true), at inference and, in training,
  // whenever the image is not larger than the target in both directions.
  for (const auto& [in, target] : std::vector<std::pair<Shape, std::pair<int64_t, int64_t>>>{
           {{5, 6, 2}, {2, 3}}, {{3, 3, 1}, {6, 6}}, {{4, 9, 1}, {4, 3}}, {{10, 4, 1}, {4, 4}}}) {
    SCOPED_TRACE(shape_to_string(in));
    RandomCrop crop(target.first, target.second, 1);
    Resizing resize(target.first, target.second, "bilinear", true);
    Rng rng(0);
    crop.build(in, rng);
    resize.build(in, rng);
    const Tensor x = positions(2, in[0], in[1], in[2]);
    const auto want = resize.forward(x, false).to_vector();
    EXPECT_EQ(crop.forward(x, false).to_vector(), want);
    if (!(in[0] > target.first && in[1] > target.second)) {
      EXPECT_EQ(crop.forward(x, true).to_vector(), want);
    }
  }
}

TEST(AugmentationLayers, DrawsDifferPerImageAndRepeatForASeed) {
  Rng r(2);
  const Tensor one = myelin::test::random_tensor({1, 6, 6, 1}, r, 0.f, 255.f);
  Tensor x({4, 6, 6, 1});
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t i = 0; i < 36; ++i) x[n * 36 + i] = one[i];
  auto seeded = [](std::optional<int64_t> seed) -> std::vector<std::shared_ptr<Layer>> {
    return {std::make_shared<RandomRotation>(0.3, "reflect", "bilinear", seed),
            std::make_shared<RandomZoom>(0.4, std::nullopt, "reflect", "bilinear", seed),
            std::make_shared<RandomTranslation>(0.3, 0.3, "reflect", "bilinear", seed),
            std::make_shared<RandomContrast>(0.5, std::pair<float, float>{0.f, 255.f}, seed),
            std::make_shared<RandomBrightness>(0.4, std::pair<float, float>{0.f, 255.f}, seed)};
  };
  auto run = [&](Layer& layer, uint64_t model_seed) {
    Rng rng(model_seed);
    layer.build({6, 6, 1}, rng);
    return layer.forward(x, true).to_vector();
  };
  const auto a = seeded(11), b = seeded(11), c = seeded(12), d = seeded(std::nullopt), e = seeded(std::nullopt);
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i]->class_name());
    const auto ya = run(*a[i], 1);
    // Before fit reseeds it, the layer's seed wins over the model's generator, and its stream runs
    // on (a second batch draws anew).
    EXPECT_EQ(ya, run(*b[i], 2));
    EXPECT_NE(ya, run(*c[i], 1));
    EXPECT_NE(ya, a[i]->forward(x, true).to_vector());
    // fit's reseed at each epoch: the seed mixed with the epoch's generator, so that an epoch
    // replayed from the same generator (a resumed run) draws the same, and another epoch anew.
    Rng again(1), again_too(1), same_state(5), same_state_too(5);
    a[i]->reseed(again);
    const auto epoch = a[i]->forward(x, true).to_vector();
    EXPECT_NE(ya, epoch);
    a[i]->reseed(again_too);
    EXPECT_EQ(epoch, a[i]->forward(x, true).to_vector());
    // The seed still matters: two seeds reseeded from one generator state draw differently.
    c[i]->reseed(same_state);
    const auto seed_12 = c[i]->forward(x, true).to_vector();
    b[i]->reseed(same_state_too);
    EXPECT_NE(seed_12, b[i]->forward(x, true).to_vector());
    // Without a seed the model's generator decides.
    EXPECT_EQ(run(*d[i], 3), run(*e[i], 3));
    EXPECT_NE(run(*d[i], 3), run(*e[i], 4));
    // Each image its own draw.
    EXPECT_NE(std::vector<float>(ya.begin(), ya.begin() + 36), std::vector<float>(ya.begin() + 36, ya.begin() + 72));
  }
}

TEST(AugmentationLayers, GradientsMatchFiniteDifferences) {
  Rng rng(5);
  auto x = [&](Shape s) { return myelin::test::random_tensor(s, rng, 0.f, 1.f); };
  {
    RandomFlip l("horizontal_and_vertical");
    check_gradient(l, x({4, 3, 4, 2}));
  }
  for (const char* fill : {"reflect", "wrap", "constant", "nearest"}) {
    SCOPED_TRACE(fill);
    RandomRotation rot(0.4, fill, "bilinear", std::nullopt, 0.5f);
    check_gradient(rot, x({2, 5, 4, 2}));
    RandomZoom zoom(0.5, 0.3, fill, "bilinear");
    check_gradient(zoom, x({2, 4, 5, 1}));
    RandomTranslation shift(0.4, 0.4, fill, "nearest");
    check_gradient(shift, x({2, 4, 4, 2}));
  }
  {
    RandomCrop l(2, 3);
    check_gradient(l, x({2, 5, 6, 2}));
    RandomCrop up(5, 5);
    check_gradient(up, x({1, 3, 4, 1}));
  }
  {
    // Values in [0, 1] against a range that clips some of them.
    RandomContrast l(0.8, {0.1f, 0.9f});
    check_gradient(l, x({3, 3, 4, 2}), 1e-3);
    RandomBrightness b(0.3, {0.f, 1.f});
    check_gradient(b, x({3, 3, 4, 2}), 1e-3);
  }
}

TEST(AugmentationLayers, TrainInsideAModelAndRepeatForAFitSeed) {
  auto model = [](uint64_t seed) {
    set_random_seed(seed);
    Sequential m({Input(Shape{6, 6, 1}), RandomFlip(), RandomRotation(0.1), RandomZoom(0.2),
                  RandomTranslation(0.1, 0.1), RandomCrop(4, 4), RandomContrast(0.3, {0.f, 1.f}),
                  RandomBrightness(0.1, {0.f, 1.f}), Flatten(), Dense(2)});
    m.compile("adam", "mse");
    return m;
  };
  Tensor x({16, 6, 6, 1}), y({16, 2});
  Rng r(4);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(0.f, 1.f);
  for (int64_t i = 0; i < y.size(); ++i) y[i] = r.uniform(-1.f, 1.f);
  auto m1 = model(1), m2 = model(1), m3 = model(1);
  const float before = m1.evaluate(x, y)["loss"];
  m1.fit(x, y, {.epochs = 20, .batch_size = 8, .verbose = 0, .seed = 1});
  m2.fit(x, y, {.epochs = 20, .batch_size = 8, .verbose = 0, .seed = 1});
  m3.fit(x, y, {.epochs = 20, .batch_size = 8, .verbose = 0, .seed = 2});
  EXPECT_LT(m1.evaluate(x, y)["loss"], before);
  EXPECT_EQ(m1.predict(x).to_vector(), m2.predict(x).to_vector());
  EXPECT_NE(m1.predict(x).to_vector(), m3.predict(x).to_vector());
}

TEST(AugmentationLayers, ASequentialOfAllSevenSavesAndReloads) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_aug_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  set_random_seed(1);
  Sequential m({Input(Shape{8, 9, 3}), RandomFlip("horizontal", 4),
                RandomRotation({-0.1, 0.2}, "wrap", "nearest", 5, 1.5f),
                RandomZoom(0.3, Factor(-0.2, 0.1), "constant", "bilinear", std::nullopt, 2.f),
                RandomTranslation(0.1, {0.0, 0.2}, "nearest"), RandomCrop(6, 7, 9), RandomContrast(0.4, {0.f, 1.f}),
                RandomBrightness({-0.3, 0.1}, {0.f, 1.f}, 3), Flatten(), Dense(2)});
  const std::string file = (dir / "m.safetensors").string();
  m.save(file);
  Sequential loaded = load_model(file);
  fs::remove_all(dir);
  EXPECT_EQ(loaded.to_json(), m.to_json());
  EXPECT_EQ(loaded.summary_string(), m.summary_string());
  // Keras's config names and values.
  const auto config = [&](const char* cls) {
    for (const auto& l : loaded.layers())
      if (l->class_name() == cls) return l->get_config();
    ADD_FAILURE() << cls << " missing";
    return nlohmann::json();
  };
  EXPECT_EQ(config("RandomFlip")["mode"], "horizontal");
  EXPECT_EQ(config("RandomFlip")["seed"], 4);
  EXPECT_EQ(config("RandomRotation")["factor"], nlohmann::json({-0.1, 0.2}));
  EXPECT_EQ(config("RandomRotation")["fill_mode"], "wrap");
  EXPECT_EQ(config("RandomRotation")["interpolation"], "nearest");
  EXPECT_EQ(config("RandomRotation")["fill_value"], 1.5);
  EXPECT_EQ(config("RandomZoom")["height_factor"], 0.3);
  EXPECT_EQ(config("RandomZoom")["width_factor"], nlohmann::json({-0.2, 0.1}));
  EXPECT_TRUE(config("RandomZoom")["seed"].is_null());
  EXPECT_EQ(config("RandomTranslation")["width_factor"], nlohmann::json({0.0, 0.2}));
  EXPECT_EQ(config("RandomCrop")["height"], 6);
  EXPECT_EQ(config("RandomCrop")["seed"], 9);
  EXPECT_EQ(config("RandomContrast")["factor"], nlohmann::json({0.0, 0.4}));
  EXPECT_EQ(config("RandomBrightness")["value_range"], nlohmann::json({0.0, 1.0}));
  Tensor x({2, 8, 9, 3});
  Rng r(2);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(0.f, 1.f);
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());
  // A config as Keras writes it (RandomZoom's width_factor null, Keras's extra keys) loads too.
  auto zoom = from_config("RandomZoom", {{"name", "z"},
                                         {"height_factor", {-0.2, 0.3}},
                                         {"width_factor", nullptr},
                                         {"fill_mode", "reflect"},
                                         {"interpolation", "bilinear"},
                                         {"seed", nullptr},
                                         {"fill_value", 0.0},
                                         {"data_format", "channels_last"},
                                         {"trainable", true}});
  EXPECT_EQ(zoom->get_config()["height_factor"], nlohmann::json({-0.2, 0.3}));
}

TEST(AugmentationLayers, BadArgumentsAreValueErrorsNamingTheLayer) {
  expect_error<ValueError>([] { RandomFlip("diagonal"); }, {"RandomFlip", "diagonal"});
  expect_error<ValueError>([] { RandomRotation(1.5); }, {"RandomRotation", "factor", "1.5"});
  expect_error<ValueError>([] { RandomRotation({1.2, 1.5}); }, {"RandomRotation", "(1.2, 1.5)"});
  expect_error<ValueError>([] { RandomRotation(0.1, "mirror"); }, {"RandomRotation", "fill_mode", "mirror"});
  expect_error<ValueError>([] { RandomRotation(0.1, "reflect", "bicubic"); }, {"RandomRotation", "bicubic"});
  expect_error<ValueError>([] { RandomZoom(-1.0); }, {"RandomZoom", "height_factor", "(-1, 1]"});
  expect_error<ValueError>([] { RandomZoom(0.2, Factor(0.1, 1.5)); }, {"RandomZoom", "width_factor"});
  expect_error<ValueError>([] { RandomTranslation(0.1, 1.2); }, {"RandomTranslation", "width_factor", "1.2"});
  expect_error<ValueError>([] { RandomTranslation(0.1, 0.1, "reflect", "bilinear", std::nullopt, std::nanf("")); },
                           {"RandomTranslation", "fill_value"});
  expect_error<ValueError>([] { RandomCrop(0, 3); }, {"RandomCrop", "0 x 3"});
  expect_error<ValueError>([] { RandomContrast(-0.2); }, {"RandomContrast", "[0, 1]", "-0.2"});
  expect_error<ValueError>([] { RandomContrast(1.2); }, {"RandomContrast", "1.2"});
  expect_error<ValueError>([] { RandomBrightness(0.1, {2.f, 2.f}); }, {"RandomBrightness", "value_range"});
  expect_error<ValueError>([] { RandomBrightness(-2.0); }, {"RandomBrightness", "-2"});
  // From a saved config too.
  expect_error<ValueError>(
      [] {
        from_config("RandomRotation", {{"name", "rot"}});
      },
      {"RandomRotation 'rot'", "factor"});
  expect_error<ValueError>(
      [] {
        from_config("RandomRotation", {{"name", "rot"}, {"factor", "big"}});
      },
      {"RandomRotation 'rot'", "factor", "big"});
  expect_error<ValueError>(
      [] {
        from_config("RandomFlip", {{"name", "f"}, {"data_format", "channels_first"}});
      },
      {"RandomFlip 'f'", "channels_first"});
  expect_error<ValueError>(
      [] {
        from_config("RandomBrightness", {{"name", "b"}, {"factor", 0.1}, {"value_range", {1}}});
      },
      {"RandomBrightness 'b'", "value_range"});
  expect_error<ValueError>(
      [] {
        from_config("RandomCrop", {{"name", "c"}, {"height", 2}});
      },
      {"RandomCrop 'c'", "width"});
  // An input that is not an image is a ShapeError naming the layer and the shape.
  Rng rng(0);
  for (const auto& layer : every_layer()) {
    layer->set_name("aug");
    expect_error<ShapeError>([&] { layer->build({4, 4}, rng); }, {layer->class_name() + " 'aug'", "(4, 4)"});
  }
  RandomCrop crop(2, 2);
  crop.set_name("crop_me");
  expect_error<ShapeError>([&] { crop.build({4}, rng); }, {"RandomCrop 'crop_me'", "(4,)"});
}
