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

// A fuzz_csv_dataset input: three option bytes (see fuzz_csv_dataset.cpp), then the file.
// chunk(n): n-byte chunks (1 to 16); shuffle(n): an n-row buffer (1 to 8); max_line(n): n bytes
// (1 to 64); 0 keeps a default.
std::string csv_dataset_input(int pick, int chunk, int shuffle, int max_line, const std::string& file) {
  const int sizes = (chunk ? 16 | (chunk - 1) : 0) | ((shuffle - 1) << 5);
  const int limits = max_line ? 64 | (max_line - 1) : 0;
  return std::string{char(pick), char(sizes), char(limits)} + file;
}

void csv_dataset_seeds(const fs::path& dir) {
  std::string rows = "a,b,y\n";
  for (int i = 0; i < 12; ++i) rows += std::to_string(i) + "," + std::to_string(i * 0.5) + "," + std::to_string(i % 3) + "\n";
  write(dir / "header_comma_chunk3_shuffle4.csv", csv_dataset_input(0, 3, 4, 0, rows));
  write(dir / "header_comma_chunk1_shuffle8.csv", csv_dataset_input(0, 1, 8, 0, rows));
  write(dir / "header_comma_default_chunk.csv", csv_dataset_input(0, 0, 2, 0, rows));
  write(dir / "no_final_newline.csv", csv_dataset_input(0, 5, 3, 0, "x,y\n1,2\n3,4\n5,6"));
  write(dir / "no_header_semicolon.csv", csv_dataset_input(1 | 4, 4, 3, 0, "1;2;3\n4;5;6\n7;8;9\n"));
  write(dir / "tab_first_target.csv", csv_dataset_input(2 | 16, 2, 2, 0, "y\tx1\tx2\n0\t1.25\t2\n1\t3\t4\n"));
  write(dir / "space_second_target.csv", csv_dataset_input(3 | 32, 7, 5, 0, "x1   x2 x3\n  1  2 3\n\n3\t4 5\n"));
  write(dir / "quoted_crlf_bom_named_target.csv",
        csv_dataset_input(48, 2, 4, 0, "\xEF\xBB\xBF\"x\",\"y\"\r\n\"1.5\",\"2\"\r\n\"3\", 4\r\n"));
  write(dir / "lines_at_max_line_bytes.csv", csv_dataset_input(0, 3, 2, 8, "ab,cd,y\n1.5,2,30\n10,20,30\n"));
  // Near-valid: refused, naming the line.
  write(dir / "line_over_max_line_bytes.csv", csv_dataset_input(0, 3, 2, 8, "a,b,y\n1,2,3\n1.25,2.5,3\n"));
  write(dir / "short_row.csv", csv_dataset_input(0, 4, 4, 0, "a,b,y\n1,2,3\n4,5,6\n7,8\n"));
  write(dir / "missing_value.csv", csv_dataset_input(0, 4, 4, 0, "a,b,y\n1,2,3\n4,NA,6\n"));
  write(dir / "gzip.csv.gz", csv_dataset_input(0, 0, 2, 0, gzip(dir / "tmp", rows)));
}

// A fuzz_idx_dataset input: the images file's length (2 bytes, big-endian), an option byte (see
// fuzz_idx_dataset.cpp), the images file, the labels file.
std::string idx_dataset_input(int pick, const std::string& images, const std::string& labels) {
  return std::string{char(images.size() >> 8), char(images.size() & 0xff), char(pick)} + images + labels;
}

void idx_dataset_seeds(const fs::path& dir) {
  std::string pixels;  // 5 images of 2x3 bytes
  for (int i = 0; i < 30; ++i) pixels += char(i * 8);
  const std::string images = idx(0x08, {5, 2, 3}, pixels);
  const std::string labels = idx(0x08, {5}, std::string{1, 0, 9, 3, 7});
  write(dir / "ubyte.idx", idx_dataset_input(0, images, labels));
  write(dir / "ubyte_add_channel_unscaled.idx", idx_dataset_input(1 | 2 | 8, images, labels));
  write(dir / "float32_images_int32_labels_n1.idx",
        idx_dataset_input(2, idx(0x0D, {3, 2}, be32(0x3fc00000u) + be32(0xc0200000u) + be32(0x7fc00001u) + be32(0) +
                                                   be32(0x7f800000u) + be32(1)),
                          idx(0x0C, {3, 1}, be32(2) + be32(0) + be32(0xffffffffu))));
  write(dir / "one_dim_images_int16.idx",
        idx_dataset_input(1, idx(0x0B, {2}, std::string{char(0xff), char(0xfe), 0x01, 0x00}), idx(0x09, {2}, "\x01\xff")));
  write(dir / "no_rows.idx", idx_dataset_input(0, idx(0x08, {0, 28, 28}, ""), idx(0x08, {0}, "")));
  write(dir / "empty_rows.idx", idx_dataset_input(0, idx(0x08, {3, 0}, ""), idx(0x08, {3}, "\x01\x02\x03")));
  write(dir / "float64_labels.idx", idx_dataset_input(4, images, idx(0x0E, {5}, std::string(40, '\0'))));
  // Near-valid: refused, naming the file (and the byte offset).
  write(dir / "row_count_mismatch.idx", idx_dataset_input(0, images, idx(0x08, {4}, std::string{1, 0, 9, 3})));
  write(dir / "labels_2d.idx", idx_dataset_input(0, images, idx(0x08, {5, 2}, std::string(10, '\1'))));
  write(dir / "images_truncated.idx", idx_dataset_input(0, images.substr(0, images.size() - 1), labels));
  write(dir / "images_trailing_byte.idx", idx_dataset_input(0, images + "x", labels));
  write(dir / "images_gzip.idx", idx_dataset_input(0, gzip(dir / "tmp", images), labels));
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
    m.save((st_dir.parent_path() / "fuzz_keras" / "compiled_adam.keras").string());
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
  {
    // A functional graph: a residual block, a Dense called twice (shared) and a Concatenate.
    auto in = layers::Input({3});
    auto h = layers::Dense(4, "relu")(in);
    auto r = layers::Add()({h, layers::Dense(4)(h)});
    auto shared = std::make_shared<layers::Dense>(2, "tanh");
    auto s1 = call_layer(shared, {r});
    auto s2 = call_layer(shared, {layers::Dense(4)(s1)});
    Model m(in, layers::Dense(2, "softmax")(layers::Concatenate()({s1, s2, in})));
    m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy");
    m.save((st_dir / "functional.safetensors").string());
    m.save((st_dir.parent_path() / "fuzz_keras" / "functional.keras").string());
    write(json_dir / "functional.json", m.to_json());
  }
  // Keras 2's functional form (inbound_nodes as [name, call, tensor, kwargs] lists).
  write(json_dir / "functional_keras2.json",
        R"({"class_name": "Model", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []},
            {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3}, "inbound_nodes": [[["in", 0, 0, {}]], [["d", 0, 0, {}]]]},
            {"class_name": "Subtract", "name": "sub", "config": {"name": "sub"}, "inbound_nodes": [[["d", 1, 0, {}], ["in", 0, 0, {}]]]}],
            "input_layers": [["in", 0, 0]], "output_layers": [["sub", 0, 0]]}})");
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

// The first byte of a fuzz_vocabulary input picks the line limit (see fuzz_vocabulary.cpp); 0 is
// the default 1 MiB, an odd byte 1 + byte / 2.
void vocabulary_seeds(const fs::path& dir) {
  write(dir / "plain.txt", std::string(1, '\0') + "the\ncat\nsat on\n");
  write(dir / "keras_asset.txt", std::string(1, '\0') + "\n[UNK]\nthe\ncat");
  write(dir / "utf8_bom_crlf.txt", std::string(1, '\0') + "\xEF\xBB\xBF\xC3\xA9t\xC3\xA9\r\n\xF0\x9F\x98\x80\r\n\n");
  write(dir / "gzip.txt.gz", std::string(1, '\0') + gzip(dir / "tmp", "a\nb\nc\n"));
  write(dir / "short_lines_limit.txt", std::string(1, char(9)) + "abcd\nefghi\n");  // limit 5 bytes
  // Near-valid: refused, naming the line.
  write(dir / "repeated.txt", std::string(1, '\0') + "a\nb\na\n");
  write(dir / "empty_line.txt", std::string(1, '\0') + "a\n\nb\n");
  write(dir / "invalid_utf8.txt", std::string(1, '\0') + "a\nb\xC3(\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* t : {"fuzz_idx", "fuzz_csv", "fuzz_idx_dataset", "fuzz_csv_dataset", "fuzz_safetensors",
                        "fuzz_model_json", "fuzz_vocabulary", "fuzz_keras"}) fs::create_directories(root / t);
  idx_seeds(root / "fuzz_idx");
  csv_seeds(root / "fuzz_csv");
  idx_dataset_seeds(root / "fuzz_idx_dataset");
  csv_dataset_seeds(root / "fuzz_csv_dataset");
  model_seeds(root / "fuzz_safetensors", root / "fuzz_model_json");
  vocabulary_seeds(root / "fuzz_vocabulary");
  return 0;
}
