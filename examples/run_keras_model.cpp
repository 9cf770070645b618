// Runs a model saved by Keras (or by myelin): loads a Keras 3 .keras file (a Keras 2 .h5 or a
// myelin .safetensors file works too), prints its summary, scores it on labelled data and times
// batch-1 inference.
//
//   run_keras_model MODEL --images IMAGES --labels LABELS [--scale S]   IDX files, as Fashion-MNIST's
//   run_keras_model MODEL --csv PATH                                    a numeric CSV, label last
//
// IDX images (gzip or raw) are multiplied by --scale (default 1/255) and reshaped to the model's
// input shape, so (n, 28, 28) files feed a model taking (28, 28), (28, 28, 1) or (784,). A CSV has
// a header line and its last column holds the label. Labels are class indices; accuracy is the
// share of rows whose arg-max output (one sigmoid output: output > 0.5) is the label.
// Prints name=value lines after the summary; examples/python/keras_roundtrip.py is its Python twin
// and also times Keras itself on the same file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

namespace {

struct Options {
  std::string model, images, labels, csv;
  double scale = 1.0 / 255.0;
  int calls = 200;  // batch-1 calls timed
  int batch_size = 32;
  int threads = 0;
};

Options parse(int argc, char** argv) {
  const char* program = argv[0];
  example::print_uncaught_errors(program);
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "Loads a .keras (or Keras 2 .h5, or .safetensors) model, prints its summary, its accuracy on\n"
          "labelled data and its batch-1 latency.\n\n"
          "Usage: %s MODEL (--images IDX --labels IDX [--scale S] | --csv PATH) [options]\n"
          "  --images PATH   IDX images (gzip or raw), reshaped to the model's input\n"
          "  --labels PATH   IDX labels, class indices\n"
          "  --scale S       factor applied to the images (default 1/255)\n"
          "  --csv PATH      numeric CSV with a header line, the label in the last column\n"
          "  --calls N       batch-1 predictions timed (default 200)\n"
          "  --batch-size N  rows per batch when scoring (default 32)\n"
          "  --threads N     threads to compute with (default: all cores)\n"
          "  --help          show this message\n",
          program);
      std::exit(0);
    }
    if (flag.rfind("--", 0) != 0) {
      if (!o.model.empty()) example::detail::usage_error(program, "one model file only, got '" + flag + "' too");
      o.model = flag;
      continue;
    }
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      if (i + 1 >= argc) example::detail::usage_error(program, flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "--images") o.images = value;
    else if (flag == "--labels") o.labels = value;
    else if (flag == "--csv") o.csv = value;
    else if (flag == "--scale") {
      char* end = nullptr;
      o.scale = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') example::detail::usage_error(program, "--scale expects a number, got '" + value + "'");
    } else if (flag == "--calls") o.calls = int(example::detail::to_int(program, flag, value, 1, 1000000));
    else if (flag == "--batch-size") o.batch_size = int(example::detail::to_int(program, flag, value, 1, 1 << 30));
    else if (flag == "--threads") o.threads = int(example::detail::to_int(program, flag, value, 0, 4096));
    else example::detail::usage_error(program, "unknown option '" + flag + "'");
  }
  if (o.model.empty()) example::detail::usage_error(program, "no model file given");
  const bool idx = !o.images.empty() || !o.labels.empty();
  if (idx == !o.csv.empty()) example::detail::usage_error(program, "give either --images and --labels, or --csv");
  if (idx && (o.images.empty() || o.labels.empty()))
    example::detail::usage_error(program, "--images and --labels go together");
  return o;
}

// Share of rows whose predicted class is the label.
double accuracy(const Tensor& probabilities, const Tensor& labels) {
  const int64_t n = probabilities.shape()[0], k = probabilities.size() / std::max<int64_t>(n, 1);
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* p = probabilities.data() + i * k;
    const int64_t predicted = k == 1 ? (p[0] > 0.5f ? 1 : 0) : int64_t(std::max_element(p, p + k) - p);
    right += predicted == int64_t(labels[i]);
  }
  return n ? double(right) / double(n) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  set_num_threads(o.threads);

  Model model = load_model(o.model);
  if (model.input_shapes().size() != 1 || model.output_shapes().size() != 1)
    throw ValueError(o.model + ": this example runs models of one input and one output");

  Tensor x, y;
  if (!o.csv.empty()) {
    auto csv = data::read_csv(o.csv);
    x = std::move(csv.x), y = std::move(csv.y);
  } else {
    x = data::read_idx(o.images);
    y = data::read_idx(o.labels);
    for (int64_t i = 0; i < x.size(); ++i) x[i] *= float(o.scale);
  }
  const std::string source = o.csv.empty() ? o.images : o.csv;
  const int64_t n = x.shape()[0];
  if (y.shape()[0] != n)
    throw ShapeError(source + ": " + std::to_string(n) + " samples but " + std::to_string(y.shape()[0]) + " labels");
  // The files' layout need not be the model's: (n, 28, 28) images feed (28, 28, 1) or (784,).
  const Shape want = with_batch(n, model.input_shape());
  int64_t want_size = 1;
  for (int64_t d : want) want_size *= d;
  if (want_size != x.size())
    throw ShapeError(source + ": samples of shape " + shape_to_string(Shape(x.shape().begin() + 1, x.shape().end())) + ", which cannot feed the model's input " +
                     shape_to_string(model.input_shape(), false));
  x = x.reshape(want);

  model.summary(std::cout);
  std::printf("samples=%lld\n", (long long)n);
  std::printf("accuracy=%.4f\n", accuracy(model.predict(x, o.batch_size), y));
  if (model.compiled())  // the file's compile settings: Keras's evaluate() figures
    for (const auto& [name, value] : model.evaluate(x, y, {.batch_size = o.batch_size}))
      std::printf("evaluate_%s=%.4f\n", name.c_str(), value);

  // Batch-1 inference as a served model sees it: one sample per call, the median of many calls
  // after a few untimed ones (the first call sizes the buffers).
  const Tensor one = x.rows(0, 1);
  for (int i = 0; i < 10; ++i) model.predict(one, 1);
  std::vector<double> us(size_t(o.calls));
  for (auto& t : us) {
    const auto start = std::chrono::steady_clock::now();
    model.predict(one, 1);
    t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  std::printf("batch1_calls=%d\n", o.calls);
  std::printf("batch1_latency_us_median=%.1f\n", us[us.size() / 2]);
}
