// `myelin explain`: heat maps of a model trained by the command line on a small IDX file, the grid
// of indices x methods, a CSV row's feature table, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

namespace {

// An IDX file (big-endian header, unsigned bytes) of `dims` holding `bytes`.
void write_idx(const std::string& path, const std::vector<int32_t>& dims, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  const uint8_t magic[4] = {0, 0, 0x08, uint8_t(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (int32_t d : dims) {
    const uint8_t be[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

bool has(const CliResult& r, const std::string& part) { return r.output.find(part) != std::string::npos; }

// The number after `key` in the output ("score 1.5" -> 1.5).
double number_after(const std::string& output, const std::string& key) {
  const auto at = output.find(key);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no '" << key << "' in:\n" << output;
    return NAN;
  }
  return std::stod(output.substr(at + key.size()));
}

// A model trained by `myelin train` on 16 8x8 images: a bright left half (class 0) or right half (1).
class CliExplain : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(cli())) GTEST_SKIP() << "build the myelin_cli target first (" << cli() << ")";
    std::mt19937 rng(7);
    std::vector<uint8_t> pixels, labels;
    for (int i = 0; i < 16; ++i) {
      const int label = i % 2;
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) pixels.push_back(uint8_t((x < 4) != (label == 1) ? 180 + rng() % 70 : rng() % 40));
      labels.push_back(uint8_t(label));
    }
    write_idx(images, {16, 8, 8}, pixels);
    write_idx(dir.file("labels.idx"), {16}, labels);
    std::ofstream(dir.file("cnn.json")) << R"([
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 1]}},
      {"class_name": "Conv2D", "config": {"name": "conv", "filters": 3, "kernel_size": [3, 3], "activation": "relu", "padding": "same"}},
      {"class_name": "Flatten", "config": {}},
      {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}])";
    CliResult t = run("train --model " + dir.file("cnn.json") + " --images " + images + " --labels " +
                      dir.file("labels.idx") + " --epochs 5 --batch-size 4 --seed 1 --verbose 0 --output " + model);
    ASSERT_EQ(t.status, 0) << t.output;
  }
  TempDir dir;
  std::string images = dir.file("images.idx"), model = dir.file("cnn.safetensors");
};

}  // namespace

TEST_F(CliExplain, OneIndexAndMethodWritesTheOverlayMagnifiedFourTimes) {
  CliResult r = run("explain " + model + " --images " + images + " --index 3 --method grad_cam --output " + dir.file("heat.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  const myelin::data::Image png = myelin::data::load_image(dir.file("heat.png"), 3);
  EXPECT_EQ(png.height, 32);  // 8 x 8 below 64 pixels: scale 4
  EXPECT_EQ(png.width, 32);
  EXPECT_TRUE(has(r, "index 3: predicted ")) << r.output;
  EXPECT_TRUE(has(r, ", score ")) << r.output;

  // With the class names train writes beside a model, and a chosen target.
  std::ofstream(dir.file("cnn.classes.txt")) << "left\nright\n";
  r = run("explain " + model + " --images " + images + " --index 5 --method saliency --target 1 --scale 1 --output " +
          dir.file("s.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(has(r, "explained 1 (right)")) << r.output;
  EXPECT_EQ(myelin::data::load_image(dir.file("s.png"), 3).width, 8);
}

TEST_F(CliExplain, SeveralIndicesOrMethodsWriteAGrid) {
  CliResult r = run("explain " + model + " --images " + images + " --index 1,2 --method saliency,grad_cam --scale 2 --output " +
                    dir.file("grid.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  myelin::data::Image png = myelin::data::load_image(dir.file("grid.png"), 3);
  EXPECT_EQ(png.height, 2 * 16 + 2);      // two rows, one gap
  EXPECT_EQ(png.width, 3 * 16 + 2 * 2);  // the image and two methods, two gaps
  EXPECT_TRUE(has(r, "index 1: ")) << r.output;
  EXPECT_TRUE(has(r, "index 2: ")) << r.output;

  r = run("explain " + model + " --images " + images + " --index 0 --method all --steps 8 --samples 4 --output " +
          dir.file("all.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  png = myelin::data::load_image(dir.file("all.png"), 3);
  EXPECT_EQ(png.height, 32);
  EXPECT_EQ(png.width, 5 * 32 + 4 * 2);
}

TEST_F(CliExplain, BadInputGivesOneLineErrors) {
  const std::string base = "explain " + model + " --images " + images + " --output " + dir.file("e.png");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {base + " --index 16", "row 16 is out of range: '" + images + "' has 16 rows (0..15)"},
      {base + " --index 2,x", "--index: 'x' is not a row number"},
      {base + " --method gradcam", "unknown method 'gradcam'"},
      {base + " --method grad_cam --layer nope", "no layer 'nope'"},
      {base + " --method saliency --layer conv", "--layer is used by grad_cam only"},
      {base + " --target 2", "--target 2 is out of range: the model has 2 output units"},
      {"explain " + model + " --images " + images, "--output FILE.png is needed"},
      {"explain " + model + " --output " + dir.file("e.png"), "no data given"},
      {base + " --data " + images, "not both"},
  };
  for (const auto& c : cases) {
    CliResult r = run(c.args);
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("myelin: error: ", 0), 0u) << c.args << "\n" << r.output;
    EXPECT_TRUE(has(r, c.message)) << c.args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir.file("e.png")));
  EXPECT_EQ(run("explain " + model + " --images " + images + " --scale 0 --output x.png").status, 2);  // a usage error
  CliResult help = run("explain --help");
  EXPECT_EQ(help.status, 0) << help.output;
  EXPECT_TRUE(has(help, "--method")) << help.output;
}

TEST_F(CliExplain, CsvRowPrintsItsFeatureTable) {
  // y = 3a - 2b (+ c unused): a regression trained on standardised features.
  std::ofstream csv(dir.file("t.csv"));
  csv << "alpha,beta,gamma,y\n";
  std::mt19937 rng(3);
  std::normal_distribution<float> n(5, 2);
  for (int i = 0; i < 64; ++i) {
    float a = n(rng), b = n(rng), c = n(rng);
    if (i == 3) a = 12, b = -2, c = 5;  // far from the means in alpha and beta, at it in gamma
    csv << a << "," << b << "," << c << "," << 3 * a - 2 * b << "\n";
  }
  csv.close();
  std::ofstream(dir.file("mlp.json")) << R"([{"class_name": "Dense", "config": {"units": 1}}])";
  CliResult t = run("train --model " + dir.file("mlp.json") + " --data " + dir.file("t.csv") +
                    " --target y --standardize --epochs 60 --batch-size 8 --learning-rate 0.05 --seed 2 --verbose 0 --output " +
                    dir.file("lin.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;

  const std::string explain = "explain " + dir.file("lin.safetensors") + " --data " + dir.file("t.csv");
  CliResult r = run(explain + " --target-column y --row 3 --output " + dir.file("table.csv"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(has(r, "row 3: prediction ")) << r.output;
  EXPECT_TRUE(has(r, "feature         value   attribution")) << r.output;
  // A linear model from the features' means: the attributions add up to score - baseline score.
  const double score = number_after(r.output, ", score "), base = number_after(r.output, "baseline score ");
  EXPECT_NEAR(number_after(r.output, "attributions sum to "), score - base, 1e-3 * (1 + std::fabs(score))) << r.output;
  // alpha (weight 3) and beta (-2) lead; gamma, unused, comes last.
  const auto alpha = r.output.find("\nalpha "), beta = r.output.find("\nbeta "), gamma = r.output.find("\ngamma ");
  ASSERT_NE(gamma, std::string::npos) << r.output;
  EXPECT_LT(std::min(alpha, beta), gamma) << r.output;
  EXPECT_LT(std::max(alpha, beta), gamma) << r.output;

  std::ifstream table(dir.file("table.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(table, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "row,feature,value,attribution");
  EXPECT_EQ(lines[3].rfind("3,gamma,", 0), 0u) << lines[3];

  // The target column left in: the model takes 3 features, not 4.
  CliResult bad = run(explain + " --row 3");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_TRUE(has(bad, "name it with --target-column")) << bad.output;
  bad = run(explain + " --target-column y --row 64");
  EXPECT_TRUE(has(bad, "row 64 is out of range")) << bad.output;
  bad = run(explain + " --target-column y --method grad_cam");
  EXPECT_TRUE(has(bad, "integrated_gradients only")) << bad.output;
}
