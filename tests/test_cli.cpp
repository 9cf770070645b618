// The installed-style `myelin` program, run as a user would: train on the Boston CSV and on the
// digits, evaluate, predict (compared with the library's own predictions), summary, plot, and the
// exit codes and messages for bad options and bad data; sequence models (Embedding, recurrent layers,
// Conv1D, attention) from JSON on CSV rows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli_runner.hpp"
#include "myelin/myelin.hpp"
#include "sanitizers.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {
using myelin::test::cli;
using myelin::test::CliResult;
using myelin::test::run;
using myelin::test::TempDir;
using myelin::test::value_of;

const std::string kData = MYELIN_TEST_DATA_DIR;
}  // namespace

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(cli())) GTEST_SKIP() << "build the myelin_cli target first (" << cli() << ")";
  }
  TempDir dir;
};

TEST_F(Cli, BostonTrainEvaluatePredictAgreeWithTheLibrary) {
  std::ofstream(dir.file("model.json")) << R"([{"class_name": "Dense", "config": {"units": 10, "activation": "relu"}},
                                              {"class_name": "Dense", "config": {"units": 1}}])";
  const std::string data = "--data " + kData + "/boston_house_prices.csv --skip-rows 1 --target MEDV";
  CliResult t = run("train --model " + dir.file("model.json") + " " + data +
              " --validation-split 0.2 --epochs 60 --batch-size 10 --standardize --seed 3 --verbose 0 --output " +
              dir.file("boston.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_LT(value_of(t.output, "val_loss"), 60.0);  // the untrained network is at ~600
  ASSERT_TRUE(fs::exists(dir.file("boston.history.csv")));

  CliResult e = run("evaluate " + dir.file("boston.safetensors") + " " + data);
  ASSERT_EQ(e.status, 0) << e.output;
  CliResult p = run("predict " + dir.file("boston.safetensors") + " " + data + " --output " + dir.file("pred.csv"));
  ASSERT_EQ(p.status, 0) << p.output;

  // The same file through the library gives the same numbers.
  Sequential model = load_model(dir.file("boston.safetensors"));
  auto csv = data::read_csv(kData + "/boston_house_prices.csv", {.skip_rows = 1, .target_column = "MEDV"});
  EXPECT_NEAR(value_of(e.output, "loss"), model.evaluate(csv.x, csv.y)["loss"], 1e-4);
  Tensor expected = model.predict(csv.x);
  std::ifstream in(dir.file("pred.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "prediction");
  for (int64_t r = 0; r < expected.rows(); ++r) {
    ASSERT_TRUE(std::getline(in, line)) << "row " << r;
    EXPECT_NEAR(std::stod(line), expected[r], 1e-5 * (1 + std::fabs(expected[r])));
  }

  CliResult s = run("summary " + dir.file("boston.safetensors"));
  ASSERT_EQ(s.status, 0);
  EXPECT_NE(s.output.find("Total params: 177"), std::string::npos) << s.output;  // 26 statistics + 151 weights
}

TEST_F(Cli, DigitsClassifierPredictsClasses) {
  std::ofstream(dir.file("digits.json")) << R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "Dense", "config": {"units": 32, "activation": "relu", "batch_input_shape": [null, 64]}},
      {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}]}})";
  const std::string data = "--data " + kData + "/digits.csv.gz --no-header";
  CliResult t = run("train --model " + dir.file("digits.json") + " " + data +
              " --epochs 25 --batch-size 32 --standardize --validation-split 0.2 --verbose 0 --output " +
              dir.file("digits.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_GT(value_of(t.output, "val_accuracy"), 0.85);  // chance is 0.1
  CliResult p = run("predict " + dir.file("digits.safetensors") + " " + data + " --target -1 --output " + dir.file("p.csv"));
  ASSERT_EQ(p.status, 0) << p.output;
  std::ifstream in(dir.file("p.csv"));
  std::string header, row;
  std::getline(in, header);
  EXPECT_EQ(header.substr(0, 14), "probability_0,");
  EXPECT_EQ(header.substr(header.size() - 6), ",class");
  std::getline(in, row);
  // Probabilities sum to 1 and the class is their arg-max.
  std::istringstream cells(row);
  std::vector<double> v;
  for (std::string c; std::getline(cells, c, ',');) v.push_back(std::stod(c));
  ASSERT_EQ(v.size(), 11u);
  double sum = 0;
  for (int i = 0; i < 10; ++i) sum += v[size_t(i)];
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(int(v[10]), int(std::max_element(v.begin(), v.begin() + 10) - v.begin()));

  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    CliResult g = run("plot " + dir.file("digits.history.csv") + " --output " + dir.file("curves.png"));
    ASSERT_EQ(g.status, 0) << g.output;
    std::ifstream png(dir.file("curves.png"), std::ios::binary);
    char magic[4] = {};
    png.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  }
}

TEST_F(Cli, ExitCodesAndMessages) {
  EXPECT_EQ(run("--help").status, 0);
  EXPECT_EQ(run("train --help").status, 0);
  CliResult r = run("train --epochs 3");  // required options missing
  EXPECT_EQ(r.status, 2) << r.output;
  r = run("frobnicate");
  EXPECT_EQ(r.status, 2) << r.output;
  r = run("train --model x.json --output y --bogus-flag 1");
  EXPECT_EQ(r.status, 2);
  std::ofstream(dir.file("m.json")) << R"([{"class_name": "Dense", "config": {"units": 1}}])";
  std::ofstream(dir.file("bad.csv")) << "a,b,y\n1,2,3\n4,oops,6\n";
  r = run("train --model " + dir.file("m.json") + " --data " + dir.file("bad.csv") + " --output " + dir.file("o.safetensors"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("bad.csv"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("line 3"), std::string::npos) << r.output;
  std::ofstream(dir.file("unknown.json")) << R"([{"class_name": "Conv9D", "config": {}}])";
  std::ofstream(dir.file("ok.csv")) << "a,y\n1,2\n";
  r = run("train --model " + dir.file("unknown.json") + " --data " + dir.file("ok.csv") + " --output " + dir.file("o.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("Conv9D"), std::string::npos) << r.output;
  r = run("evaluate " + dir.file("m.json") + " --data " + dir.file("ok.csv"));  // not a model file
  EXPECT_EQ(r.status, 1) << r.output;
}

TEST_F(Cli, AModelTooBigForTheMachineIsRefusedAtOnce) {
#ifdef MYELIN_UNDER_ASAN
  // AddressSanitizer cannot map its shadow memory under an address-space limit (ulimit -v).
  GTEST_SKIP() << "AddressSanitizer cannot run under ulimit -v";
#endif
  // One zero too many in the units. Under a 4 GiB address-space limit a regression fails with
  // std::bad_alloc here instead of taking the machine's memory.
  std::ofstream(dir.file("m.json")) << R"([{"class_name": "Dense", "config": {"units": 1000000000}}])";
  {
    std::ofstream csv(dir.file("d.csv"));
    csv << "a,b,y\n";
    for (int i = 0; i < 50; ++i) csv << i << "," << i % 7 << "," << i * 0.5 << "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  CliResult r = run("train --model " + dir.file("m.json") + " --data " + dir.file("d.csv") + " --verbose 0 --output " +
                        dir.file("o.safetensors"),
                    "ulimit -v 4194304; ");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("myelin: error: Sequential 'sequential': layer 0 'dense' (Dense (None, 2) → (None, "
                          "1000000000)): weights need 11.2 GiB (44.7 GiB with their gradients and Adam's state)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(the address-space limit (ulimit -v))"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
  EXPECT_LT(seconds, 10.0) << "refusing should take no time: nothing is allocated";
  EXPECT_FALSE(fs::exists(dir.file("o.safetensors")));
}

TEST_F(Cli, ATargetThatIsNotANumberIsNamed) {
  // The CSV reader refuses it with its line before the model sees it (the model's own check is in
  // test_memory_limit.cpp).
  std::ofstream(dir.file("m.json")) << R"([{"class_name": "Dense", "config": {"units": 1}}])";
  std::ofstream(dir.file("d.csv")) << "a,b,y\n1,2,3\n4,5,6\n7,8,nan\n";
  CliResult r = run("train --model " + dir.file("m.json") + " --data " + dir.file("d.csv") + " --verbose 0 --output " +
                    dir.file("o.safetensors"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("line 4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("missing value (\"nan\")"), std::string::npos) << r.output;
}

TEST_F(Cli, TrainsOnIdxImages) {
  const std::string fm = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fm + "/train-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  std::ofstream(dir.file("mlp.json")) << R"([{"class_name": "Flatten", "config": {}},
      {"class_name": "Dense", "config": {"units": 32, "activation": "relu"}},
      {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}])";
  CliResult t = run("train --model " + dir.file("mlp.json") + " --images " + fm + "/train-images-idx3-ubyte.gz --labels " + fm +
                    "/train-labels-idx1-ubyte.gz --epochs 1 --batch-size 128 --verbose 0 --output " + dir.file("fm.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  CliResult e = run("evaluate " + dir.file("fm.safetensors") + " --images " + fm + "/t10k-images-idx3-ubyte.gz --labels " + fm +
                    "/t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_GT(value_of(e.output, "accuracy"), 0.75);  // one epoch of the MLP; chance is 0.1
  CliResult bad = run("evaluate " + dir.file("fm.safetensors") + " --images " + fm + "/t10k-images-idx3-ubyte.gz --labels " +
                      fm + "/train-labels-idx1-ubyte.gz");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("60000 labels"), std::string::npos) << bad.output;
}

TEST_F(Cli, ImagesFromIdxWritesOneFolderPerClass) {
  const std::string fm = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fm + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const std::string images = fm + "/t10k-images-idx3-ubyte.gz", labels = fm + "/t10k-labels-idx1-ubyte.gz";
  const std::string names = "T-shirt,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Boot";
  CliResult r = run("images-from-idx " + images + " " + labels + " " + dir.file("png") + " --limit 20 --class-names " + names);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("wrote 20 PNG files"), std::string::npos) << r.output;
  const Tensor x = data::read_idx(images), y = data::read_idx(labels);
  const std::vector<std::string> classes = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Boot"};
  std::map<std::string, int> want, got;
  for (int i = 0; i < 20; ++i) {
    const std::string cls = classes[size_t(y.data()[i])];
    ++want[cls];
    const data::Image img = data::load_image(dir.file("png/" + cls + "/" + std::to_string(i) + ".png"), 1);
    ASSERT_EQ(img.height, 28);
    ASSERT_EQ(img.width, 28);
    for (int k = 0; k < 28 * 28; ++k) ASSERT_EQ(float(img.pixels[size_t(k)]), x.data()[i * 784 + k]) << i << ".png pixel " << k;
  }
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.file("png")))
    if (e.is_regular_file()) ++got[e.path().parent_path().filename().string()], ++files;
  EXPECT_EQ(files, 20);
  EXPECT_EQ(got, want);
  // Without names the folder is the label number; a label without a name is an error naming it.
  r = run("images-from-idx " + images + " " + labels + " " + dir.file("numbers") + " --limit 3");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir.file("numbers/" + std::to_string(int(y.data()[2])) + "/2.png")));
  r = run("images-from-idx " + images + " " + labels + " " + dir.file("few") + " --limit 50 --class-names a,b");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no name in --class-names (2 given)"), std::string::npos) << r.output;
}

TEST_F(Cli, StreamedCsvTrainsAndEvaluatesLikeTheLoadedFile) {
  // The Boston CSV without its count line: --stream reads it in chunks through a shuffle buffer.
  {
    std::ifstream in(kData + "/boston_house_prices.csv");
    std::ofstream out(dir.file("boston.csv"));
    std::string line;
    std::getline(in, line);
    out << in.rdbuf();
  }
  std::ofstream(dir.file("model.json")) << R"([{"class_name": "Dense", "config": {"units": 10, "activation": "relu"}},
                                              {"class_name": "Dense", "config": {"units": 1}}])";
  const std::string data = "--data " + dir.file("boston.csv") + " --target MEDV";
  CliResult t = run("train --model " + dir.file("model.json") + " " + data +
                    " --stream --shuffle-buffer 50 --epochs 40 --batch-size 10 --learning-rate 0.003 --seed 2 --verbose 0 "
                    "--output " + dir.file("s.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_LT(value_of(t.output, "loss"), 150.0);  // from ~600 untrained
  CliResult streamed = run("evaluate " + dir.file("s.safetensors") + " " + data + " --stream");
  CliResult loaded = run("evaluate " + dir.file("s.safetensors") + " " + data);
  ASSERT_EQ(streamed.status, 0) << streamed.output;
  ASSERT_EQ(loaded.status, 0) << loaded.output;
  EXPECT_NEAR(value_of(streamed.output, "loss"), value_of(loaded.output, "loss"), 1e-3);

  CliResult bad = run("train --model " + dir.file("model.json") + " " + data + " --stream --standardize --output " +
                      dir.file("x.safetensors"));
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("--standardize needs the data in memory"), std::string::npos) << bad.output;
}

TEST_F(Cli, FunctionalModelTrainsEvaluatesPredictsAndSummarises) {
  // The architecture as the library writes it (Keras 3's functional form): a residual block.
  {
    auto in = layers::Input({64});
    auto h = layers::Dense(32, "relu")(in);
    auto r = layers::Add("residual")({h, layers::Dense(32, "relu")(h)});
    Model arch(in, layers::Dense(10, "softmax")(r), "resnet");
    std::ofstream(dir.file("functional.json")) << arch.to_json();
  }
  const std::string data = "--data " + kData + "/digits.csv.gz --no-header";
  CliResult t = run("train --model " + dir.file("functional.json") + " " + data +
                    " --epochs 25 --batch-size 32 --learning-rate 0.003 --validation-split 0.2 --seed 4 --verbose 0 --output " +
                    dir.file("resnet.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_GT(value_of(t.output, "val_accuracy"), 0.85);  // chance is 0.1

  // The saved file is the functional model, and the program's numbers are the library's.
  Model model = load_model(dir.file("resnet.safetensors"));
  EXPECT_FALSE(model.is_sequential());
  auto csv = data::read_csv(kData + "/digits.csv.gz", {.header = false});
  CliResult e = run("evaluate " + dir.file("resnet.safetensors") + " " + data);
  ASSERT_EQ(e.status, 0) << e.output;
  const Logs scores = model.evaluate(csv.x, csv.y);
  EXPECT_NEAR(value_of(e.output, "loss"), scores.at("loss"), 1e-4);
  EXPECT_NEAR(value_of(e.output, "accuracy"), scores.at("accuracy"), 1e-6);
  CliResult p = run("predict " + dir.file("resnet.safetensors") + " " + data + " --target -1 --output " + dir.file("p.csv"));
  ASSERT_EQ(p.status, 0) << p.output;
  const Tensor expected = model.predict(csv.x);
  std::ifstream in(dir.file("p.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.substr(0, 14), "probability_0,");
  for (int64_t r = 0; r < expected.rows(); ++r) {
    ASSERT_TRUE(std::getline(in, line)) << "row " << r;
    std::istringstream cells(line);
    std::string cell;
    for (int64_t c = 0; c < 10; ++c) {
      ASSERT_TRUE(std::getline(cells, cell, ',')) << "row " << r;
      EXPECT_NEAR(std::stod(cell), expected.at(r, c), 1e-6) << "row " << r << " class " << c;
    }
  }
  EXPECT_FALSE(std::getline(in, line)) << "more rows than samples";

  CliResult s = run("summary " + dir.file("resnet.safetensors"));
  ASSERT_EQ(s.status, 0) << s.output;
  EXPECT_NE(s.output.find("Connected to"), std::string::npos) << s.output;
  EXPECT_NE(s.output.find("residual (Add)"), std::string::npos) << s.output;
  EXPECT_NE(s.output.find("dense[0][0], dense_1[0][0]"), std::string::npos) << s.output;
  ASSERT_EQ(model.count_params(), (64 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10));
  EXPECT_NE(s.output.find("Total params: 3,466"), std::string::npos) << s.output;
}

TEST_F(Cli, AFunctionalConfigWithACycleIsNamed) {
  std::ofstream(dir.file("cycle.json")) << R"({"class_name": "Functional", "config": {"name": "f", "layers": [
    {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 2], "name": "in"}, "inbound_nodes": []},
    {"class_name": "Dense", "name": "loop", "config": {"name": "loop", "units": 2},
     "inbound_nodes": [[["loop", 1, 0, {}]], [["in", 0, 0, {}]]]}],
    "input_layers": [["in", 0, 0]], "output_layers": [["loop", 0, 0]]}})";
  std::ofstream(dir.file("d.csv")) << "a,b,y\n1,2,3\n4,5,6\n";
  CliResult r = run("train --model " + dir.file("cycle.json") + " --data " + dir.file("d.csv") + " --verbose 0 --output " +
                    dir.file("o.safetensors"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("'loop'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a cycle"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("o.safetensors")));
}

TEST_F(Cli, AnOutputFromASharedLayerSetsTheDefaultLossAndTheColumns) {
  // The output is the second call of a shared softmax layer, which is not the last layer the model
  // lists: the program must still see a softmax classifier (cross-entropy, probabilities, classes).
  {
    auto in = layers::Input({64});
    auto shared = std::make_shared<layers::Dense>(10, "softmax");
    auto first = call_layer(shared, {layers::Dense(10)(in)});
    auto out = call_layer(shared, {layers::Dense(10, "relu")(first)});
    Model arch(in, out);
    ASSERT_NE(arch.layers().back(), arch.get_layer(arch.output_names()[0]));
    std::ofstream(dir.file("shared.json")) << arch.to_json();
  }
  const std::string data = "--data " + kData + "/digits.csv.gz --no-header";
  CliResult t = run("train --model " + dir.file("shared.json") + " " + data + " --epochs 1 --verbose 0 --output " +
                    dir.file("shared.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_NE(t.output.find("accuracy="), std::string::npos) << t.output;  // mse's default metric is mae
  EXPECT_EQ(load_model(dir.file("shared.safetensors")).loss().name(), "sparse_categorical_crossentropy");
  CliResult p = run("predict " + dir.file("shared.safetensors") + " " + data + " --target -1 --output " + dir.file("p.csv"));
  ASSERT_EQ(p.status, 0) << p.output;
  std::ifstream in(dir.file("p.csv"));
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.substr(0, 14), "probability_0,") << header;
  EXPECT_EQ(header.substr(header.size() - 6), ",class") << header;
}

TEST_F(Cli, ClassWeightBalancedAndExplicitWeighTheLoss) {
  // 6 rows of class 0 and 2 of class 1; a zero learning rate keeps the saved weights those the loss
  // was computed with, so the printed loss can be recomputed from the saved model.
  std::ofstream(dir.file("imbalanced.csv")) << "a,b,y\n0.1,0.9,0\n0.4,0.2,0\n0.8,0.5,0\n0.3,0.3,0\n0.9,0.1,0\n0.6,0.7,0\n"
                                               "0.2,0.6,1\n0.5,0.8,1\n";
  std::ofstream(dir.file("m.json")) << R"([{"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}])";
  auto csv = data::read_csv(dir.file("imbalanced.csv"), {.target_column = "y"});
  auto weighted_loss = [&](const std::string& model, double w0, double w1) {
    Sequential m = load_model(model);
    const Tensor p = m.predict(csv.x);
    double sum = 0;
    for (int64_t r = 0; r < p.rows(); ++r) {
      const int c = int(csv.y[r]);
      sum -= (c == 0 ? w0 : w1) * std::log(double(p.at(r, c)));
    }
    return sum / double(p.rows());
  };
  const std::string common = " --model " + dir.file("m.json") + " --data " + dir.file("imbalanced.csv") +
                             " --target y --epochs 1 --batch-size 8 --learning-rate 0 --verbose 0 --output ";
  CliResult balanced = run("train --class-weight balanced" + common + dir.file("balanced.safetensors"));
  ASSERT_EQ(balanced.status, 0) << balanced.output;
  // scikit-learn's balanced weights: 8 / (2 * 6) and 8 / (2 * 2).
  EXPECT_NEAR(value_of(balanced.output, "loss"), weighted_loss(dir.file("balanced.safetensors"), 8.0 / 12, 2.0), 1e-4);
  CliResult given = run("train --class-weight 0:1,1:4" + common + dir.file("given.safetensors"));
  ASSERT_EQ(given.status, 0) << given.output;
  EXPECT_NEAR(value_of(given.output, "loss"), weighted_loss(dir.file("given.safetensors"), 1.0, 4.0), 1e-4);
  CliResult unweighted = run("train" + common + dir.file("plain.safetensors"));
  ASSERT_EQ(unweighted.status, 0) << unweighted.output;
  EXPECT_NEAR(value_of(unweighted.output, "loss"), weighted_loss(dir.file("plain.safetensors"), 1.0, 1.0), 1e-4);

  CliResult bad = run("train --class-weight 0:1,one:4" + common + dir.file("bad.safetensors"));
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("'one:4' is not class:weight"), std::string::npos) << bad.output;
  CliResult negative = run("train --class-weight 1:-2" + common + dir.file("bad.safetensors"));
  EXPECT_EQ(negative.status, 1) << negative.output;
  CliResult streamed = run("train --class-weight balanced --stream" + common + dir.file("bad.safetensors"));
  EXPECT_EQ(streamed.status, 1) << streamed.output;
  EXPECT_NE(streamed.output.find("not available with --stream"), std::string::npos) << streamed.output;
}

TEST_F(Cli, TrainsInBfloat16WithPrecisionBf16) {
  std::ofstream(dir.file("digits.json")) << R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "Dense", "config": {"units": 32, "activation": "relu", "batch_input_shape": [null, 64]}},
      {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}]}})";
  CliResult bad = run("train --model " + dir.file("digits.json") + " --data " + kData +
                      "/digits.csv.gz --no-header --output " + dir.file("x.safetensors") + " --precision fp16");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("--precision"), std::string::npos) << bad.output;
  if (!mixed_precision::bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 dot products";
  CliResult t = run("train --model " + dir.file("digits.json") + " --data " + kData +
                    "/digits.csv.gz --no-header --epochs 25 --batch-size 32 --standardize --validation-split 0.2"
                    " --verbose 0 --precision bf16 --output " + dir.file("bf16.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_GT(value_of(t.output, "val_accuracy"), 0.85);  // as the float32 run above
  Model m = load_model(dir.file("bf16.safetensors"));
  EXPECT_EQ(m.layers().back()->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
}

namespace {
// Writes `rows` rows of `steps * features` numbers and a class column y, with a header; the cells
// and the class come from `row(r, cells) -> class`.
template <class Row>
void write_sequence_csv(const std::string& path, int64_t rows, int64_t width, Row row) {
  std::ofstream out(path);
  for (int64_t c = 0; c < width; ++c) out << "c" << c << ",";
  out << "y\n";
  std::vector<float> cells(size_t(width), 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const int label = row(r, cells);
    for (float v : cells) out << v << ",";
    out << label << "\n";
  }
}
}  // namespace

TEST_F(Cli, TokenSequenceModelFromKerasJsonTrainsEvaluatesAndSummarises) {
  // Keras 3's names and arguments, written by hand: token ids -> Embedding -> Bidirectional(LSTM)
  // -> GRU -> Dense(softmax). The class is whether id 3 occurs among the row's 8 ids (below 12):
  // about half the rows, so chance is about 0.5.
  std::ofstream(dir.file("tokens.json")) << R"({"class_name": "Sequential", "config": {"name": "tokens", "layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 8], "name": "ids"}},
      {"class_name": "Embedding", "config": {"name": "embed", "input_dim": 12, "output_dim": 8}},
      {"class_name": "Bidirectional", "config": {"name": "both_ways", "merge_mode": "concat",
        "layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 12, "return_sequences": true}}}},
      {"class_name": "GRU", "config": {"name": "gru", "units": 8}},
      {"class_name": "Dense", "config": {"name": "class", "units": 2, "activation": "softmax"}}]}})";
  Rng rng(5);
  write_sequence_csv(dir.file("tokens.csv"), 600, 8, [&](int64_t, std::vector<float>& ids) {
    int seen = 0;
    for (float& id : ids) {
      id = float(std::min(11, int(rng.uniform(0, 12))));
      seen |= id == 3;
    }
    return seen;
  });
  const std::string data = "--data " + dir.file("tokens.csv") + " --target y";
  CliResult t = run("train --model " + dir.file("tokens.json") + " " + data +
                    " --epochs 30 --batch-size 32 --learning-rate 0.01 --validation-split 0.25 --seed 3 --verbose 0 --output " +
                    dir.file("tokens.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_GT(value_of(t.output, "val_accuracy"), 0.85) << t.output;

  Model model = load_model(dir.file("tokens.safetensors"));
  auto csv = data::read_csv(dir.file("tokens.csv"), {.target_column = "y"});
  CliResult e = run("evaluate " + dir.file("tokens.safetensors") + " " + data);
  ASSERT_EQ(e.status, 0) << e.output;
  const Logs scores = model.evaluate(csv.x, csv.y);
  EXPECT_NEAR(value_of(e.output, "loss"), scores.at("loss"), 1e-4);
  EXPECT_NEAR(value_of(e.output, "accuracy"), scores.at("accuracy"), 1e-6);
  CliResult p = run("predict " + dir.file("tokens.safetensors") + " " + data + " --output " + dir.file("p.csv"));
  ASSERT_EQ(p.status, 0) << p.output;
  const Tensor expected = model.predict(csv.x);
  std::ifstream in(dir.file("p.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "probability_0,probability_1,class");
  for (int64_t r = 0; r < expected.rows(); ++r) {
    ASSERT_TRUE(std::getline(in, line)) << "row " << r;
    EXPECT_NEAR(std::stod(line), expected.at(r, 0), 1e-6) << "row " << r;
  }

  CliResult s = run("summary " + dir.file("tokens.safetensors"));
  ASSERT_EQ(s.status, 0) << s.output;
  for (const char* layer : {"embed (Embedding)", "both_ways (Bidirectional)", "gru (GRU)", "class (Dense)"})
    EXPECT_NE(s.output.find(layer), std::string::npos) << layer << " in\n" << s.output;
  // Embedding 12*8; LSTM 4*12*(8+12+1) twice; GRU 3*8*(24+8+2); Dense 8*2+2.
  ASSERT_EQ(model.count_params(), 96 + 2 * 1008 + 816 + 18);
  EXPECT_NE(s.output.find("Total params: 2,946"), std::string::npos) << s.output;
}

TEST_F(Cli, SequenceOfFeaturesThroughConvolutionAndAttentionTrains) {
  // A CSV row is flat: Reshape makes it (steps, features) = (8, 2) inside the model. The class is
  // whether some step's first feature exceeds its second by more than the median of that largest gap.
  {
    auto in = layers::Input({16});
    auto seq = layers::Reshape({8, 2})(in);
    auto c = layers::Conv1D(8, 3, "relu", {.padding = "same"})(seq);
    auto a = layers::MultiHeadAttention(2, 4, {.name = "self_attention"})({c, c});
    auto h = layers::LayerNormalization({.name = "norm"})(layers::Add()({c, a}));
    Model arch(in, layers::Dense(2, "softmax")(layers::GlobalMaxPooling1D()(h)), "conv_attention");
    std::ofstream(dir.file("conv.json")) << arch.to_json();
  }
  const int64_t rows = 600;
  std::vector<std::vector<float>> x(size_t(rows), std::vector<float>(16));
  std::vector<float> gap(size_t(rows), -INFINITY);
  Rng rng(9);
  for (int64_t r = 0; r < rows; ++r)
    for (int s = 0; s < 8; ++s) {
      x[size_t(r)][size_t(2 * s)] = rng.normal(0, 1);
      x[size_t(r)][size_t(2 * s + 1)] = rng.normal(0, 1);
      gap[size_t(r)] = std::max(gap[size_t(r)], x[size_t(r)][size_t(2 * s)] - x[size_t(r)][size_t(2 * s + 1)]);
    }
  std::vector<float> sorted = gap;
  std::nth_element(sorted.begin(), sorted.begin() + rows / 2, sorted.end());
  const float median = sorted[size_t(rows / 2)];
  write_sequence_csv(dir.file("steps.csv"), rows, 16, [&](int64_t r, std::vector<float>& cells) {
    cells = x[size_t(r)];
    return int(gap[size_t(r)] > median);
  });
  const std::string data = "--data " + dir.file("steps.csv") + " --target y";
  CliResult t = run("train --model " + dir.file("conv.json") + " " + data +
                    " --epochs 40 --batch-size 32 --learning-rate 0.01 --validation-split 0.25 --seed 3 --verbose 0 --output " +
                    dir.file("conv.safetensors"));
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_GT(value_of(t.output, "val_accuracy"), 0.85) << t.output;  // chance is 0.5
  CliResult s = run("summary " + dir.file("conv.safetensors"));
  ASSERT_EQ(s.status, 0) << s.output;
  for (const char* layer : {"(Reshape)", "(Conv1D)", "self_attention (MultiHeadAttention)", "norm (LayerNormalization)",
                            "(GlobalMaxPooling1D)"})
    EXPECT_NE(s.output.find(layer), std::string::npos) << layer << " in\n" << s.output;
  CliResult e = run("evaluate " + dir.file("conv.safetensors") + " " + data);
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_GT(value_of(e.output, "accuracy"), 0.85) << e.output;
}
