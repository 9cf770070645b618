// The `myelin` command-line program: shared pieces of its commands.
#pragma once
#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>

#include <myelin/myelin.hpp>

namespace cli {

/// Where a command's data comes from: a CSV file with a target column, or a pair of IDX files.
struct DataArgs {
  std::string csv;
  std::string target;  ///< column name, or an index (negative from the end); empty: the last column
  char delimiter = ',';
  int skip_rows = 0;
  bool no_header = false;
  std::string images, labels;  ///< IDX files (.gz or raw); images are scaled to [0, 1]
  bool stream = false;          ///< read batch by batch from the file instead of loading it whole
  int64_t shuffle_buffer = 10000;  ///< rows held for shuffling a streamed CSV
  std::string images_dir;          ///< a folder of image files, one subfolder per class (always streamed)
  std::string image_size;          ///< "HxW" the images are resized to; empty: the model's input size, else 256x256
  std::string color_mode = "rgb";  ///< rgb, grayscale or rgba; with a model, its input's channels decide
  bool strict = false;             ///< a file that does not decode is an error instead of skipped
};

/// Adds --data/--target/--delimiter/--skip-rows/--no-header/--images/--labels/--stream and the
/// image-folder options (--images-dir/--image-size/--color-mode/--strict) to a command.
void add_data_options(CLI::App& cmd, DataArgs& args);

/// Loads x and y as the options say. With `need_target` false a CSV is read without a target
/// column unless --target names one (which is then dropped). Throws myelin errors naming the file.
myelin::datasets::Split load_data(const DataArgs& args, bool need_target);

/// The CSV file of --data as load_data reads it, with its column names.
myelin::data::CsvData load_csv(const DataArgs& args, bool need_target);

/// The data as a Dataset read batch by batch (--stream): a CSV streamed in chunks, or raw IDX files
/// through a memory map. For data larger than memory.
std::unique_ptr<myelin::data::Dataset> open_dataset(const DataArgs& args);

/// image_dataset_from_directory's options from --image-size, --color-mode and --strict; the image
/// size and channels come from `model_input` ({H, W, C}) when given, which must then agree with them.
myelin::data::ImageFolderOptions image_folder_options(const DataArgs& args, const myelin::Shape* model_input);

/// The file that `train --images-dir` writes next to the model with its class names, one per line:
/// "model.safetensors" -> "model.classes.txt".
std::string classes_path_for(const std::string& model_path);

/// The class names `train --images-dir` saved beside the model (classes_path_for), or none.
std::vector<std::string> saved_class_names(const std::string& model_path);

/// A CSV cell: quoted when it holds a separator, a quote or a line break.
std::string csv_cell(const std::string& s);

/// A user error: printed as "myelin: error: ..." with exit status 1.
struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// fit's class_weight from `--class-weight`: "balanced" (scikit-learn's n_samples / (n_classes *
/// count), counted over `targets`, the training rows' class indices or one-hot rows; null when the
/// data is streamed, which "balanced" refuses) or "class:weight" pairs ("0:1,1:4"). Throws UserError
/// naming a malformed entry.
std::map<int, double> parse_class_weight(const std::string& spec, const myelin::Tensor* targets);

void register_train(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_predict(CLI::App& app);
void register_summary(CLI::App& app);
void register_plot(CLI::App& app);
void register_images_from_idx(CLI::App& app);
void register_explain(CLI::App& app);
void register_export(CLI::App& app);
void register_convert(CLI::App& app);

/// The layer that computes the model's output, whose activation tells a classifier from a regressor.
/// Not always a functional model's last layer: a shared layer is listed at its first call.
inline const myelin::Layer& output_layer(const myelin::Model& model) {
  return model.is_sequential() ? *model.layers().back() : model.output().layer();
}

/// The history CSV that `train` writes next to the model: "model.safetensors" -> "model.history.csv".
std::string history_path_for(const std::string& model_path);

/// Which data source the options name: --data, --images/--labels or --images-dir; throws UserError
/// when none or several are given.
void check_one_source(const DataArgs& args);

}  // namespace cli
