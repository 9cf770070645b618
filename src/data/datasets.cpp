#include "myelin/data/datasets.hpp"

#include <cstdlib>
#include <filesystem>

#include "data/file_reader.hpp"
#include "myelin/data/csv.hpp"
#include "myelin/data/idx.hpp"
#include "myelin/error.hpp"

#ifndef MYELIN_DEFAULT_DATA_DIR
#define MYELIN_DEFAULT_DATA_DIR "data"
#endif

namespace myelin::datasets {

namespace fs = std::filesystem;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

// `path` may name the file itself or a folder holding it under its usual name.
std::string resolve_file(const std::string& path, const std::string& file_name) {
  const std::string base = path.empty() ? data_dir() : path;
  std::error_code ec;
  const std::string file = fs::is_directory(base, ec) ? (fs::path(base) / file_name).string() : base;
  if (!fs::exists(file, ec))
    throw IOError("data file '" + file + "' does not exist (set MYELIN_DATA_DIR to the folder holding " + file_name + ")");
  return file;
}

// The sklearn copies start with a line "n_samples,n_features,..."; check the data against it so
// a damaged or wrong file is caught here rather than as odd training results.
void check_counts(const std::string& file, const data::CsvData& d, int64_t rows, int64_t features) {
  if (d.x.dim(0) != rows || d.x.dim(1) != features)
    throw IOError("'" + file + "' should hold " + std::to_string(rows) + " rows of " + std::to_string(features) +
                  " features, found " + std::to_string(d.x.dim(0)) + " of " + std::to_string(d.x.dim(1)));
}

void check_metadata_line(const std::string& file, int64_t rows, int64_t features) {
  data::detail::LineReader reader(file);
  std::string line;
  const std::string expect = std::to_string(rows) + "," + std::to_string(features) + ",";
  if (!reader.next(line) || line.compare(0, expect.size(), expect) != 0)
    throw IOError("'" + file + "', line 1: expected the header \"" + expect + "...\", found \"" + line.substr(0, 40) + "\"");
}

Split to_split(data::CsvData&& d) { return {std::move(d.x), std::move(d.y)}; }

// Finds `name` or `name`.gz in dir; empty if neither is there.
std::string idx_file(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const std::string& candidate : {name, name + ".gz"}) {
    const fs::path p = fs::path(dir) / candidate;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

Split load_idx_pair(const std::string& images_path, const std::string& labels_path) {
  Tensor images = data::read_idx(images_path);
  Tensor labels = data::read_idx(labels_path);
  if (images.ndim() != 3)
    throw IOError("'" + images_path + "' should hold images of shape (n, height, width), holds " +
                  shape_to_string(images.shape()));
  if (labels.ndim() != 1 || labels.dim(0) != images.dim(0))
    throw IOError("'" + labels_path + "' should hold " + std::to_string(images.dim(0)) + " labels (one per image of '" +
                  images_path + "'), holds shape " + shape_to_string(labels.shape()));
  float* p = images.data();
  for (int64_t i = 0; i < images.size(); ++i) p[i] /= 255.f;  // division, as Keras's x / 255.0
  const int64_t n = images.dim(0);
  return {images.reshape({n, images.dim(1), images.dim(2), 1}), labels.reshape({n, 1})};
}

TrainTest load_mnist_format(const std::string& dir, const char* set, const char* hint) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IOError(std::string(set) + ": folder '" + dir + "' does not exist" + hint);
  // Look for all four first, so the error lists everything that is missing.
  const char* names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte"};
  std::string paths[4], missing;
  for (int i = 0; i < 4; ++i) {
    paths[i] = idx_file(dir, names[i]);
    if (paths[i].empty()) missing += std::string(missing.empty() ? "" : ", ") + names[i] + "[.gz]";
  }
  if (!missing.empty()) throw IOError(std::string(set) + ": '" + dir + "' lacks " + missing + hint);
  TrainTest out;
  out.train = load_idx_pair(paths[0], paths[1]);
  out.test = load_idx_pair(paths[2], paths[3]);
  return out;
}

}  // namespace

std::string data_dir() { return env_or("MYELIN_DATA_DIR", MYELIN_DEFAULT_DATA_DIR); }

TrainTest fashion_mnist(const std::string& dir) {
  const std::string d = dir.empty() ? env_or("MYELIN_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist") : dir;
  return load_mnist_format(d, "fashion_mnist",
                           " (on Debian, install the package dataset-fashion-mnist, or set MYELIN_FASHION_MNIST_DIR"
                           " to a folder holding the four IDX files)");
}

TrainTest mnist(const std::string& dir) {
  const std::string d = dir.empty() ? env_or("MYELIN_MNIST_DIR", "") : dir;
  if (d.empty()) throw ValueError("mnist: no folder given and MYELIN_MNIST_DIR is not set");
  return load_mnist_format(d, "mnist", " (give the folder holding the four MNIST IDX files)");
}

Split boston_housing(const std::string& path) {
  const std::string file = resolve_file(path, "boston_house_prices.csv");
  check_metadata_line(file, 506, 13);
  data::CsvOptions opt;
  opt.skip_rows = 1;  // the "506,13" line; the column names follow
  opt.target_column = "MEDV";
  data::CsvData d = data::read_csv(file, opt);
  check_counts(file, d, 506, 13);
  return to_split(std::move(d));
}

Split digits(const std::string& path) {
  const std::string file = resolve_file(path, "digits.csv.gz");
  data::CsvOptions opt;
  opt.header = false;
  data::CsvData d = data::read_csv(file, opt);
  check_counts(file, d, 1797, 64);
  return to_split(std::move(d));
}

Split iris(const std::string& path) {
  const std::string file = resolve_file(path, "iris.csv");
  check_metadata_line(file, 150, 4);
  data::CsvOptions opt;
  opt.skip_rows = 1;  // "150,4,setosa,versicolor,virginica"
  opt.header = false;
  data::CsvData d = data::read_csv(file, opt);
  check_counts(file, d, 150, 4);
  return to_split(std::move(d));
}

Split diabetes(const std::string& dir) {
  const std::string base = dir.empty() ? data_dir() : dir;
  std::error_code ec;
  if (!fs::is_directory(base, ec))
    throw IOError("diabetes: '" + base + "' is not a folder (it should hold diabetes_data_raw.csv.gz and diabetes_target.csv.gz)");
  const std::string xfile = resolve_file(base, "diabetes_data_raw.csv.gz");
  const std::string yfile = resolve_file(base, "diabetes_target.csv.gz");
  data::CsvOptions opt;
  opt.delimiter = ' ';
  opt.header = false;
  opt.no_target = true;
  data::CsvData xd = data::read_csv(xfile, opt);
  data::CsvData yd = data::read_csv(yfile, opt);
  check_counts(xfile, xd, 442, 10);
  check_counts(yfile, yd, 442, 1);
  return {std::move(xd.x), std::move(yd.x)};
}

}  // namespace myelin::datasets
