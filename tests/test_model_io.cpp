// Saving and loading models: the loaded model predicts exactly what the saved one did and trains on
// identically; architecture JSON; weights alone; errors for unknown classes and mismatched weights;
// and a plain Python + numpy reader finds every weight; a file written by the Sequential-only version
// (tests/fixtures) still loads and predicts what that version predicted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "myelin/myelin.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_mio_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

Sequential classifier() {
  Sequential m({layers::Flatten(Shape{4, 2}),
                layers::Dense(6, "relu", {.kernel_initializer = "he_normal", .kernel_regularizer = regularizers::L2(1e-3)}),
                layers::Dropout(0.25f), layers::Dense(3, "softmax")});
  m.compile(optimizers::Adam(2e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

void make_data(Tensor& x, Tensor& y) {
  x = Tensor({40, 4, 2});
  y = Tensor({40, 1});
  Rng r(9);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
  for (int64_t i = 0; i < 40; ++i) y[i] = float(i % 3);
}

bool same(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].shape() != b[i].shape() || a[i].to_vector() != b[i].to_vector()) return false;
  return true;
}
}  // namespace

TEST(ModelIO, LoadedModelPredictsAndTrainsExactlyAsTheSavedOne) {
  TempDir d;
  Tensor x, y;
  make_data(x, y);
  set_random_seed(3);
  Sequential m = classifier();
  m.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 1});
  m.save(d.file("m.safetensors"));
  Sequential loaded = load_model(d.file("m.safetensors"));
  EXPECT_EQ(loaded.summary_string(), m.summary_string());
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());
  EXPECT_EQ(loaded.evaluate(x, y)["loss"], m.evaluate(x, y)["loss"]);
  // Same optimizer state (Adam's moments and step count): further training stays identical.
  EXPECT_EQ(loaded.optimizer().iterations(), m.optimizer().iterations());
  m.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 5});
  loaded.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 5});
  EXPECT_TRUE(same(loaded.get_weights(), m.get_weights()));
}

TEST(ModelIO, ArchitectureJsonRoundTrip) {
  Sequential m = classifier();
  const std::string j = m.to_json();
  EXPECT_NE(j.find("\"class_name\":\"Sequential\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"units\":6"), std::string::npos) << j;
  EXPECT_NE(j.find("\"HeNormal\""), std::string::npos) << j;
  Sequential copy = model_from_json(j);
  EXPECT_EQ(copy.to_json(), j);
  EXPECT_EQ(copy.count_params(), m.count_params());
  // A bare {"layers": [...]} and Keras's layer dicts are enough.
  Sequential small = model_from_json(
      R"({"layers": [{"class_name": "Dense", "config": {"units": 4, "activation": "tanh", "batch_input_shape": [null, 3]}},
                     {"class_name": "Dense", "config": {"units": 1}}]})");
  EXPECT_EQ(small.count_params(), 3 * 4 + 4 + 4 + 1);
}

TEST(ModelIO, ClearErrors) {
  try {
    model_from_json(R"({"layers": [{"class_name": "Conv9D", "config": {}}]})");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("Conv9D"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model_from_json("{oops"), ValueError);
  EXPECT_THROW(model_from_json(R"({"layers": [{"class_name": "Dense", "config": {"activation": "relu"}}]})"), ValueError);
  TempDir d;
  Sequential m = classifier();
  m.save_weights(d.file("w.safetensors"));
  EXPECT_THROW(load_model(d.file("w.safetensors")), IOError);  // weights only: no architecture
  Sequential other({layers::Dense(2, "relu", Shape{8})});
  EXPECT_THROW(other.load_weights(d.file("w.safetensors")), IOError);
}

TEST(ModelIO, WeightsOnlyRoundTrip) {
  TempDir d;
  set_random_seed(1);
  Sequential a = classifier();
  set_random_seed(2);
  Sequential b = classifier();
  ASSERT_FALSE(same(a.get_weights(), b.get_weights()));
  a.save_weights(d.file("w.safetensors"));
  b.load_weights(d.file("w.safetensors"));
  EXPECT_TRUE(same(a.get_weights(), b.get_weights()));
}

TEST(ModelIO, FailedSaveKeepsThePreviousFile) {
  TempDir d;
  Sequential m = classifier();
  m.save(d.file("m.safetensors"));
  const auto before = fs::file_size(d.file("m.safetensors"));
  // A directory where the file should go cannot be replaced: the save fails, nothing is lost.
  fs::create_directories(d.file("dir.safetensors"));
  EXPECT_THROW(m.save(d.file("dir.safetensors")), IOError);
  EXPECT_THROW(m.save(d.file("no/such/dir/m.safetensors")), IOError);
  EXPECT_EQ(fs::file_size(d.file("m.safetensors")), before);
  EXPECT_NO_THROW(load_model(d.file("m.safetensors")));
}

TEST(ModelIO, PlainPythonReadsEveryWeight) {
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) GTEST_SKIP() << "numpy is not installed";
  TempDir d;
  Sequential m = classifier();
  m.save(d.file("m.safetensors"));
  const std::string cmd = std::string("/usr/bin/python3 ") + MYELIN_TESTS_DIR + "/pytorch/read_safetensors.py " +
                          d.file("m.safetensors") + " > " + d.file("out.txt");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::map<std::string, std::pair<std::string, double>> seen;
  std::ifstream in(d.file("out.txt"));
  std::string name, shape, meta;
  double sum, first;
  while (in >> name) {
    if (name == "metadata") {
      in >> meta;
      break;
    }
    in >> shape >> sum >> first;
    seen[name] = {shape, sum};
  }
  for (const auto& p : m.weights()) {
    ASSERT_TRUE(seen.count(p.name)) << p.name << " not found by the Python reader";
    std::string expect_shape;
    for (size_t i = 0; i < p.value->shape().size(); ++i) expect_shape += (i ? "x" : "") + std::to_string(p.value->shape()[i]);
    EXPECT_EQ(seen[p.name].first, expect_shape) << p.name;
    double s = 0;
    for (int64_t i = 0; i < p.value->size(); ++i) s += (*p.value)[i];
    EXPECT_NEAR(seen[p.name].second, s, 1e-6 * (1 + std::fabs(s))) << p.name;
  }
  EXPECT_NE(meta.find("architecture"), std::string::npos);
  EXPECT_NE(meta.find("myelin_version"), std::string::npos);
}

TEST(ModelIO, HostileArchitectureMetadataIsAClearError) {
  // Architectures written by hand or by an attacker: each gives an error naming the file, never a
  // crash. A million nested lists would overflow the stack if the reader ever printed them back.
  TempDir d;
  auto file_with_architecture = [&](const std::string& arch) {
    nlohmann::json header = {{"__metadata__", {{"architecture", arch}}}};
    std::string text = header.dump();
    std::ofstream out(d.file("h.safetensors"), std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(char((uint64_t(text.size()) >> (8 * i)) & 0xff));
    out << text;
    return d.file("h.safetensors");
  };
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  for (const std::string& arch :
       {R"({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": )" + deep + "}]}}",
        R"({"class_name": )" + deep + R"(, "config": {"layers": []}})",
        std::string(R"({"class_name": "Sequential", "config": {"name": 7, "layers": []}})"),
        std::string(R"({"config": {"layers": [{"class_name": "Flatten", "config": {}}], "build_input_shape": [null, "x"]}})"),
        std::string(R"({"config": {"layers": [{"class_name": "Flatten", "config": {}}], "build_input_shape": [null, -4, 3]}})"),
        // Layers that do not fit together: a convolution over rows of 5 numbers.
        std::string(R"({"config": {"layers": [{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": [3, 3]}}], )"
                    R"("build_input_shape": [null, 5]}})")}) {
    try {
      load_model(file_with_architecture(arch));
      ADD_FAILURE() << "accepted: " << arch.substr(0, 120);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("h.safetensors"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(model_from_json(R"({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": )" +
                               deep + "}]}}"),
               ValueError);
}

TEST(ModelIO, HugeArchitectureInASmallFileIsRefusedBeforeAllocating) {
  TempDir d;
  Sequential m({layers::Dense(2, "relu", Shape{3}), layers::Dense(1)});
  m.save(d.file("small.safetensors"));
  // Rewrite the architecture to claim 4e9 units, keeping the tiny weights.
  auto f = io::read_safetensors(d.file("small.safetensors"));
  std::string arch = f.metadata.at("architecture");
  const std::string from = "\"units\":2", to = "\"units\":4000000000";
  ASSERT_NE(arch.find(from), std::string::npos) << arch;
  arch.replace(arch.find(from), from.size(), to);
  f.metadata["architecture"] = arch;
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for (const auto& [n, t] : f.tensors) tensors.emplace_back(n, &t);
  io::write_safetensors(d.file("hostile.safetensors"), tensors, f.metadata);
  try {
    load_model(d.file("hostile.safetensors"));
    FAIL() << "expected an IOError";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("hostile.safetensors"), std::string::npos) << e.what();
  }
}

TEST(ModelIO, ConvolutionalLayersRoundTrip) {
  TempDir d;
  set_random_seed(8);
  Sequential m({layers::ZeroPadding2D(1, Shape{9, 8, 2}),
                layers::Conv2D(4, {3, 3}, "relu", {.strides = 2, .padding = "same"}),
                layers::BatchNormalization(),
                layers::MaxPooling2D({2, 2}),
                layers::SpatialDropout2D(0.1f),
                layers::AveragePooling2D(layers::Size2(1, 1)),
                layers::Reshape({6, 4}),
                layers::Dense(3, "tanh"),
                layers::Flatten(),
                layers::Dense(2, "softmax")});
  Sequential g({layers::Conv2D(3, 2, "linear", {.input_shape = Shape{5, 5, 1}}), layers::GlobalMaxPooling2D(),
                layers::Dense(1, "sigmoid")});
  m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  Tensor x({6, 9, 8, 2}), y({6, 1}, {0, 1, 0, 1, 1, 0});
  Rng r(2);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
  m.fit(x, y, {.epochs = 2, .batch_size = 3, .verbose = 0});  // moves BatchNormalization's statistics
  for (Sequential* model : {&m, &g}) {
    model->save(d.file("cnn.safetensors"));
    Sequential loaded = load_model(d.file("cnn.safetensors"));
    EXPECT_EQ(loaded.to_json(), model->to_json());
    const Tensor& in = model == &m ? x : Tensor::full({2, 5, 5, 1}, 0.5f);
    EXPECT_EQ(loaded.predict(in).to_vector(), model->predict(in).to_vector());
  }
}

namespace {
const std::string kFixtures = std::string(MYELIN_TESTS_DIR) + "/fixtures/";

// Rows of numbers from a CSV file with one header line.
std::vector<std::vector<double>> read_numbers(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<std::vector<double>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    rows.emplace_back();
    for (std::string c; std::getline(cells, c, ',');) rows.back().push_back(std::stod(c));
  }
  return rows;
}

// name=value lines, as `myelin evaluate` prints them.
std::map<std::string, double> read_values(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::map<std::string, double> values;
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos) values[line.substr(0, eq)] = std::stod(line.substr(eq + 1));
  return values;
}
}  // namespace

TEST(ModelIO, FileOfTheSequentialOnlyVersionStillLoads) {
  // Written by the version before models became graphs; see tests/fixtures/README.md.
  Model m = load_model(kFixtures + "iris_sequential_8da6108.safetensors");
  EXPECT_TRUE(m.is_sequential());
  ASSERT_EQ(m.layers().size(), 3u);
  EXPECT_EQ(m.layers()[0]->class_name(), "Normalization");
  EXPECT_EQ(m.count_params(), 43);
  auto iris = data::read_csv(std::string(MYELIN_TEST_DATA_DIR) + "/iris.csv", {.skip_rows = 1, .header = false});
  const Tensor p = m.predict(iris.x);
  const auto recorded = read_numbers(kFixtures + "iris_sequential_8da6108.predictions.csv");
  ASSERT_EQ(int64_t(recorded.size()), p.rows());
  for (int64_t r = 0; r < p.rows(); ++r) {
    ASSERT_EQ(recorded[size_t(r)].size(), 4u) << "row " << r;
    for (int64_t c = 0; c < 3; ++c)  // printed with 8 significant digits
      EXPECT_NEAR(p.at(r, c), recorded[size_t(r)][size_t(c)], 2e-7) << "row " << r << " class " << c;
    EXPECT_EQ(int(std::max_element(p.data() + r * 3, p.data() + r * 3 + 3) - (p.data() + r * 3)), int(recorded[size_t(r)][3]));
  }
  const auto evaluated = read_values(kFixtures + "iris_sequential_8da6108.evaluate.txt");
  const Logs now = m.evaluate(iris.x, iris.y);
  EXPECT_NEAR(now.at("loss"), evaluated.at("loss"), 1e-5);  // printed with 6 significant digits
  EXPECT_NEAR(now.at("accuracy"), evaluated.at("accuracy"), 1e-5);
  // Its compile settings and Adam's state came along: training goes on from them.
  ASSERT_TRUE(m.compiled());
  m.fit(iris.x, iris.y, {.epochs = 3, .batch_size = 16, .verbose = 0, .seed = 1});
  EXPECT_LT(m.evaluate(iris.x, iris.y).at("loss"), now.at("loss"));
}
