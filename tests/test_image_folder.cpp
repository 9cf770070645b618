// Tests of image_dataset_from_directory: which files and labels, Keras's class order and split,
// decoding and resizing into rows, bad files skipped or strict, and training from a folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "data/image_folder_index.hpp"
#include "expect_error.hpp"
#include "myelin/data/image.hpp"
#include "myelin/data/image_folder.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/rescaling.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"

namespace fs = std::filesystem;
using myelin::IOError;
using myelin::Tensor;
using myelin::ValueError;
using myelin::data::Image;
using myelin::data::image_dataset_from_directory;
using myelin::data::ImageFolderDataset;
using myelin::data::ImageFolderOptions;
using myelin::test::expect_error;

namespace {

// The element of t at a full index (one entry per axis).
float at(const Tensor& t, std::initializer_list<int64_t> index) {
  int64_t flat = 0;
  size_t axis = 0;
  for (int64_t i : index) flat = flat * t.shape()[axis++] + i;
  return t.data()[flat];
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("myelin_test_image_folder_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A solid h x w RGB image of colour (r, g, b), saved as PNG at dir_/rel.
  std::string solid(const std::string& rel, uint8_t r, uint8_t g, uint8_t b, int64_t h = 4, int64_t w = 4) {
    Image im{h, w, 3, {}};
    for (int64_t i = 0; i < h * w; ++i) im.pixels.insert(im.pixels.end(), {r, g, b});
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    myelin::data::save_png(p.string(), im);
    return p.string();
  }
  void text(const std::string& rel, const std::string& content) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  // Every row of the epoch, read in batches of `batch`.
  static std::pair<Tensor, Tensor> read_all(ImageFolderDataset& d, int64_t batch = 3, uint64_t seed = 0,
                                            bool shuffle = false) {
    d.start_epoch(seed, shuffle);
    std::vector<float> xs, ys;
    Tensor x, y;
    int64_t rows = 0;
    while (int64_t n = d.read(batch, x, y)) {
      xs.insert(xs.end(), x.data(), x.data() + x.size());
      ys.insert(ys.end(), y.data(), y.data() + y.size());
      rows += n;
    }
    myelin::Shape xs_shape{rows}, ys_shape{rows};
    for (int64_t s : d.x_shape()) xs_shape.push_back(s);
    for (int64_t s : d.y_shape()) ys_shape.push_back(s);
    return {Tensor(xs_shape, xs), Tensor(ys_shape, ys)};
  }
  std::string dir() const { return dir_.string(); }
  fs::path dir_;
};

TEST_F(ImageFolderTest, ClassesAreSortedSubfoldersAndFilesAreSortedWithinEach) {
  solid("b/2.png", 20, 0, 0);
  solid("b/1.png", 10, 0, 0);
  solid("a/x.PNG", 30, 0, 0);          // the extension's case does not matter
  solid("a/sub/y.png", 40, 0, 0);      // files in nested folders belong to the class
  solid("c/z.png", 50, 0, 0);
  text("c/readme.txt", "not an image");  // other types are ignored
  text("a/notes.md", "# nor this");
  fs::create_directories(dir_ / ".hidden");  // hidden folders are not classes
  solid(".hidden/h.png", 60, 0, 0);
  ImageFolderDataset d = image_dataset_from_directory(dir(), {.image_size = {4, 4}, .shuffle = false});
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"a", "b", "c"}));
  const std::vector<std::string> expected = {(dir_ / "a/x.PNG").string(), (dir_ / "a/sub/y.png").string(),
                                             (dir_ / "b/1.png").string(), (dir_ / "b/2.png").string(),
                                             (dir_ / "c/z.png").string()};
  EXPECT_EQ(d.file_paths(), expected);
  EXPECT_EQ(d.file_labels(), (std::vector<int>{0, 0, 1, 1, 2}));
  EXPECT_EQ(d.size(), 5);
  auto [x, y] = read_all(d);
  ASSERT_EQ(x.shape(), (myelin::Shape{5, 4, 4, 3}));
  const float red[] = {30, 40, 10, 20, 50};
  for (int64_t r = 0; r < 5; ++r) {
    EXPECT_EQ(at(x, {r, 3, 2, 0}), red[r]) << "row " << r;  // raw 0..255 values, as Keras gives
    EXPECT_EQ(at(x, {r, 1, 1, 1}), 0.0f);
    EXPECT_EQ(at(y, {r, 0}), float(d.file_labels()[size_t(r)]));
  }
}

TEST_F(ImageFolderTest, ClassNamesChooseAndOrderTheClasses) {
  solid("cat/1.png", 1, 1, 1);
  solid("dog/1.png", 2, 2, 2);
  solid("owl/1.png", 3, 3, 3);
  ImageFolderDataset d =
      image_dataset_from_directory(dir(), {.class_names = {"owl", "cat"}, .image_size = {4, 4}, .shuffle = false});
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"owl", "cat"}));
  EXPECT_EQ(d.file_labels(), (std::vector<int>{0, 1}));
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.class_names = {"cat", "emu"}}); },
                           {"class_names", "emu", "dog"});
}

TEST_F(ImageFolderTest, LabelModesShapeTheTargets) {
  solid("a/1.png", 1, 1, 1);
  solid("b/1.png", 2, 2, 2);
  solid("c/1.png", 3, 3, 3);
  ImageFolderDataset cat = image_dataset_from_directory(
      dir(), {.label_mode = "categorical", .image_size = {4, 4}, .shuffle = false});
  auto [x, y] = read_all(cat, 2);
  ASSERT_EQ(y.shape(), (myelin::Shape{3, 3}));
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(at(y, {r, c}), r == c ? 1.0f : 0.0f);
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.label_mode = "binary"}); },
                           {"binary", "2 classes", "3"});
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.label_mode = "sparse"}); },
                           {"label_mode", "sparse"});
  fs::remove_all(dir_ / "c");
  ImageFolderDataset bin =
      image_dataset_from_directory(dir(), {.label_mode = "binary", .image_size = {4, 4}, .shuffle = false});
  auto [bx, by] = read_all(bin);
  ASSERT_EQ(by.shape(), (myelin::Shape{2, 1}));
  EXPECT_EQ(at(by, {0, 0}), 0.0f);
  EXPECT_EQ(at(by, {1, 0}), 1.0f);
}

TEST_F(ImageFolderTest, ExplicitLabelsFollowTheSortedPaths) {
  solid("q/b.png", 1, 1, 1);
  solid("p/a.png", 2, 2, 2);
  solid("top.png", 3, 3, 3);
  ImageFolderDataset d = image_dataset_from_directory(dir(), {.labels = {1, 0, 1}, .image_size = {4, 4}, .shuffle = false});
  EXPECT_EQ(d.file_paths(), (std::vector<std::string>{(dir_ / "top.png").string(), (dir_ / "p/a.png").string(),
                                                      (dir_ / "q/b.png").string()}));
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"0", "1"}));
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.labels = {1, 0}}); },
                           {"2 labels", "3 image files"});
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.labels = {1, 0, 0}, .class_names = {"p"}}); },
                           {"class_names"});
}

TEST_F(ImageFolderTest, SplitPartsAreDisjointCoverTheFolderAndAreKerasSized) {
  for (int i = 0; i < 10; ++i) solid("a/" + std::to_string(i) + ".png", uint8_t(i), 0, 0);
  for (int i = 0; i < 7; ++i) solid("b/" + std::to_string(i) + ".png", uint8_t(100 + i), 0, 0);
  ImageFolderOptions o{.image_size = {4, 4}, .seed = 1337, .validation_split = 0.25, .subset = "training"};
  ImageFolderDataset train = image_dataset_from_directory(dir(), o);
  o.subset = "validation";
  ImageFolderDataset val = image_dataset_from_directory(dir(), o);
  EXPECT_EQ(val.size(), 4);  // int(0.25 * 17), taken from the end of the shuffled list
  EXPECT_EQ(train.size(), 13);
  std::set<std::string> all(train.file_paths().begin(), train.file_paths().end());
  for (const auto& p : val.file_paths()) EXPECT_TRUE(all.insert(p).second) << p << " is in both parts";
  EXPECT_EQ(all.size(), 17u);
  o.subset = "";
  myelin::data::ImageFolderSplits both = myelin::data::image_dataset_splits_from_directory(dir(), o);
  EXPECT_EQ(both.training.file_paths(), train.file_paths());
  EXPECT_EQ(both.validation.file_paths(), val.file_paths());
  // The shuffled list is a permutation drawn from the seed alone.
  ImageFolderOptions other = o;
  other.seed = 7;
  other.subset = "training";
  EXPECT_NE(image_dataset_from_directory(dir(), other).file_paths(), train.file_paths());
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.validation_split = 0.2, .subset = "training"}); },
                           {"seed"});
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.validation_split = 0.2}); }, {"subset"});
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.seed = 1, .validation_split = 1.5, .subset = "training"}); },
                           {"validation_split"});
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.seed = 1, .validation_split = 0.2, .subset = "both"}); },
                           {"image_dataset_splits_from_directory"});
}

TEST_F(ImageFolderTest, NumpyLegacyPermutationIsAPermutationFixedByTheSeed) {
  const auto p = myelin::data::numpy_legacy_permutation(100, 42);
  std::set<int64_t> seen(p.begin(), p.end());
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 99);
  EXPECT_EQ(p, myelin::data::numpy_legacy_permutation(100, 42));
  EXPECT_NE(p, myelin::data::numpy_legacy_permutation(100, 43));
  // numpy itself is compared in tests/python/test_image_folder.py.
}

TEST_F(ImageFolderTest, ImagesAreResizedAndConvertedToTheColorMode) {
  // A 6x3 image: left half red, right half blue; resized to 2x2 nearest keeps the halves.
  Image im{6, 4, 3, {}};
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 4; ++c) im.pixels.insert(im.pixels.end(), {uint8_t(c < 2 ? 200 : 0), 0, uint8_t(c < 2 ? 0 : 100)});
  fs::create_directories(dir_ / "k");
  myelin::data::save_png((dir_ / "k/im.png").string(), im);
  ImageFolderDataset d =
      image_dataset_from_directory(dir(), {.image_size = {2, 2}, .shuffle = false, .interpolation = "nearest"});
  auto [x, y] = read_all(d);
  ASSERT_EQ(x.shape(), (myelin::Shape{1, 2, 2, 3}));
  EXPECT_EQ(at(x, {0, 1, 0, 0}), 200.0f);
  EXPECT_EQ(at(x, {0, 1, 1, 2}), 100.0f);
  EXPECT_EQ(at(x, {0, 0, 1, 0}), 0.0f);
  ImageFolderDataset grey = image_dataset_from_directory(
      dir(), {.color_mode = "grayscale", .image_size = {6, 4}, .shuffle = false});
  auto [gx, gy] = read_all(grey);
  ASSERT_EQ(gx.shape(), (myelin::Shape{1, 6, 4, 1}));
  const Image ref = myelin::data::load_image((dir_ / "k/im.png").string(), 1);
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(gx.data()[i], float(ref.pixels[size_t(i)]));
  ImageFolderDataset rgba = image_dataset_from_directory(dir(), {.color_mode = "rgba", .image_size = {6, 4}, .shuffle = false});
  auto [ax, ay] = read_all(rgba);
  EXPECT_EQ(at(ax, {0, 5, 3, 3}), 255.0f);  // an opaque alpha is added
  // Bilinear resizing equals the Resizing layer's kernel: a solid image stays solid.
  solid("k/solid.png", 77, 88, 99, 9, 5);
  ImageFolderDataset s = image_dataset_from_directory(dir(), {.image_size = {4, 7}, .shuffle = false});
  auto [sx, sy] = read_all(s);
  EXPECT_EQ(at(sx, {1, 3, 6, 1}), 88.0f);
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.color_mode = "cmyk"}); }, {"color_mode", "cmyk"});
  expect_error<ValueError>([&] { image_dataset_from_directory(dir(), {.interpolation = "bicubic"}); },
                           {"interpolation", "bicubic"});
}

TEST_F(ImageFolderTest, BadFilesAreSkippedAndNamedOrAnErrorWhenStrict) {
  for (int i = 0; i < 4; ++i) solid("a/" + std::to_string(i) + ".png", 10, 10, 10);
  for (int i = 0; i < 3; ++i) solid("b/" + std::to_string(i) + ".png", 20, 20, 20);
  text("b/empty.jpg", "");
  text("a/broken.png", "\x89PNG\r\n\x1a\n truncated");
  ImageFolderDataset d = image_dataset_from_directory(dir(), {.image_size = {4, 4}, .shuffle = false});
  EXPECT_EQ(d.size(), 9);
  testing::internal::CaptureStderr();
  auto [x, y] = read_all(d, 4);
  const std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_EQ(x.rows(), 7);
  EXPECT_NE(warning.find("skipped 2"), std::string::npos) << warning;
  EXPECT_NE(warning.find("broken.png"), std::string::npos) << warning;
  EXPECT_NE(warning.find("empty.jpg"), std::string::npos) << warning;
  EXPECT_EQ(d.skipped_files().size(), 2u);
  EXPECT_EQ(d.size(), 7);  // left out of later epochs
  testing::internal::CaptureStderr();
  auto [x2, y2] = read_all(d, 4, 5, true);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(x2.rows(), 7);
  for (int64_t r = 0; r < 7; ++r) EXPECT_EQ(at(x2, {r, 0, 0, 0}), at(y2, {r, 0}) == 0 ? 10.0f : 20.0f);

  ImageFolderDataset strict = image_dataset_from_directory(dir(), {.image_size = {4, 4}, .shuffle = false, .strict = true});
  expect_error<IOError>([&] { read_all(strict, 4); }, {"broken.png"});
}

TEST_F(ImageFolderTest, MissingOrEmptyFoldersAreErrorsNamingThem) {
  expect_error<IOError>([&] { image_dataset_from_directory((dir_ / "nowhere").string()); }, {"nowhere", "no such folder"});
  expect_error<IOError>([&] { image_dataset_from_directory(dir()); }, {"no class subfolders"});
  solid("full/1.png", 1, 1, 1);
  fs::create_directories(dir_ / "hollow");
  text("hollow/list.txt", "no images here");
  expect_error<IOError>([&] { image_dataset_from_directory(dir()); }, {"hollow", "no image files"});
}

TEST_F(ImageFolderTest, RowsDoNotDependOnTheThreadCountAndFollowTheSeed) {
  for (int i = 0; i < 23; ++i) solid("c" + std::to_string(i % 3) + "/" + std::to_string(i) + ".png", uint8_t(i * 10), uint8_t(i), 0, 5, 3);
  auto rows = [&](int threads, uint64_t seed) {
    ImageFolderDataset d = image_dataset_from_directory(dir(), {.batch_size = 4, .image_size = {3, 2}, .seed = 3, .threads = threads});
    return read_all(d, 5, seed, true);
  };
  auto [x1, y1] = rows(1, 11);
  auto [x3, y3] = rows(3, 11);
  auto [x3b, y3b] = rows(3, 12);
  ASSERT_EQ(x1.shape(), (myelin::Shape{23, 3, 2, 3}));
  EXPECT_EQ(x1.to_vector(), x3.to_vector());
  EXPECT_EQ(y1.to_vector(), y3.to_vector());
  EXPECT_NE(x3.to_vector(), x3b.to_vector());
  std::multiset<float> a, b;  // the same rows, in another order
  for (int64_t r = 0; r < 23; ++r) a.insert(at(x3, {r, 0, 0, 0})), b.insert(at(x3b, {r, 0, 0, 0}));
  EXPECT_EQ(a, b);
}

TEST_F(ImageFolderTest, AModelTrainsAndPredictsFromAFolder) {
  // Reddish and bluish images, told apart by a tiny model that rescales raw pixels itself.
  for (int i = 0; i < 24; ++i) {
    solid("blue/" + std::to_string(i) + ".png", uint8_t(i * 3), 40, uint8_t(150 + i * 4), 6, 6);
    solid("red/" + std::to_string(i) + ".png", uint8_t(150 + i * 4), 40, uint8_t(i * 3), 6, 6);
  }
  ImageFolderOptions o{.batch_size = 8, .image_size = {6, 6}, .seed = 5, .validation_split = 0.25};
  myelin::data::ImageFolderSplits parts = myelin::data::image_dataset_splits_from_directory(dir(), o);
  namespace L = myelin::layers;
  myelin::Sequential model({L::Rescaling(1.0f / 255, 0.0f, myelin::Shape{6, 6, 3}), L::Flatten(), L::Dense(2, "softmax")});
  model.compile(myelin::optimizers::Adam(0.05), "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(parts.training, {.epochs = 20, .batch_size = 8, .verbose = 0, .seed = 1});
  const auto logs = model.evaluate(parts.validation, {.batch_size = 8});
  EXPECT_EQ(logs.at("accuracy"), 1.0);
  // predict keeps the files' order, whatever the dataset's shuffle option.
  const Tensor p = model.predict(parts.validation, 8);
  ASSERT_EQ(p.rows(), 12);
  for (int64_t r = 0; r < 12; ++r)
    EXPECT_EQ(at(p, {r, 1}) > 0.5f ? 1 : 0, parts.validation.file_labels()[size_t(r)]) << parts.validation.file_paths()[size_t(r)];
}

}  // namespace
