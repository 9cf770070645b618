#include <cstdio>
#include <cstdlib>

#include "cli.hpp"

namespace cli {

namespace {
bool is_integer(const std::string& s);
}  // namespace

void add_data_options(CLI::App& cmd, DataArgs& a) {
  cmd.add_option("--data", a.csv, "CSV file (plain or .gz) with one row per sample");
  cmd.add_option("--target", a.target, "target column of the CSV: its name, or its index (negative counts from the end)");
  cmd.add_option("--delimiter", a.delimiter, "CSV cell separator (default ',')");
  cmd.add_option("--skip-rows", a.skip_rows, "lines to skip at the top of the CSV")->check(CLI::NonNegativeNumber);
  cmd.add_flag("--no-header", a.no_header, "the CSV has no line of column names");
  cmd.add_option("--images", a.images, "IDX file of inputs (MNIST format, .gz or raw); scaled to [0, 1]");
  cmd.add_option("--labels", a.labels, "IDX file of labels, with --images");
  cmd.add_flag("--stream", a.stream,
               "read the data batch by batch instead of loading it whole (for data larger than memory; "
               "CSV must be plain text, IDX uncompressed)");
  cmd.add_option("--shuffle-buffer", a.shuffle_buffer, "rows held for shuffling a streamed CSV (default 10000)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--images-dir", a.images_dir,
                 "folder of image files (JPEG, PNG, BMP, GIF), one subfolder per class, read batch by batch")
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--image-size", a.image_size, "HxW the images are resized to (default: the model's input, else 256x256)");
  cmd.add_option("--color-mode", a.color_mode, "rgb, grayscale or rgba (default rgb; a saved model's input decides)");
  cmd.add_flag("--strict", a.strict, "an image file that does not decode is an error (default: skipped and reported)");
}

void check_one_source(const DataArgs& a) {
  const int sources = int(!a.csv.empty()) + int(!a.images.empty()) + int(!a.images_dir.empty());
  if (sources > 1) throw UserError("give one of --data (CSV), --images/--labels (IDX) or --images-dir (image files)");
  if (sources == 0) throw UserError("no data given: use --data FILE.csv, --images/--labels or --images-dir DIR");
}

myelin::data::ImageFolderOptions image_folder_options(const DataArgs& a, const myelin::Shape* model_input) {
  myelin::data::ImageFolderOptions o;
  o.color_mode = a.color_mode;
  o.strict = a.strict;
  if (!a.image_size.empty()) {
    int64_t h = 0, w = 0;
    char x = 0, extra = 0;
    if (std::sscanf(a.image_size.c_str(), "%ld%c%ld%c", &h, &x, &w, &extra) != 3 || (x != 'x' && x != 'X') || h < 1 || w < 1)
      throw UserError("--image-size must be HxW, e.g. 64x64, got '" + a.image_size + "'");
    o.image_size = {h, w};
  }
  if (model_input) {
    const myelin::Shape& in = *model_input;
    if (in.size() != 3 || (in[2] != 1 && in[2] != 3 && in[2] != 4))
      throw UserError("the model's input is " + myelin::shape_to_string(in) +
                      ", not an image of 1, 3 or 4 channels as --images-dir gives");
    if (!a.image_size.empty() && (o.image_size[0] != in[0] || o.image_size[1] != in[1]))
      throw UserError("--image-size " + a.image_size + " does not match the model's input " + myelin::shape_to_string(in));
    o.image_size = {in[0], in[1]};
    o.color_mode = in[2] == 1 ? "grayscale" : in[2] == 4 ? "rgba" : "rgb";
  }
  return o;
}

std::string classes_path_for(const std::string& model_path) {
  const std::string history = history_path_for(model_path);
  return history.substr(0, history.size() - std::string(".history.csv").size()) + ".classes.txt";
}

std::unique_ptr<myelin::data::Dataset> open_dataset(const DataArgs& a) {
  using namespace myelin;
  check_one_source(a);
  if (!a.images_dir.empty())
    return std::make_unique<data::ImageFolderDataset>(data::image_dataset_from_directory(a.images_dir, image_folder_options(a, nullptr)));
  if (!a.images.empty()) {
    if (a.labels.empty()) throw UserError("--images needs --labels here");
    // 28x28 images gain a channel axis (NHWC), as when loaded whole.
    auto plain = std::make_unique<data::IdxDataset>(a.images, a.labels);
    if (plain->x_shape().size() != 2) return plain;
    return std::make_unique<data::IdxDataset>(a.images, a.labels, data::IdxDatasetOptions{.add_channel = true});
  }
  if (a.skip_rows) throw UserError("--skip-rows is not available with --stream");
  data::CsvDatasetOptions o;
  o.delimiter = a.delimiter;
  o.header = !a.no_header;
  o.shuffle_buffer = a.shuffle_buffer;
  if (is_integer(a.target)) o.target_index = std::atoi(a.target.c_str());
  else o.target_column = a.target;
  return std::make_unique<data::CsvDataset>(a.csv, o);
}

namespace {
bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtol(s.c_str(), &end, 10);
  return *end == '\0';
}
}  // namespace

myelin::datasets::Split load_data(const DataArgs& a, bool need_target) {
  using namespace myelin;
  check_one_source(a);
  if (!a.images_dir.empty()) throw UserError("--images-dir is read batch by batch, not loaded whole");
  if (!a.images.empty()) {
    Tensor images = data::read_idx(a.images);
    if (images.ndim() < 2) throw UserError("'" + a.images + "' holds " + std::to_string(images.ndim()) + "-D data, not samples");
    // Byte images are scaled to [0, 1] as datasets::fashion_mnist() does; 3-D data gains a channel axis (NHWC).
    images = images / 255.f;
    if (images.ndim() == 3) images = images.reshape({images.dim(0), images.dim(1), images.dim(2), 1});
    Tensor labels;
    if (!a.labels.empty()) {
      labels = data::read_idx(a.labels);
      if (labels.rows() != images.rows())
        throw UserError("'" + a.images + "' has " + std::to_string(images.rows()) + " samples but '" + a.labels + "' has " +
                        std::to_string(labels.rows()) + " labels");
      labels = labels.reshape({labels.rows(), labels.size() / std::max<int64_t>(labels.rows(), 1)});
    } else if (need_target) {
      throw UserError("--images needs --labels here");
    }
    return {images, labels};
  }
  auto csv = load_csv(a, need_target);
  return {csv.x, csv.y};
}

myelin::data::CsvData load_csv(const DataArgs& a, bool need_target) {
  myelin::data::CsvOptions o;
  o.delimiter = a.delimiter;
  o.skip_rows = a.skip_rows;
  o.header = !a.no_header;
  if (a.target.empty()) {
    o.no_target = !need_target;  // the last column is the target only when one is needed
  } else if (is_integer(a.target)) {
    o.target_index = std::atoi(a.target.c_str());
  } else {
    o.target_column = a.target;
  }
  return myelin::data::read_csv(a.csv, o);
}

std::string history_path_for(const std::string& model_path) {
  const auto dot = model_path.find_last_of('.');
  const auto slash = model_path.find_last_of('/');
  const std::string stem = (dot != std::string::npos && (slash == std::string::npos || dot > slash))
                               ? model_path.substr(0, dot)
                               : model_path;
  return stem + ".history.csv";
}

}  // namespace cli
