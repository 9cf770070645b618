// `myelin train`: build a model from a Keras-shaped JSON architecture, train it on CSV or IDX data
// or a folder of images, save it and its history (and, for images, its class names).
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.hpp"

namespace cli {

namespace {
struct TrainArgs {
  std::string model_json, output;
  DataArgs data;
  double validation_split = 0.0;
  int epochs = 10, batch_size = 32, verbose = 1, threads = 0;
  std::string optimizer = "adam", loss;
  std::string precision = "fp32";
  double learning_rate = -1;
  std::vector<std::string> metrics;
  bool standardize = false;
  uint64_t seed = 0;
  std::string class_weight;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("cannot read '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The architecture may be Keras's whole {"class_name": "Sequential" or "Functional", "config": {...}},
// its config ({"layers": [...]}, functional when it names "input_layers"), or just the list of layers.
std::string as_keras_model_json(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw UserError("'" + path + "' is not valid JSON: " + e.what());
  }
  if (j.is_array()) j = {{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", j}}}};
  else if (j.is_object() && j.contains("layers"))
    j = {{"class_name", j.contains("input_layers") ? "Functional" : "Sequential"}, {"config", j}};
  return j.dump();
}

// Keras users name the loss; when they don't, the output layer says what the problem is.
std::string default_loss(const myelin::Model& model) {
  const auto act = output_layer(model).output_activation();
  if (act == myelin::ActivationKind::Softmax) return "sparse_categorical_crossentropy";
  if (act == myelin::ActivationKind::Sigmoid) return "binary_crossentropy";
  return "mse";
}

void write_history(const myelin::History& h, const std::string& path) {
  myelin::io::write_file_atomically(path, [&](std::ostream& out) {
    out << "epoch";
    for (const auto& [k, v] : h.history) out << "," << k;
    out << "\n";
    for (size_t e = 0; e < h.epochs.size(); ++e) {
      out << h.epochs[e];
      for (const auto& [k, v] : h.history) out << "," << v[e];
      out << "\n";
    }
  });
}

void run(const TrainArgs& a) {
  using namespace myelin;
  set_num_threads(a.threads);
  set_random_seed(a.seed);
  // Before the model is read: its layers take the policy when they are made.
  mixed_precision::set_global_policy(a.precision == "bf16" ? "mixed_bfloat16" : a.precision == "auto" ? "auto" : "float32");
  // With --stream the rows are read batch by batch; otherwise the data is loaded whole.
  std::unique_ptr<data::Dataset> stream, validation;
  std::vector<std::string> class_names;
  datasets::Split data;
  if (!a.data.images_dir.empty()) {
    // Keras's split of a folder: the last part of the seeded file-list shuffle is held out.
    if (a.standardize) throw UserError("--standardize needs the data in memory; scale images in the model (a Rescaling layer)");
    data::ImageFolderOptions o = image_folder_options(a.data, nullptr);
    o.seed = uint32_t(a.seed);
    o.batch_size = a.batch_size;
    if (a.validation_split > 0) {
      o.validation_split = a.validation_split;
      data::ImageFolderSplits parts = data::image_dataset_splits_from_directory(a.data.images_dir, o);
      class_names = parts.training.class_names();
      stream = std::make_unique<data::ImageFolderDataset>(std::move(parts.training));
      validation = std::make_unique<data::ImageFolderDataset>(std::move(parts.validation));
    } else {
      auto all = std::make_unique<data::ImageFolderDataset>(data::image_dataset_from_directory(a.data.images_dir, o));
      class_names = all->class_names();
      stream = std::move(all);
    }
  } else if (a.data.stream) {
    if (a.standardize) throw UserError("--standardize needs the data in memory; it is not available with --stream");
    if (a.validation_split > 0) throw UserError("--validation-split needs the data in memory; it is not available with --stream");
    stream = open_dataset(a.data);
  } else {
    data = load_data(a.data, /*need_target=*/true);
  }
  Model parsed = model_from_json(as_keras_model_json(read_text(a.model_json), a.model_json));
  Model model = [&]() -> Model {
    if (!parsed.is_sequential()) {
      if (a.standardize)
        throw UserError("--standardize adds a Normalization layer in front of a Sequential model; '" + a.model_json +
                        "' is a functional model: put a Normalization layer in it instead");
      return std::move(parsed);
    }
    Sequential chain(parsed.name());
    if (a.standardize) {
      // Statistics from the training rows only: fit() holds out the last validation_split of them.
      const int64_t n_train = int64_t(double(data.x.rows()) * (1.0 - a.validation_split));
      layers::Normalization norm(Shape(data.x.shape().begin() + 1, data.x.shape().end()));
      norm.adapt(data.x.rows(0, std::max<int64_t>(n_train, 1)));
      chain.add(norm);
    }
    for (const auto& l : parsed.layers()) chain.add(l);
    return chain;
  }();

  auto optimizer = optimizers::get(a.optimizer);
  if (a.learning_rate >= 0) optimizer->set_learning_rate(a.learning_rate);
  const std::string loss = a.loss.empty() ? default_loss(model) : a.loss;
  std::vector<MetricArg> metrics(a.metrics.begin(), a.metrics.end());
  if (a.metrics.empty()) metrics.push_back(loss == "mse" ? "mae" : "accuracy");
  model.compile(optimizer, loss, metrics);

  std::map<int, double> class_weight;
  if (!a.class_weight.empty()) {
    // "balanced" counts the rows fit trains on: those before the validation split.
    Tensor train_y;
    if (!stream) train_y = data.y.rows(0, std::max<int64_t>(1, int64_t(double(data.y.rows()) * (1.0 - a.validation_split))));
    class_weight = parse_class_weight(a.class_weight, stream ? nullptr : &train_y);
  }
  callbacks::TerminateOnNaN nan_guard;
  const FitOptions options{.epochs = a.epochs,
                           .batch_size = a.batch_size,
                           .validation_split = stream ? 0.0 : a.validation_split,
                           .validation_dataset = validation.get(),
                           .callbacks = {nan_guard},
                           .verbose = a.verbose,
                           .class_weight = class_weight};
  // Under mpirun every rank runs this; fit splits each batch between them.
  History history = stream ? model.fit(*stream, options) : model.fit(data.x, data.y, options);
  if (nan_guard.terminated()) throw UserError("training stopped: the loss became NaN or infinite (try a lower --learning-rate)");
  if (!distributed::is_primary()) return;  // rank 0 writes the files and the summary
  model.save(a.output);
  write_history(history, history_path_for(a.output));
  std::printf("saved model to %s and history to %s\n", a.output.c_str(), history_path_for(a.output).c_str());
  if (!class_names.empty()) {
    // predict --images-dir names the classes from this file.
    io::write_file_atomically(classes_path_for(a.output), [&](std::ostream& out) {
      for (const auto& c : class_names) out << c << "\n";
    });
    std::printf("class names in %s\n", classes_path_for(a.output).c_str());
  }
  if (distributed::size() > 1) std::printf("ranks=%d\n", distributed::size());
  for (const auto& [k, v] : history.history) std::printf("%s=%.6g\n", k.c_str(), v.back());
}
}  // namespace

void register_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "train a model described in JSON on CSV or IDX data, or on a folder of images (--images-dir)");
  cmd->add_option("--model", a->model_json, "architecture: Keras-shaped JSON (a list of {class_name, config} layers)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", a->output, "where to save the trained model (.safetensors)")->required();
  add_data_options(*cmd, a->data);
  cmd->add_option("--validation-split", a->validation_split, "fraction of rows (the last ones) held out for validation")
      ->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--epochs", a->epochs, "training epochs (default 10)")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", a->batch_size, "samples per step (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--optimizer", a->optimizer, "sgd, adam, adamw, rmsprop or adagrad (default adam)");
  cmd->add_option("--learning-rate", a->learning_rate, "learning rate (default: the optimizer's, as Keras)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--loss", a->loss, "loss (default: from the output layer: softmax -> sparse_categorical_crossentropy, sigmoid -> binary_crossentropy, else mse)");
  cmd->add_option("--metrics", a->metrics, "comma-separated metrics (default: accuracy, or mae for mse)")->delimiter(',');
  cmd->add_flag("--standardize", a->standardize, "standardise inputs with statistics of the training rows (kept in the model)");
  cmd->add_option("--class-weight", a->class_weight,
                  "weigh each sample's loss by its class: 'balanced' (n_samples / (n_classes * count)) or "
                  "class:weight pairs, e.g. 0:1,1:4 (classes left out weigh 1)");
  cmd->add_option("--seed", a->seed, "seed for initialisation, shuffling and dropout (default 0)");
  cmd->add_option("--threads", a->threads, "threads to compute with (default: all cores)");
  cmd->add_option("--precision", a->precision,
                  "fp32 (default); bf16: Keras's mixed_bfloat16 (Dense, convolution, recurrent and attention layers "
                  "multiply in bfloat16, weights stay float32; needs AVX512_BF16 or AMX); auto: bf16 where it runs faster than fp32 (AMX, or AVX512_BF16 on "
                  "AMD), else fp32")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  cmd->add_option("--verbose", a->verbose, "0 silent, 1 progress bar, 2 one line per epoch (default 1)")->check(CLI::Range(0, 2));
  cmd->callback([a] { run(*a); });
}

}  // namespace cli
