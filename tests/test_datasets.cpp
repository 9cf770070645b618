// Tests of the data set loaders on the project's data/ copies, on tiny IDX fixtures, and on
// the system's Fashion-MNIST when it is installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "myelin/data/datasets.hpp"
#include "myelin/error.hpp"

namespace fs = std::filesystem;
using myelin::Tensor;
namespace datasets = myelin::datasets;

namespace {

const std::string kDataDir = MYELIN_TEST_DATA_DIR;

float min_of(const Tensor& t) { return *std::min_element(t.data(), t.data() + t.size()); }
float max_of(const Tensor& t) { return *std::max_element(t.data(), t.data() + t.size()); }
double sum_of(const Tensor& t) {
  double s = 0;
  for (int64_t i = 0; i < t.size(); ++i) s += t[i];
  return s;
}
std::map<float, int> counts(const Tensor& y) {
  std::map<float, int> c;
  for (int64_t i = 0; i < y.size(); ++i) ++c[y[i]];
  return c;
}

TEST(Datasets, BostonHousing) {
  const datasets::Split d = datasets::boston_housing(kDataDir);
  ASSERT_EQ(d.x.shape(), (myelin::Shape{506, 13}));
  ASSERT_EQ(d.y.shape(), (myelin::Shape{506, 1}));
  // First row of the file: CRIM 0.00632, ZN 18, ..., LSTAT 4.98, MEDV 24.
  EXPECT_FLOAT_EQ(d.x.at(0, 0), 0.00632f);
  EXPECT_FLOAT_EQ(d.x.at(0, 1), 18.f);
  EXPECT_FLOAT_EQ(d.x.at(0, 12), 4.98f);
  EXPECT_FLOAT_EQ(d.y[0], 24.f);
  EXPECT_FLOAT_EQ(d.y[505], 11.9f);
  EXPECT_FLOAT_EQ(min_of(d.y), 5.f);
  EXPECT_FLOAT_EQ(max_of(d.y), 50.f);
  EXPECT_NEAR(sum_of(d.y), 11401.6, 1e-3);
  // The same file named directly.
  EXPECT_EQ(datasets::boston_housing(kDataDir + "/boston_house_prices.csv").x.to_vector(), d.x.to_vector());
}

TEST(Datasets, Digits) {
  const datasets::Split d = datasets::digits(kDataDir);
  ASSERT_EQ(d.x.shape(), (myelin::Shape{1797, 64}));
  ASSERT_EQ(d.y.shape(), (myelin::Shape{1797, 1}));
  EXPECT_EQ(min_of(d.x), 0.f);
  EXPECT_EQ(max_of(d.x), 16.f);  // raw 0..16 pixel counts
  EXPECT_EQ(sum_of(d.x), 561718.0);
  EXPECT_EQ(d.y[0], 0.f);
  EXPECT_EQ(d.y[1], 1.f);
  const auto c = counts(d.y);
  ASSERT_EQ(c.size(), 10u);
  EXPECT_EQ(c.begin()->first, 0.f);
  EXPECT_EQ(c.rbegin()->first, 9.f);
  EXPECT_EQ(c.at(3.f), 183);
  EXPECT_EQ(c.at(8.f), 174);
}

TEST(Datasets, Iris) {
  const datasets::Split d = datasets::iris(kDataDir);
  ASSERT_EQ(d.x.shape(), (myelin::Shape{150, 4}));
  ASSERT_EQ(d.y.shape(), (myelin::Shape{150, 1}));
  EXPECT_EQ(d.x.to_vector()[0], 5.1f);
  EXPECT_EQ(d.x.to_vector()[1], 3.5f);
  EXPECT_EQ(d.x.to_vector()[3], 0.2f);
  EXPECT_EQ(counts(d.y), (std::map<float, int>{{0.f, 50}, {1.f, 50}, {2.f, 50}}));
  double sepal_length = 0;
  for (int64_t r = 0; r < 150; ++r) sepal_length += d.x.at(r, 0);
  EXPECT_NEAR(sepal_length, 876.5, 1e-3);
}

TEST(Datasets, Diabetes) {
  const datasets::Split d = datasets::diabetes(kDataDir);
  ASSERT_EQ(d.x.shape(), (myelin::Shape{442, 10}));
  ASSERT_EQ(d.y.shape(), (myelin::Shape{442, 1}));
  // First row: age 59, sex 2, bmi 32.1, ..., s6 87; target 151.
  EXPECT_EQ(d.x.at(0, 0), 59.f);
  EXPECT_EQ(d.x.at(0, 1), 2.f);
  EXPECT_FLOAT_EQ(d.x.at(0, 2), 32.1f);
  EXPECT_EQ(d.x.at(0, 9), 87.f);
  EXPECT_EQ(d.y[0], 151.f);
  EXPECT_EQ(min_of(d.y), 25.f);
  EXPECT_EQ(max_of(d.y), 346.f);
  EXPECT_EQ(sum_of(d.y), 67243.0);
}

TEST(Datasets, DefaultFolderAndEnvironmentOverride) {
  // The default folder is the source tree's data/, so no argument is needed.
  EXPECT_EQ(datasets::iris().x.shape(), (myelin::Shape{150, 4}));

  const fs::path empty = fs::temp_directory_path() / ("myelin_test_ds_env_" + std::to_string(::getpid()));
  fs::create_directories(empty);
  ::setenv("MYELIN_DATA_DIR", empty.c_str(), 1);
  EXPECT_EQ(datasets::data_dir(), empty.string());
  try {
    datasets::iris();
    ADD_FAILURE() << "expected IOError";
  } catch (const myelin::IOError& e) {
    EXPECT_NE(std::string(e.what()).find((empty / "iris.csv").string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(datasets::diabetes(), myelin::IOError);
  ::unsetenv("MYELIN_DATA_DIR");
  fs::remove_all(empty);
  EXPECT_EQ(datasets::data_dir(), kDataDir);
}

// Tiny IDX files in MNIST's layout exercise the image loader without the real data.
class MnistFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("myelin_test_ds_idx_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_idx(const std::string& name, const std::string& header, const std::string& data) {
    std::ofstream((dir_ / name).string(), std::ios::binary) << header << data;
  }
  static std::string header(std::initializer_list<int> dims) {
    std::string s{'\0', '\0', '\x08', static_cast<char>(dims.size())};
    for (int d : dims) s += std::string{'\0', '\0', '\0', static_cast<char>(d)};
    return s;
  }

  fs::path dir_;
};

TEST_F(MnistFormat, ScalesImagesAndShapesThemNhwc) {
  // Two 2x3 training images, one test image; files without .gz.
  write_idx("train-images-idx3-ubyte", header({2, 2, 3}), std::string("\x00\x33\x66\x99\xcc\xff\xff\x00\x00\x00\x00\x33", 12));
  write_idx("train-labels-idx1-ubyte", header({2}), std::string("\x07\x02", 2));
  write_idx("t10k-images-idx3-ubyte", header({1, 2, 3}), std::string("\x00\x00\x00\x00\x00\xff", 6));
  write_idx("t10k-labels-idx1-ubyte", header({1}), std::string("\x05", 1));
  auto [train, test] = datasets::mnist(dir_.string());
  ASSERT_EQ(train.x.shape(), (myelin::Shape{2, 2, 3, 1}));
  ASSERT_EQ(train.y.shape(), (myelin::Shape{2, 1}));
  ASSERT_EQ(test.x.shape(), (myelin::Shape{1, 2, 3, 1}));
  EXPECT_EQ(train.x.to_vector(), (std::vector<float>{0.f, 51 / 255.f, 102 / 255.f, 153 / 255.f, 204 / 255.f, 1.f,
                                                     1.f, 0.f, 0.f, 0.f, 0.f, 51 / 255.f}));
  EXPECT_EQ(train.y.to_vector(), (std::vector<float>{7, 2}));
  EXPECT_EQ(test.x[5], 1.f);
  EXPECT_EQ(test.y[0], 5.f);
}

TEST_F(MnistFormat, MismatchedLabelCountAndMissingFilesAreRefused) {
  write_idx("train-images-idx3-ubyte", header({2, 1, 1}), std::string("\x01\x02", 2));
  write_idx("train-labels-idx1-ubyte", header({2}), std::string("\x01\x02", 2));
  try {
    datasets::mnist(dir_.string());
    FAIL() << "expected IOError";
  } catch (const myelin::IOError& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(dir_.string()), std::string::npos) << e.what();
  }
  write_idx("t10k-images-idx3-ubyte", header({1, 1, 1}), std::string("\x01", 1));
  write_idx("t10k-labels-idx1-ubyte", header({3}), std::string("\x01\x02\x03", 3));
  try {
    datasets::mnist(dir_.string());
    FAIL() << "expected IOError";
  } catch (const myelin::IOError& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-labels-idx1-ubyte"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("should hold 1 labels"), std::string::npos) << e.what();
  }
  const std::string absent = (dir_ / "absent").string();
  try {
    datasets::fashion_mnist(absent);
    FAIL() << "expected IOError";
  } catch (const myelin::IOError& e) {
    EXPECT_NE(std::string(e.what()).find(absent), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos) << e.what();
  }
}

TEST(Datasets, FashionMnistFromSystem) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " is not installed (Debian package dataset-fashion-mnist)";
  auto [train, test] = datasets::fashion_mnist(dir);
  ASSERT_EQ(train.x.shape(), (myelin::Shape{60000, 28, 28, 1}));
  ASSERT_EQ(train.y.shape(), (myelin::Shape{60000, 1}));
  ASSERT_EQ(test.x.shape(), (myelin::Shape{10000, 28, 28, 1}));
  ASSERT_EQ(test.y.shape(), (myelin::Shape{10000, 1}));
  // Reference values computed separately with Python's gzip module from the same files:
  // first labels 9 (train) and 9 (test); label sums 270000 and 45000 (6000 / 1000 per class);
  // the first training image's bytes sum to 76247, its pixel (14, 14) is 217; the first test
  // image's bytes sum to 33456.
  EXPECT_EQ(train.y[0], 9.f);
  EXPECT_EQ(test.y[0], 9.f);
  EXPECT_EQ(sum_of(train.y), 270000.0);
  EXPECT_EQ(sum_of(test.y), 45000.0);
  const Tensor first = train.x.rows(0, 1);
  EXPECT_NEAR(sum_of(first) * 255.0, 76247.0, 0.05);
  EXPECT_FLOAT_EQ(train.x[14 * 28 + 14], 217.f / 255.f);
  EXPECT_NEAR(sum_of(test.x.rows(0, 1)) * 255.0, 33456.0, 0.05);
  EXPECT_EQ(min_of(train.x), 0.f);
  EXPECT_EQ(max_of(train.x), 1.f);
}

}  // namespace
