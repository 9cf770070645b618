// `myelin evaluate`, `myelin predict` and `myelin summary`: use a saved model.
#include "cli.hpp"

namespace cli {

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
  if (a.data.stream) {
    scores = model.evaluate(*open_dataset(a.data), {.batch_size = a.batch_size});
  } else {
    auto data = load_data(a.data, /*need_target=*/true);
    scores = model.evaluate(data.x, data.y, {.batch_size = a.batch_size});
  }
  if (!distributed::is_primary()) return;
  for (const auto& [k, v] : scores) std::printf("%s=%.6g\n", k.c_str(), v);
}

// One row per sample: class probabilities and the predicted class for classifiers, values otherwise.
void predict(const UseArgs& a) {
  using namespace myelin;
  set_num_threads(a.threads);
  Model model = load_model(a.model);
  auto data = load_data(a.data, /*need_target=*/false);
  const Tensor p = model.predict(data.x, a.batch_size);
  const int64_t k = p.row_size();
  const auto act = output_layer(model).output_activation();
  const bool classes = act == ActivationKind::Softmax || act == ActivationKind::Sigmoid;
  io::write_file_atomically(a.output, [&](std::ostream& out) {
    out.precision(8);
    if (classes && k == 1) out << "probability,class\n";
    else if (classes) {
      for (int64_t c = 0; c < k; ++c) out << "probability_" << c << ",";
      out << "class\n";
    } else if (k == 1) out << "prediction\n";
    else
      for (int64_t c = 0; c < k; ++c) out << "prediction_" << c << (c + 1 < k ? "," : "\n");
    for (int64_t r = 0; r < p.rows(); ++r) {
      const float* row = p.data() + r * k;
      for (int64_t c = 0; c < k; ++c) out << row[c] << (c + 1 < k || classes ? "," : "");
      if (classes) out << (k == 1 ? int(row[0] > 0.5f) : int(std::max_element(row, row + k) - row));
      out << "\n";
    }
  });
  std::printf("wrote %lld predictions to %s\n", static_cast<long long>(p.rows()), a.output.c_str());
}
}  // namespace

void register_evaluate(CLI::App& app) {
  auto a = std::make_shared<UseArgs>();
  auto* cmd = app.add_subcommand("evaluate", "loss and metrics of a saved model on labelled data");
  cmd->add_option("model", a->model, "saved model (.safetensors)")->required()->check(CLI::ExistingFile);
  add_data_options(*cmd, a->data);
  cmd->add_option("--batch-size", a->batch_size, "samples per batch (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a->threads, "threads to compute with (default: all cores)");
  cmd->callback([a] { evaluate(*a); });
}

void register_predict(CLI::App& app) {
  auto a = std::make_shared<UseArgs>();
  auto* cmd = app.add_subcommand("predict", "write a saved model's predictions for every row to a CSV file");
  cmd->add_option("model", a->model, "saved model (.safetensors)")->required()->check(CLI::ExistingFile);
  add_data_options(*cmd, a->data);
  cmd->add_option("--output", a->output, "CSV file to write: probabilities and class, or values")->required();
  cmd->add_option("--batch-size", a->batch_size, "samples per batch (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a->threads, "threads to compute with (default: all cores)");
  cmd->callback([a] { predict(*a); });
}

void register_summary(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("summary", "print a saved model's layers, output shapes and parameter counts");
  cmd->add_option("model", *path, "saved model (.safetensors)")->required()->check(CLI::ExistingFile);
  cmd->callback([path] {
    myelin::Model model = myelin::load_model(*path);
    model.summary();
  });
}

}  // namespace cli
