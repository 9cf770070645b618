// `myelin explain`: what a saved model's output rests on. For images (--images, an IDX file) a heat map
// over each explained image, or a grid of images x methods; for a CSV (--data) a table of each
// feature's Integrated Gradients attribution.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli.hpp"

namespace cli {

namespace {
struct ExplainArgs {
  std::string model, output, indices = "0", methods = "integrated_gradients", layer;
  DataArgs data;
  int target = -1, steps = 64, samples = 50, scale = 0, threads = 0;
};

const std::vector<std::string> kMethods = {"saliency", "smooth_grad", "integrated_gradients", "grad_cam"};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

// "7,8,9" -> {7, 8, 9}, each a row of data with `rows` rows.
std::vector<int64_t> parse_indices(const std::string& list, int64_t rows, const std::string& file) {
  std::vector<int64_t> out;
  std::stringstream s(list);
  for (std::string item; std::getline(s, item, ',');) {
    size_t used = 0;
    long long i = 0;
    try {
      i = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) throw UserError("--index: '" + item + "' is not a row number");
    if (i < 0 || i >= rows)
      throw UserError("row " + item + " is out of range: '" + file + "' has " + std::to_string(rows) +
                      " rows (0.." + std::to_string(rows - 1) + ")");
    out.push_back(i);
  }
  if (out.empty()) throw UserError("--index: no row given");
  return out;
}

// "grad_cam,saliency" or "all" -> the method names, checked.
std::vector<std::string> parse_methods(const std::string& list) {
  if (list == "all") return kMethods;
  std::vector<std::string> out;
  std::stringstream s(list);
  for (std::string m; std::getline(s, m, ',');) {
    if (std::find(kMethods.begin(), kMethods.end(), m) == kMethods.end())
      throw UserError("--method: unknown method '" + m + "'; choose among " + join(kMethods) + ", or all");
    out.push_back(m);
  }
  if (out.empty()) throw UserError("--method: no method given");
  return out;
}

// The input whose normalised form is zero: the mean of a Normalization layer at the model's front
// (as `train --standardize` puts there), repeated over the input; otherwise empty (zeros).
myelin::Tensor zero_after_preprocessing(const myelin::Model& model) {
  for (const auto& layer : model.layers()) {
    if (layer->class_name() == "InputLayer") continue;
    const auto* norm = dynamic_cast<const myelin::layers::Normalization*>(layer.get());
    if (!norm || norm->mean().empty()) return {};
    myelin::Tensor baseline(model.input_shape());
    const int64_t f = norm->mean().size();
    for (int64_t i = 0; i < baseline.size(); ++i) baseline[i] = norm->mean()[i % f];
    return baseline;
  }
  return {};
}

// Predicted and explained classes, named from the file `train --images-dir` wrote when it fits.
struct RowReport {
  myelin::Tensor probabilities;  // predict()'s output for the explained rows
  std::vector<int> units;        // the explained unit of each
  myelin::Tensor scores;         // its score
  std::vector<std::string> names;
  bool classifier = false;

  std::string named(int c) const { return std::to_string(c) + (names.empty() ? "" : " (" + names[size_t(c)] + ")"); }
  std::string line(const std::string& what, int64_t index, int64_t r) const {
    const int64_t k = probabilities.row_size();
    const float* p = probabilities.data() + r * k;
    char score[32], prediction[32];
    std::snprintf(score, sizeof score, "%.6g", double(scores[r]));
    std::snprintf(prediction, sizeof prediction, "%.6g", double(p[0]));
    if (!classifier) return what + " " + std::to_string(index) + ": prediction " + prediction + ", score " + score;
    const int predicted = k == 1 ? int(p[0] > 0.5f) : int(std::max_element(p, p + k) - p);
    // A single sigmoid unit scores class 1.
    const int explained = k == 1 ? 1 : units[size_t(r)];
    return what + " " + std::to_string(index) + ": predicted " + named(predicted) + ", explained " + named(explained) +
           ", score " + score;
  }
};

RowReport report(myelin::Model& model, const myelin::Tensor& x, const myelin::explain::Target& target,
                 const std::string& model_path) {
  using namespace myelin;
  RowReport r;
  r.probabilities = model.predict(x);
  r.units = explain::target_units(model, x, target);
  r.scores = explain::scores(model, x, target);
  const auto act = output_layer(model).output_activation();
  r.classifier = act == ActivationKind::Softmax || act == ActivationKind::Sigmoid;
  const int64_t k = r.probabilities.row_size();
  r.names = saved_class_names(model_path);
  if (!r.classifier || int64_t(r.names.size()) != (k == 1 ? 2 : k)) r.names.clear();  // not this model's classes
  return r;
}

void check_input(const myelin::Model& model, const myelin::Tensor& x, const std::string& file, const std::string& hint) {
  const myelin::Shape sample(x.shape().begin() + 1, x.shape().end());
  if (sample != model.input_shape())
    throw UserError("'" + file + "' holds samples of " + myelin::shape_to_string(sample) + " but the model takes " +
                    myelin::shape_to_string(model.input_shape()) + hint);
}

void explain_images(myelin::Model& model, const ExplainArgs& a) {
  using namespace myelin;
  if (a.output.empty()) throw UserError("--output FILE.png is needed with --images");
  const Tensor all = load_data(a.data, /*need_target=*/false).x;
  check_input(model, all, a.data.images, "");
  const std::vector<int64_t> indices = parse_indices(a.indices, all.rows(), a.data.images);
  const std::vector<std::string> methods = parse_methods(a.methods);
  const bool grad_cam = std::find(methods.begin(), methods.end(), "grad_cam") != methods.end();
  if (!a.layer.empty() && !grad_cam) throw UserError("--layer is used by grad_cam only; add it to --method");
  if (grad_cam && !a.layer.empty()) {
    std::vector<std::string> names;
    for (const auto& l : model.layers()) names.push_back(l->name());
    if (std::find(names.begin(), names.end(), a.layer) == names.end())
      throw UserError("--layer: the model has no layer '" + a.layer + "'; its layers: " + join(names));
  }
  const Tensor x = all.gather_rows(indices);
  const explain::Target target = a.target >= 0 ? explain::Target(a.target) : explain::Target();
  const RowReport rows = report(model, x, target, a.model);

  std::vector<Tensor> maps;
  for (const auto& m : methods) {
    if (m == "saliency") maps.push_back(explain::saliency(model, x, target));
    else if (m == "smooth_grad") maps.push_back(explain::smooth_grad(model, x, target, {.samples = a.samples}));
    else if (m == "integrated_gradients")
      maps.push_back(explain::integrated_gradients(model, x, target, {.steps = a.steps}));
    else maps.push_back(explain::grad_cam(model, x, target, {.layer = a.layer}));
  }
  const int64_t h = x.dim(1), w = x.dim(2);
  const int scale = a.scale > 0 ? a.scale : std::max(h, w) < 64 ? 4 : 1;
  const explain::HeatmapOptions options{.scale = scale};
  if (indices.size() == 1 && methods.size() == 1) {
    const Tensor& map = maps[0];
    explain::save_heatmap(a.output, x.reshape(Shape(x.shape().begin() + 1, x.shape().end())),
                          map.reshape(Shape(map.shape().begin() + 1, map.shape().end())), options);
  } else {
    explain::save_heatmap_grid(a.output, x, maps, options);
  }
  for (size_t r = 0; r < indices.size(); ++r) std::printf("%s\n", rows.line("index", indices[r], int64_t(r)).c_str());
  if (indices.size() == 1 && methods.size() == 1)
    std::printf("wrote %s: %s\n", a.output.c_str(), methods[0].c_str());
  else
    std::printf("wrote %s: a grid of %zu rows (indices) by %zu columns (the image, then %s)\n", a.output.c_str(),
                indices.size(), methods.size() + 1, join(methods).c_str());
}

void explain_table(myelin::Model& model, const ExplainArgs& a) {
  using namespace myelin;
  if (a.methods != "integrated_gradients")
    throw UserError("--method: a CSV's rows are explained with integrated_gradients only, got '" + a.methods + "'");
  if (!a.layer.empty()) throw UserError("--layer is used by grad_cam, on images only");
  const data::CsvData csv = load_csv(a.data, /*need_target=*/false);
  check_input(model, csv.x, a.data.csv, "; if the CSV holds the target column, name it with --target-column");
  const std::vector<int64_t> indices = parse_indices(a.indices, csv.x.rows(), a.data.csv);
  const Tensor x = csv.x.gather_rows(indices);
  const explain::Target target = a.target >= 0 ? explain::Target(a.target) : explain::Target();
  const RowReport rows = report(model, x, target, a.model);
  explain::IntegratedGradientsOptions ig{.baseline = zero_after_preprocessing(model), .steps = a.steps};
  const Tensor attributions = explain::integrated_gradients(model, x, target, ig);
  // The baseline's score for the same units: the attributions add up to score - baseline score.
  Tensor baseline(x.shape());
  if (!ig.baseline.empty())
    for (int64_t r = 0; r < x.rows(); ++r)
      std::copy(ig.baseline.data(), ig.baseline.data() + x.row_size(), baseline.data() + r * x.row_size());
  const Tensor baseline_scores = explain::scores(model, baseline, explain::Target(rows.units));
  const std::vector<std::string>& names =
      int64_t(csv.feature_names.size()) == x.row_size() ? csv.feature_names : std::vector<std::string>{};

  std::vector<std::vector<explain::FeatureAttribution>> tables;
  for (size_t r = 0; r < indices.size(); ++r) {
    tables.push_back(explain::feature_table(x, attributions, int64_t(r), names));
    double sum = 0;
    for (const auto& f : tables.back()) sum += f.attribution;
    std::printf("%s; baseline score %.6g, attributions sum to %.6g\n", rows.line("row", indices[r], int64_t(r)).c_str(),
                double(baseline_scores[int64_t(r)]), sum);
    std::fflush(stdout);
    explain::print_feature_table(std::cout, tables.back());
    std::cout.flush();
  }
  if (a.output.empty()) return;
  io::write_file_atomically(a.output, [&](std::ostream& out) {
    out.precision(8);
    out << "row,feature,value,attribution\n";
    for (size_t r = 0; r < indices.size(); ++r)
      for (const auto& f : tables[r]) out << indices[r] << "," << csv_cell(f.feature) << "," << f.value << "," << f.attribution << "\n";
  });
  std::printf("wrote %s\n", a.output.c_str());
}

void explain(const ExplainArgs& a) {
  using namespace myelin;
  if (!a.data.images.empty() && !a.data.csv.empty()) throw UserError("give --images (IDX) or --data (CSV), not both");
  if (a.data.images.empty() && a.data.csv.empty()) throw UserError("no data given: use --images FILE.idx or --data FILE.csv");
  set_num_threads(a.threads);
  Model model = load_model(a.model);
  const int64_t units = shape_size(model.output_shape());
  if (a.target >= units)
    throw UserError("--target " + std::to_string(a.target) + " is out of range: the model has " + std::to_string(units) +
                    " output units (0.." + std::to_string(units - 1) + ")");
  if (!a.data.images.empty()) explain_images(model, a);
  else explain_table(model, a);
}
}  // namespace

void register_explain(CLI::App& app) {
  auto a = std::make_shared<ExplainArgs>();
  auto* cmd = app.add_subcommand(
      "explain",
      "show what a saved model's output rests on: a heat map over images (--images) or a table of a CSV row's "
      "features (--data)");
  cmd->add_option("model", a->model, "saved model (.safetensors)")->required()->check(CLI::ExistingFile);
  // The data options of train/predict that apply here, read by the same loader (load_data).
  cmd->add_option("--images", a->data.images, "IDX file of images (MNIST format, .gz or raw); scaled to [0, 1] as train does");
  cmd->add_option("--data", a->data.csv, "CSV file (plain or .gz), read as predict reads it");
  cmd->add_option("--target-column", a->data.target, "the CSV's target column to drop: its name or index (default: none)");
  cmd->add_option("--delimiter", a->data.delimiter, "CSV cell separator (default ',')");
  cmd->add_option("--skip-rows", a->data.skip_rows, "lines to skip at the top of the CSV")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-header", a->data.no_header, "the CSV has no line of column names (features are then numbered)");
  cmd->add_option("--index,--row", a->indices, "row(s) to explain, comma-separated: 7 or 7,8,9 (default 0)");
  cmd->add_option("--method", a->methods,
                  "saliency, smooth_grad, integrated_gradients (default) or grad_cam, comma-separated, or all; "
                  "a CSV: integrated_gradients");
  cmd->add_option("--target", a->target, "output unit (class) to explain (default: each row's predicted class)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--layer", a->layer, "Grad-CAM's layer (default: the last with a height, width and channels)");
  cmd->add_option("--steps", a->steps, "Integrated Gradients' points on the path (default 64)")->check(CLI::PositiveNumber);
  cmd->add_option("--samples", a->samples, "SmoothGrad's noisy copies (default 50)")->check(CLI::PositiveNumber);
  cmd->add_option("--scale", a->scale, "each pixel drawn as N x N (default 4 for images under 64 pixels, else 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--output", a->output,
                  "PNG to write (--images: the overlay, or a grid with rows = indices, columns = the image then each "
                  "method); CSV to write (--data, optional: row,feature,value,attribution)");
  cmd->add_option("--threads", a->threads, "threads to compute with (default: all cores)");
  cmd->footer(
      "The score explained is the output layer's logit for softmax and sigmoid outputs, else the output.\n"
      "A CSV row's Integrated Gradients start from the input that the model's own preprocessing maps to zeros:\n"
      "the mean of a Normalization layer at its front (train --standardize), else zeros.");
  cmd->callback([a] { explain(*a); });
}

}  // namespace cli
