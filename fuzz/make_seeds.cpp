// Writes the seed corpus of the fuzz targets: small valid inputs of every kind each reader accepts,
// from which the fuzzer mutates. Run from the fuzz build: make_fuzz_seeds fuzz/corpus
// (the files are committed; rerun only when a format changes).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/file_reader.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string gzip(const fs::path& tmp, const std::string& bytes) {
  data::detail::write_gzip(tmp.string(), bytes);
  std::string z = read(tmp);
  fs::remove(tmp);
  return z;
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// An IDX file: magic 00 00 <type> <ndim>, big-endian sizes, then `payload`.
std::string idx(int type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {0, 0, char(type), char(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + payload;
}

void idx_seeds(const fs::path& dir) {
  std::string images;  // 2 images of 3x3 bytes
  for (int i = 0; i < 18; ++i) images += char(i * 14);
  write(dir / "ubyte_images.idx", idx(0x08, {2, 3, 3}, images));
  write(dir / "ubyte_images.idx.gz", gzip(dir / "tmp", idx(0x08, {2, 3, 3}, images)));
  write(dir / "labels.idx", idx(0x08, {4}, std::string{1, 0, 9, 3}));
  write(dir / "sbyte.idx", idx(0x09, {3}, std::string{char(-1), 0, 127}));
  write(dir / "int16.idx", idx(0x0B, {2}, std::string{char(0xff), char(0xfe), 0x01, 0x00}));
  write(dir / "int32.idx", idx(0x0C, {1, 2}, be32(0x80000000u) + be32(7)));
  write(dir / "float32.idx", idx(0x0D, {2}, be32(0x3fc00000u) + be32(0xc0200000u)));  // 1.5, -2.5
  write(dir / "float64.idx", idx(0x0E, {1}, be32(0x3ff80000u) + be32(0)));            // 1.5
  write(dir / "empty_dim.idx", idx(0x08, {0, 28}, ""));
}

// The first byte of a fuzz_csv input picks the options (see fuzz_csv.cpp); 0 is the default
// (comma, header, last column as target).
void csv_seeds(const fs::path& dir) {
  const std::string plain = "a,b,y\n1,2.5,0\n-3e2,+4,1\n";
  write(dir / "header_comma.csv", std::string(1, '\0') + plain);
  write(dir / "header_comma.csv.gz", std::string(1, '\0') + gzip(dir / "tmp", plain));
  write(dir / "no_header_semicolon.csv", std::string(1, char(1 | 4)) + "1;2;3\n4;5;6\n");
  write(dir / "tab_first_target.csv", std::string(1, char(2 | 16)) + "y\tx1\tx2\n0\t1.25\t2\n1\t3\t4\n");
  write(dir / "space_no_target.csv", std::string(1, char(3 | 32)) + "x1   x2\n  1  2\n\n3\t4\n");
  write(dir / "quoted_crlf_bom.csv",
        std::string(1, char(48)) + "\xEF\xBB\xBF\"x\",\"y\"\r\n\"1.5\",\"2\"\r\n\"3\", 4\r\n");
  write(dir / "skip_row_named_target.csv", std::string(1, char(8 | 48)) + "# meta\nx,y,z\n1,2,3\n");
}

Sequential classifier() {
  Sequential m({layers::Flatten(Shape{2, 2}),
                layers::Dense(3, "relu", {.kernel_initializer = "he_normal", .kernel_regularizer = regularizers::L2(1e-3)}),
                layers::Dropout(0.25f), layers::Dense(2, "softmax")});
  return m;
}

void model_seeds(const fs::path& st_dir, const fs::path& json_dir) {
  set_random_seed(1);
  {
    Sequential m = classifier();
    m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
    Tensor x({4, 2, 2}), y({4, 1});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = float(i % 5) - 2;
    for (int64_t i = 0; i < 4; ++i) y[i] = float(i % 2);
    m.fit(x, y, {.epochs = 1, .batch_size = 2, .verbose = 0});
    m.save((st_dir / "compiled_adam.safetensors").string());
    m.save_weights((st_dir / "weights_only.safetensors").string());
    write(json_dir / "classifier.json", m.to_json());
  }
  {
    Sequential m = classifier();
    m.save((st_dir / "uncompiled.safetensors").string());
  }
  {
    Sequential m({layers::Normalization(Shape{3}), layers::Dense(1)});
    m.compile(optimizers::SGD(0.01, 0.9), "huber");
    m.save((st_dir / "normalization_sgd.safetensors").string());
    write(json_dir / "normalization.json", m.to_json());
  }
  {
    Sequential m({layers::Dense(2, "tanh", {.input_shape = Shape{2}, .use_bias = false}), layers::Activation("sigmoid")});
    m.compile(optimizers::RMSprop(), "binary_crossentropy");
    m.save((st_dir / "rmsprop.safetensors").string());
    write(json_dir / "activation.json", m.to_json());
  }
  // Architectures as Keras writes them, and the short forms model_from_json accepts.
  write(json_dir / "layers_only.json",
        R"({"layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4]}},
                       {"class_name": "Dense", "config": {"units": 2, "activation": "relu",
                        "kernel_initializer": {"class_name": "Constant", "config": {"value": 0.5}},
                        "bias_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.0}}}}]})");
  write(json_dir / "unbuilt.json",
        R"({"class_name": "Sequential", "config": {"name": "m", "layers": [{"class_name": "Dense", "config": {"units": 3}}]}})");
  write(json_dir / "build_input_shape.json",
        R"({"class_name": "Sequential", "config": {"name": "m", "layers": [{"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": 1, "kernel_initializer": "zeros"}}], "build_input_shape": [null, 2, 3]}})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* t : {"fuzz_idx", "fuzz_csv", "fuzz_safetensors", "fuzz_model_json"}) fs::create_directories(root / t);
  idx_seeds(root / "fuzz_idx");
  csv_seeds(root / "fuzz_csv");
  model_seeds(root / "fuzz_safetensors", root / "fuzz_model_json");
  return 0;
}
