// `myelin train --images-dir`, `evaluate --images-dir` and `predict --images-dir`: a folder of
// image files in, a model, its class names and per-file predictions out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "cli_runner.hpp"
#include "myelin/data/image.hpp"

namespace fs = std::filesystem;
using myelin::test::cli;
using myelin::test::CliResult;
using myelin::test::run;
using myelin::test::TempDir;
using myelin::test::value_of;

namespace {

class CliImages : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(cli())) GTEST_SKIP() << "build the myelin_cli target first (" << cli() << ")";
  }
  // A noisy 10x10 image, mostly red (`red`) or mostly blue, as PNG.
  void image(const fs::path& path, bool red, std::mt19937& rng) {
    myelin::data::Image im{10, 10, 3, {}};
    for (int i = 0; i < 100; ++i) {
      const uint8_t hi = uint8_t(150 + rng() % 100), lo = uint8_t(rng() % 60), g = uint8_t(rng() % 80);
      im.pixels.insert(im.pixels.end(), {red ? hi : lo, g, red ? lo : hi});
    }
    fs::create_directories(path.parent_path());
    myelin::data::save_png(path.string(), im);
  }
  TempDir dir;
};

TEST_F(CliImages, TrainOnAFolderThenPredictEachFileWithItsClassName) {
  std::mt19937 rng(4);
  const fs::path train = dir.path / "train";
  for (int i = 0; i < 24; ++i) {
    image(train / "blue" / ("b" + std::to_string(i) + ".png"), false, rng);
    image(train / "red" / ("r" + std::to_string(i) + ".png"), true, rng);
  }
  std::ofstream(dir.file("model.json")) << R"([
    {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3]}},
    {"class_name": "Rescaling", "config": {"scale": 0.00392156862, "offset": 0.0}},
    {"class_name": "Flatten", "config": {}},
    {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}])";
  const std::string model = dir.file("colours.safetensors");
  CliResult t = run("train --model " + dir.file("model.json") + " --images-dir " + train.string() +
                    " --image-size 8x8 --validation-split 0.25 --epochs 15 --batch-size 8 --learning-rate 0.05 --seed 2"
                    " --verbose 0 --output " + model);
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_EQ(value_of(t.output, "val_accuracy"), 1.0) << t.output;
  std::ifstream classes(dir.file("colours.classes.txt"));
  std::stringstream names;
  names << classes.rdbuf();
  EXPECT_EQ(names.str(), "blue\nred\n");

  CliResult e = run("evaluate " + model + " --images-dir " + train.string());
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_GT(value_of(e.output, "accuracy"), 0.95);

  // New files in a flat folder (no classes), one of which does not decode.
  const fs::path fresh = dir.path / "fresh";
  image(fresh / "1_red.png", true, rng);
  image(fresh / "2_blue.png", false, rng);
  image(fresh / "sub" / "3_red.png", true, rng);
  std::ofstream(fresh / "4_broken.jpg") << "not a jpeg";
  CliResult p = run("predict " + model + " --images-dir " + fresh.string() + " --output " + dir.file("pred.csv"));
  ASSERT_EQ(p.status, 0) << p.output;
  EXPECT_NE(p.output.find("4_broken.jpg"), std::string::npos) << p.output;  // named as skipped
  std::ifstream csv(dir.file("pred.csv"));
  std::string header, row;
  std::getline(csv, header);
  EXPECT_EQ(header, "file,probability_blue,probability_red,class");
  std::vector<std::string> rows;
  while (std::getline(csv, row)) rows.push_back(row);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].rfind((fresh / "1_red.png").string() + ",", 0), 0u) << rows[0];
  EXPECT_EQ(rows[0].substr(rows[0].rfind(',') + 1), "red");
  EXPECT_EQ(rows[1].substr(rows[1].rfind(',') + 1), "blue");
  EXPECT_EQ(rows[2].rfind((fresh / "sub" / "3_red.png").string() + ",", 0), 0u) << rows[2];
  EXPECT_EQ(rows[2].substr(rows[2].rfind(',') + 1), "red");

  CliResult strict = run("predict " + model + " --images-dir " + fresh.string() + " --strict --output " + dir.file("p2.csv"));
  EXPECT_EQ(strict.status, 1);
  EXPECT_NE(strict.output.find("4_broken.jpg"), std::string::npos) << strict.output;
  CliResult wrong = run("predict " + model + " --images-dir " + fresh.string() + " --image-size 9x9 --output " + dir.file("p3.csv"));
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.output.find("does not match the model's input"), std::string::npos) << wrong.output;
}

TEST_F(CliImages, BadFoldersAndSizesAreNamed) {
  std::mt19937 rng(1);
  image(dir.path / "set" / "a" / "1.png", true, rng);
  fs::create_directories(dir.path / "set" / "empty");
  std::ofstream(dir.file("model.json")) << R"([{"class_name": "Flatten", "config": {}},
    {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}])";
  CliResult r = run("train --model " + dir.file("model.json") + " --images-dir " + (dir.path / "set").string() +
                    " --image-size 4x4 --epochs 1 --verbose 0 --output " + dir.file("m.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("empty"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("no image files"), std::string::npos) << r.output;
  CliResult s = run("train --model " + dir.file("model.json") + " --images-dir " + (dir.path / "set").string() +
                    " --image-size 4by4 --epochs 1 --output " + dir.file("m.safetensors"));
  EXPECT_EQ(s.status, 1);
  EXPECT_NE(s.output.find("--image-size must be HxW"), std::string::npos) << s.output;
}

}  // namespace
