// `myelin evaluate`, `myelin predict` and `myelin summary`: use a saved model.
#include <algorithm>
#include <fstream>

#include "cli.hpp"

namespace cli {

std::vector<std::string> saved_class_names(const std::string& model_path) {
  std::vector<std::string> names;
  std::ifstream in(classes_path_for(model_path));
  for (std::string line; std::getline(in, line);) names.push_back(line);
  return names;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

namespace {
struct UseArgs {
  std::string model, output;
  DataArgs data;
  int batch_size = 32, threads = 0;
};

void evaluate(const UseArgs& a) {
  using namespace myelin;
  set_num_threads(a.threads);
  Model model = load_model(a.model);
  Logs scores;
  if (!a.data.images_dir.empty()) {
    data::ImageFolderOptions o = image_folder_options(a.data, &model.input_shape());
    o.shuffle = false;
    data::ImageFolderDataset images = data::image_dataset_from_directory(a.data.images_dir, o);
    scores = model.evaluate(images, {.batch_size = a.batch_size});
  } else if (a.data.stream) {
    scores = model.evaluate(*open_dataset(a.data), {.batch_size = a.batch_size});
  } else {
    auto data = load_data(a.data, /*need_target=*/true);
    scores = model.evaluate(data.x, data.y, {.batch_size = a.batch_size});
  }
  if (!distributed::is_primary()) return;
  for (const auto& [k, v] : scores) std::printf("%s=%.6g\n", k.c_str(), v);
}

// One row per sample: class probabilities and the predicted class for classifiers, values otherwise.
// For --images-dir each row starts with the file and the class is named when train saved the names.
void predict(const UseArgs& a) {
  using namespace myelin;
  set_num_threads(a.threads);
  Model model = load_model(a.model);
  Tensor p;
  std::vector<std::string> files, names;
  if (!a.data.images_dir.empty()) {
    data::ImageFolderOptions o = image_folder_options(a.data, &model.input_shape());
    o.unlabeled = true;
    o.shuffle = false;
    data::ImageFolderDataset images = data::image_dataset_from_directory(a.data.images_dir, o);
    p = model.predict(images, a.batch_size);
    // Files skipped as undecodable have no row: list those that were read, in order.
    const std::vector<std::string> skipped = images.skipped_files();
    for (const auto& f : images.file_paths())
      if (std::find(skipped.begin(), skipped.end(), f) == skipped.end()) files.push_back(f);
    names = saved_class_names(a.model);
  } else {
    p = model.predict(load_data(a.data, /*need_target=*/false).x, a.batch_size);
  }
  const int64_t k = p.row_size();
  const auto act = output_layer(model).output_activation();
  const bool classes = act == ActivationKind::Softmax || act == ActivationKind::Sigmoid;
  if (int64_t(names.size()) != (k == 1 ? 2 : k)) names.clear();  // not this model's classes
  auto class_of = [&](const float* row) {
    const int c = k == 1 ? int(row[0] > 0.5f) : int(std::max_element(row, row + k) - row);
    return names.empty() ? std::to_string(c) : csv_cell(names[size_t(c)]);
  };
  io::write_file_atomically(a.output, [&](std::ostream& out) {
    out.precision(8);
    if (!files.empty()) out << "file,";
    if (classes && k == 1) out << "probability,class\n";
    else if (classes) {
      for (int64_t c = 0; c < k; ++c) out << "probability_" << (names.empty() ? std::to_string(c) : csv_cell(names[size_t(c)])) << ",";
      out << "class\n";
    } else if (k == 1) out << "prediction\n";
    else
      for (int64_t c = 0; c < k; ++c) out << "prediction_" << c << (c + 1 < k ? "," : "\n");
    for (int64_t r = 0; r < p.rows(); ++r) {
      const float* row = p.data() + r * k;
      if (!files.empty()) out << csv_cell(files[size_t(r)]) << ",";
      for (int64_t c = 0; c < k; ++c) out << row[c] << (c + 1 < k || classes ? "," : "");
      if (classes) out << class_of(row);
      out << "\n";
    }
  });
  std::printf("wrote %lld predictions to %s\n", static_cast<long long>(p.rows()), a.output.c_str());
}
}  // namespace

void register_evaluate(CLI::App& app) {
  auto a = std::make_shared<UseArgs>();
  auto* cmd = app.add_subcommand("evaluate", "loss and metrics of a saved model on labelled data");
  cmd->add_option("model", a->model, "saved model (.safetensors, .keras or Keras 2 .h5)")->required()->check(CLI::ExistingFile);
  add_data_options(*cmd, a->data);
  cmd->add_option("--batch-size", a->batch_size, "samples per batch (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a->threads, "threads to compute with (default: all cores)");
  cmd->callback([a] { evaluate(*a); });
}

void register_predict(CLI::App& app) {
  auto a = std::make_shared<UseArgs>();
  auto* cmd = app.add_subcommand("predict", "write a saved model's predictions for every row (or image file, with --images-dir) to a CSV file");
  cmd->add_option("model", a->model, "saved model (.safetensors, .keras or Keras 2 .h5)")->required()->check(CLI::ExistingFile);
  add_data_options(*cmd, a->data);
  cmd->add_option("--output", a->output, "CSV file to write: probabilities and class, or values")->required();
  cmd->add_option("--batch-size", a->batch_size, "samples per batch (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a->threads, "threads to compute with (default: all cores)");
  cmd->callback([a] { predict(*a); });
}

void register_summary(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("summary", "print a saved model's layers, output shapes and parameter counts");
  cmd->add_option("model", *path, "saved model (.safetensors, .keras or Keras 2 .h5)")->required()->check(CLI::ExistingFile);
  cmd->callback([path] {
    myelin::Model model = myelin::load_model(*path);
    model.summary();
  });
}

}  // namespace cli
