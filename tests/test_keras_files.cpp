// Keras's model files (.keras in and out, Keras 2 .h5 in): myelin's own models round-trip exactly,
// the weights sit where Keras 3 puts them (layers/<snake_case class>/vars/<i>, read back here with
// HDF5's C library directly), a hand-made tf.keras-2 .h5 loads, and hostile files (a zip bomb, an
// entry escaping the folder, an oversized config.json, a weight of the wrong shape, a truncated
// file, an HDF5 file with cyclic and deeply nested groups) are clear errors naming the file.
// tests/python/test_keras_files.py checks the same files against Keras 3 itself. The last tests run
// `myelin convert` as a user would: round trips predict the same, and failures leave no file behind.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_runner.hpp"
#include "expect_error.hpp"
#include "io/keras_file.hpp"
#include "io/keras_weight_layout.hpp"
#include "myelin/io/hdf5_file.hpp"
#include "myelin/io/zip_archive.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::expect_error;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_keras_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

Tensor random_input(Shape shape, uint64_t seed) {
  Tensor x(shape);
  Rng r(seed);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(0, 1);
  return x;
}

Model functional_residual() {
  auto inputs = layers::Input({6, 6, 2});
  auto x = layers::Conv2D(4, {3, 3}, "linear", {.padding = "same"})(inputs);
  x = layers::BatchNormalization()(x);
  auto y = layers::Conv2D(4, {3, 3}, "relu", {.padding = "same"})(x);
  x = layers::Activation("relu")(layers::Add()({x, y}));
  x = layers::GlobalAveragePooling2D()(x);
  Model m(inputs, layers::Dense(3, "softmax")(x));
  m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

Sequential mlp() {
  Sequential m({layers::Flatten(Shape{4, 3}), layers::Dense(5, "relu"), layers::BatchNormalization(), layers::Dense(2, "softmax")});
  m.compile(optimizers::SGD(0.1), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The entries of a .keras file, to be changed and zipped again.
std::map<std::string, std::string> entries(const std::string& path) {
  io::ZipReader z(path);
  std::map<std::string, std::string> out;
  for (const auto& n : z.names()) out[n] = z.read(n, uint64_t(1) << 30);
  return out;
}

void rezip(const std::string& path, const std::map<std::string, std::string>& files) {
  std::vector<std::pair<std::string, std::string>> list(files.begin(), files.end());
  write_bytes(path, io::make_zip(list, path));
}

// A zip of one entry whose headers declare `declared` bytes uncompressed: the bytes a zip bomb's
// headers carry, without the bomb.
std::string zip_declaring(const std::string& name, const std::string& stored, uint64_t declared, uint16_t method) {
  auto u16 = [](std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); };
  auto u32 = [](std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  const uint32_t size = uint32_t(std::min<uint64_t>(declared, 0xFFFFFFFEu));
  std::string local;
  u32(local, 0x04034b50);
  u16(local, 20), u16(local, 0), u16(local, method), u16(local, 0), u16(local, 0);
  u32(local, 0), u32(local, uint32_t(stored.size())), u32(local, size);
  u16(local, uint16_t(name.size())), u16(local, 0);
  local += name + stored;
  std::string central;
  u32(central, 0x02014b50);
  u16(central, 20), u16(central, 20), u16(central, 0), u16(central, method), u16(central, 0), u16(central, 0);
  u32(central, 0), u32(central, uint32_t(stored.size())), u32(central, size);
  u16(central, uint16_t(name.size())), u16(central, 0), u16(central, 0), u16(central, 0), u16(central, 0);
  u32(central, 0), u32(central, 0);
  central += name;
  std::string end;
  u32(end, 0x06054b50);
  u16(end, 0), u16(end, 0), u16(end, 1), u16(end, 1);
  u32(end, uint32_t(central.size())), u32(end, uint32_t(local.size()));
  u16(end, 0);
  return local + central + end;
}

std::vector<float> h5_floats(hid_t file, const std::string& path) {
  hid_t d = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t s = H5Dget_space(d);
  std::vector<float> v(size_t(H5Sget_simple_extent_npoints(s)));
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Sclose(s);
  H5Dclose(d);
  return v;
}

// Writes tf.keras 2.x's layout at `path`: model_config and training_config as attributes, weights
// under model_weights/<layer>/<layer>/<name>:0, listed in order by weight_names. A Dense(2) over 3
// inputs with kernel rows [-1, -0.5], [0, 0.5], [1, 1.5] and bias [0.25, -0.5].
void write_tf_keras2_h5(const std::string& path) {
  const json config = {{"class_name", "Sequential"},
                       {"config", {{"name", "sequential"},
                                   {"layers", {{{"class_name", "InputLayer"}, {"config", {{"batch_input_shape", {nullptr, 3}}, {"name", "in"}}}},
                                               {{"class_name", "Dense"}, {"config", {{"name", "dense"}, {"units", 2}, {"activation", "linear"}}}}}}}}};
  const json training = {{"loss", "mse"}, {"metrics", {"mae"}}, {"optimizer_config", {{"class_name", "SGD"}, {"config", {{"learning_rate", 0.05}}}}}};
  {
    io::Hdf5File h5 = io::Hdf5File::create(path);
    h5.make_group("model_weights");
    Tensor kernel({3, 2}), bias({2});
    for (int i = 0; i < 6; ++i) kernel[i] = 0.5f * float(i) - 1.f;
    bias[0] = 0.25f, bias[1] = -0.5f;
    // The bias first in the group, the kernel first in weight_names: order comes from weight_names.
    h5.write("model_weights/dense/dense/bias:0", bias);
    h5.write("model_weights/dense/dense/kernel:0", kernel);
    write_bytes(path, h5.image());
  }
  // String-list attributes as h5py writes them (fixed-length), with the C library.
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) throw std::runtime_error("cannot reopen " + path);
  auto set_strings = [&](const char* obj, const char* name, const std::vector<std::string>& values) {
    size_t width = 1;
    for (const auto& v : values) width = std::max(width, v.size());
    std::string buf(width * values.size(), '\0');
    for (size_t i = 0; i < values.size(); ++i) std::memcpy(&buf[i * width], values[i].data(), values[i].size());
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    hsize_t n = values.size();
    hid_t s = values.size() == 1 && std::string(name).find("config") != std::string::npos ? H5Screate(H5S_SCALAR)
                                                                                            : H5Screate_simple(1, &n, nullptr);
    hid_t a = H5Acreate_by_name(f, obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, buf.data());
    H5Aclose(a), H5Sclose(s), H5Tclose(t);
  };
  set_strings("/", "model_config", {config.dump()});
  set_strings("/", "training_config", {training.dump()});
  set_strings("model_weights", "layer_names", {"in", "dense"});
  set_strings("model_weights/dense", "weight_names", {"dense/kernel:0", "dense/bias:0"});
  H5Fclose(f);
}
}  // namespace

TEST(KerasFiles, SnakeCaseMatchesKerasNaming) {
  EXPECT_EQ(io::keras_snake_case("Dense"), "dense");
  EXPECT_EQ(io::keras_snake_case("Conv2D"), "conv2d");
  EXPECT_EQ(io::keras_snake_case("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(io::keras_snake_case("GlobalAveragePooling2D"), "global_average_pooling2d");
  EXPECT_EQ(io::keras_snake_case("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(io::keras_snake_case("InputLayer"), "input_layer");
}

TEST(KerasFiles, SequentialRoundTripsExactlyWithWeightsWhereKerasPutsThem) {
  TempDir d;
  Sequential m = mlp();
  Tensor x = random_input({16, 4, 3}, 1);
  Tensor y({16, 1});
  for (int64_t i = 0; i < 16; ++i) y[i] = float(i % 2);
  m.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0});
  const std::string path = d.file("mlp.keras");
  m.save(path);
  Model back = load_model(path);
  EXPECT_TRUE(back.compiled());
  const Tensor a = m.predict(x), b = back.predict(x);
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);

  // Keras 3's layout, read with HDF5 itself: the second Dense is layers/dense_1, BN's four
  // variables are gamma, beta, moving mean, moving variance.
  const std::string h5 = entries(path).at("model.weights.h5");
  const std::string h5_path = d.file("w.h5");
  write_bytes(h5_path, h5);
  hid_t f = H5Fopen(h5_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const auto weights = m.weights();
  std::map<std::string, const Tensor*> by_name;
  for (const auto& p : weights) by_name[p.name] = p.value;
  const std::string dense1 = m.layers()[3]->name(), bn = m.layers()[2]->name();
  const std::vector<std::pair<std::string, std::string>> where = {
      {"layers/dense_1/vars/0", dense1 + "/kernel"},     {"layers/dense_1/vars/1", dense1 + "/bias"},
      {"layers/batch_normalization/vars/0", bn + "/gamma"}, {"layers/batch_normalization/vars/1", bn + "/beta"},
      {"layers/batch_normalization/vars/2", bn + "/moving_mean"}, {"layers/batch_normalization/vars/3", bn + "/moving_variance"}};
  for (const auto& [h5_name, weight] : where) {
    const auto v = h5_floats(f, h5_name);
    const Tensor* t = by_name.at(weight);
    ASSERT_EQ(int64_t(v.size()), t->size()) << h5_name;
    for (int64_t i = 0; i < t->size(); ++i) EXPECT_EQ(v[size_t(i)], (*t)[i]) << h5_name;
  }
  H5Fclose(f);
}

TEST(KerasFiles, FunctionalRoundTripsExactly) {
  TempDir d;
  Model m = functional_residual();
  Tensor x = random_input({8, 6, 6, 2}, 2);
  Tensor y({8, 1});
  for (int64_t i = 0; i < 8; ++i) y[i] = float(i % 3);
  m.fit(x, y, {.epochs = 1, .batch_size = 4, .verbose = 0});
  m.save(d.file("res.keras"));
  Model back = load_model(d.file("res.keras"));
  const Tensor a = m.predict(x), b = back.predict(x);
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  const json config = json::parse(entries(d.file("res.keras")).at("config.json"));
  EXPECT_EQ(config["class_name"], "Functional");
  EXPECT_EQ(config["config"]["layers"][1]["module"], "keras.layers");
}

TEST(KerasFiles, HandMadeTfKeras2H5Loads) {
  TempDir d;
  const std::string path = d.file("tf2.h5");
  write_tf_keras2_h5(path);
  Model m = load_model(path);
  EXPECT_TRUE(m.compiled());
  Tensor x({1, 3});
  x[0] = 1, x[1] = 2, x[2] = 3;
  const Tensor p = m.predict(x);
  // kernel rows [-1, -0.5], [0, 0.5], [1, 1.5]: x @ kernel + bias.
  EXPECT_FLOAT_EQ(p[0], -1.f + 0.f + 3.f + 0.25f);
  EXPECT_FLOAT_EQ(p[1], -0.5f + 1.f + 4.5f - 0.5f);
}

TEST(KerasFiles, UnknownLayerClassIsNamedWithTheFile) {
  TempDir d;
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  auto files = entries(d.file("ok.keras"));
  json config = json::parse(files["config.json"]);
  config["config"]["layers"][2]["class_name"] = "Lambda";
  files["config.json"] = config.dump();
  const std::string path = d.file("lambda.keras");
  rezip(path, files);
  expect_error<ValueError>([&] { load_model(path); }, {"Lambda", path});
}

TEST(KerasFiles, ZipBombIsRefusedBeforeInflating) {
  TempDir d;
  // Headers declaring 4 GB for config.json (over the 64 MB limit) over ten stored bytes.
  const std::string declared = d.file("declared.keras");
  write_bytes(declared, zip_declaring("config.json", "0123456789", 0xFFFFFFF0u, 8));
  expect_error<IOError>([&] { load_model(declared); }, {declared, "config.json", "limit"});
  // A real bomb: 64 MB of zeros deflate to about 64 KB, a ratio no weights file has.
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  auto files = entries(d.file("ok.keras"));
  files["model.weights.h5"] = std::string(64u << 20, '\0');
  const std::string bomb = d.file("bomb.keras");
  rezip(bomb, files);
  EXPECT_LT(fs::file_size(bomb), uint64_t(2) << 20);
  expect_error<IOError>([&] { load_model(bomb); }, {bomb, "zip bomb"});
}

TEST(KerasFiles, EntryEscapingTheFolderIsRefused) {
  TempDir d;
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  auto files = entries(d.file("ok.keras"));
  files["../x"] = "evil";
  const std::string path = d.file("escape.keras");
  rezip(path, files);
  expect_error<IOError>([&] { load_model(path); }, {path, "../x", "escapes"});
}

TEST(KerasFiles, WeightShapeDisagreeingWithTheConfigIsNamed) {
  TempDir d;
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  auto files = entries(d.file("ok.keras"));
  json config = json::parse(files["config.json"]);
  config["config"]["layers"][4]["config"]["units"] = 3;  // the last Dense: the file holds 2 units
  files["config.json"] = config.dump();
  const std::string path = d.file("shape.keras");
  rezip(path, files);
  expect_error<IOError>([&] { load_model(path); }, {path, "layers/dense_1/vars/0", "(5, 2)", "(5, 3)"});
}

TEST(KerasFiles, TruncatedFilesAreClearErrors) {
  TempDir d;
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  const std::string bytes = read_bytes(d.file("ok.keras"));
  for (size_t keep : {size_t(0), size_t(10), bytes.size() / 2, bytes.size() - 5}) {
    const std::string path = d.file("cut" + std::to_string(keep) + ".keras");
    write_bytes(path, bytes.substr(0, keep));
    expect_error<IOError>([&] { load_model(path); }, {path});
  }
  // A whole zip holding a truncated weights file.
  auto files = entries(d.file("ok.keras"));
  files["model.weights.h5"].resize(files["model.weights.h5"].size() / 2);
  rezip(d.file("cut_h5.keras"), files);
  expect_error<IOError>([&] { load_model(d.file("cut_h5.keras")); }, {d.file("cut_h5.keras")});
  // And a truncated Keras 2 .h5.
  write_bytes(d.file("cut.h5"), files["model.weights.h5"]);
  expect_error<IOError>([&] { load_model(d.file("cut.h5")); }, {d.file("cut.h5")});
}

TEST(KerasFiles, CyclicAndDeeplyNestedGroupsCostNothing) {
  // Hard links can make an HDF5 group its own descendant; myelin opens only the paths Keras's
  // layout names, so neither a cycle nor a chain 300 groups deep is walked.
  TempDir d;
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  auto files = entries(d.file("ok.keras"));
  const std::string h5_path = d.file("cyclic.h5");
  {
    hid_t f = H5Fcreate(h5_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Lcreate_hard(f, "/", f, "layers/dense", H5P_DEFAULT, H5P_DEFAULT);  // layers/dense is the root
    H5Lcreate_hard(f, "layers", f, "layers/batch_normalization", H5P_DEFAULT, H5P_DEFAULT);
    std::string deep = "deep";
    for (int i = 0; i < 300; ++i) {
      hid_t n = H5Gcreate2(f, deep.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Gclose(n);
      deep += "/g";
    }
    H5Fclose(f);
  }
  files["model.weights.h5"] = read_bytes(h5_path);
  const std::string path = d.file("cyclic.keras");
  rezip(path, files);
  expect_error<IOError>([&] { load_model(path); }, {path, "layers/dense/vars"});
}

TEST(KerasFiles, MissingPartsAndWritingH5AreRefused) {
  TempDir d;
  Sequential m = mlp();
  m.save(d.file("ok.keras"));
  auto files = entries(d.file("ok.keras"));
  files.erase("model.weights.h5");
  rezip(d.file("noweights.keras"), files);
  expect_error<IOError>([&] { load_model(d.file("noweights.keras")); }, {d.file("noweights.keras"), "model.weights.h5"});
  expect_error<ValueError>([&] { m.save(d.file("out.h5")); }, {d.file("out.h5"), ".keras"});
}

// `myelin convert IN OUT`, run as a program. Skipped when the myelin_cli target was not built.
class KerasConvertCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(myelin::test::cli())) GTEST_SKIP() << "build the myelin_cli target first (" << myelin::test::cli() << ")";
  }
  TempDir d;

  // The folder's file names, to see that a failed conversion left nothing behind.
  std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(d.path)) names.insert(e.path().filename().string());
    return names;
  }
};

TEST_F(KerasConvertCli, SafetensorsToKerasAndBackPredictsTheSame) {
  Sequential m = mlp();
  Tensor x = random_input({16, 4, 3}, 3);
  Tensor y({16, 1});
  for (int i = 0; i < 16; ++i) y[i] = float(i % 2);
  m.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0});  // moves the batch normalization's statistics off their start
  const Tensor expected = m.predict(x);
  m.save(d.file("m.safetensors"));

  auto r = myelin::test::run("convert " + d.file("m.safetensors") + " " + d.file("m.keras"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = myelin::test::run("convert " + d.file("m.keras") + " " + d.file("back.safetensors"));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* name : {"m.keras", "back.safetensors"}) {
    Model loaded = load_model(d.file(name));
    const Tensor p = loaded.predict(x);
    ASSERT_EQ(p.shape(), expected.shape()) << name;
    for (int64_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i], expected[i]) << name << " at " << i;
    EXPECT_TRUE(loaded.compiled()) << name;  // the compile settings travel through .keras
  }
}

TEST_F(KerasConvertCli, Keras2H5Converts) {
  write_tf_keras2_h5(d.file("tf2.h5"));
  for (const char* out : {"from_h5.keras", "from_h5.safetensors"}) {
    auto r = myelin::test::run("convert " + d.file("tf2.h5") + " " + d.file(out));
    ASSERT_EQ(r.status, 0) << r.output;
    Model m = load_model(d.file(out));
    const Tensor p = m.predict(Tensor({1, 3}, {1, 2, 3}));
    EXPECT_FLOAT_EQ(p[0], -1.f + 0.f + 3.f + 0.25f) << out;  // x @ kernel + bias, as the file holds them
    EXPECT_FLOAT_EQ(p[1], -0.5f + 1.f + 4.5f - 0.5f) << out;
  }
}

TEST_F(KerasConvertCli, WritingH5IsRefusedAndWritesNothing) {
  Sequential m = mlp();
  m.build();
  m.save(d.file("m.safetensors"));
  const auto before = listing();
  auto r = myelin::test::run("convert " + d.file("m.safetensors") + " " + d.file("out.h5"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(d.file("out.h5")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(".keras"), std::string::npos) << r.output;  // says what it writes instead
  EXPECT_EQ(listing(), before);
}

TEST_F(KerasConvertCli, MissingOrDamagedInputIsNamed) {
  auto r = myelin::test::run("convert " + d.file("absent.keras") + " " + d.file("out.safetensors"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(d.file("absent.keras")), std::string::npos) << r.output;

  Sequential m = mlp();
  m.build();
  m.save(d.file("ok.keras"));
  m.save(d.file("ok.safetensors"));
  const std::string keras_bytes = read_bytes(d.file("ok.keras")), st_bytes = read_bytes(d.file("ok.safetensors"));
  write_bytes(d.file("cut.keras"), keras_bytes.substr(0, keras_bytes.size() / 2));
  write_bytes(d.file("cut.safetensors"), st_bytes.substr(0, st_bytes.size() / 2));
  write_bytes(d.file("text.h5"), "not an HDF5 file\n");
  for (const char* name : {"cut.keras", "cut.safetensors", "text.h5"}) {
    r = myelin::test::run("convert " + d.file(name) + " " + d.file("out.keras"));
    EXPECT_EQ(r.status, 1) << name << ": " << r.output;
    EXPECT_NE(r.output.find(d.file(name)), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(d.file("out.keras"))) << name;
  }
}

TEST_F(KerasConvertCli, AFailedConversionLeavesTheOldOutputWhole) {
  Sequential m = mlp();
  m.build();
  m.save(d.file("ok.keras"));
  const std::string bytes = read_bytes(d.file("ok.keras"));
  write_bytes(d.file("cut.keras"), bytes.substr(0, bytes.size() - 100));
  write_bytes(d.file("out.safetensors"), "the previous file");
  const auto before = listing();
  auto r = myelin::test::run("convert " + d.file("cut.keras") + " " + d.file("out.safetensors"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(read_bytes(d.file("out.safetensors")), "the previous file");
  EXPECT_EQ(listing(), before);  // no temporary file left beside it
  // An output folder that does not exist: refused, naming the path, nothing written.
  r = myelin::test::run("convert " + d.file("ok.keras") + " " + d.file("no_such_dir/out.safetensors"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(d.file("no_such_dir/out.safetensors")), std::string::npos) << r.output;
  EXPECT_EQ(listing(), before);
}
