// The MLP workload that bench/compare_pytorch.py runs in PyTorch too; prints name=value lines only.
//
//   mlp_benchmark [--threads N] [--epochs E] [--data DIR] [--precision fp32|bf16] [--train-images N]
//
// 1. Fashion-MNIST: Flatten(28,28,1) -> Dense(32 relu) -> Dense(10 softmax), Adam(1e-3), sparse
//    categorical cross-entropy, accuracy, batch 128; one fit(epochs=E) call as a user makes it, each
//    epoch timed by a callback from its start to its end, so the median leaves out the first epoch's
//    warm-up and the one-off input check of fit; every epoch's time is printed too, comma-separated.
// 2. Inference: predict over the 10,000 test images at batch 1024 (median of 5 passes), and the
//    latency of predict on one {1,28,28,1} image (median of 2000 calls).
// 3. Fixed cost per step: 10 -> Dense(10 relu) -> Dense(1), MSE, Adam, 100 samples, batch 10,
//    100 epochs; the median epoch time over its 10 steps. Work per step is tiny, so this measures
//    the overhead a training step carries (dispatch, bookkeeping, shuffling) rather than arithmetic.
// 4. Peak resident memory of the whole process (getrusage).
// --precision bf16 builds the models under the mixed_bfloat16 policy (myelin/mixed_precision.hpp);
// --train-images N trains on the first N training images only (a shorter run; accuracy then drops).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "myelin/data/datasets.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/mixed_precision.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"
#include "timing.hpp"

using namespace myelin;

namespace {

using bench::Clock;
using bench::median;
using bench::seconds_since;

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "mlp_benchmark: %s\nusage: mlp_benchmark [--threads N] [--epochs E] [--data DIR]"
               " [--precision fp32|bf16] [--train-images N]\n",
               msg);
  std::exit(2);
}

}  // namespace

// A callback appending each epoch's duration (seconds times `scale`) to `out`.
std::shared_ptr<callbacks::LambdaCallback> epoch_timer(std::vector<double>& out, double scale) {
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  auto start = std::make_shared<Clock::time_point>();
  cb->epoch_begin = [start](int, const Logs&) { *start = Clock::now(); };
  cb->epoch_end = [&out, start, scale](int, const Logs&) { out.push_back(seconds_since(*start) * scale); };
  return cb;
}

int main(int argc, char** argv) {
  int threads = 2, epochs = 5;
  long train_images = 0;  // 0: all 60,000
  std::string data_dir, precision = "fp32";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    if (a == "--threads")
      threads = std::atoi(argv[++i]);
    else if (a == "--epochs")
      epochs = std::atoi(argv[++i]);
    else if (a == "--data")
      data_dir = argv[++i];
    else if (a == "--precision")
      precision = argv[++i];
    else if (a == "--train-images")
      train_images = std::atol(argv[++i]);
    else
      usage(("unknown argument " + a).c_str());
  }
  if (epochs < 1) usage("--epochs must be at least 1");
  if (precision != "fp32" && precision != "bf16") usage("--precision must be fp32 or bf16");
  mixed_precision::set_global_policy(precision == "bf16" ? "mixed_bfloat16" : "float32");
  set_num_threads(threads);
  set_random_seed(42);
  std::printf("threads=%d\nprecision=%s\n", num_threads(), precision.c_str());

  // 1. Training.
  auto [train, test] = datasets::fashion_mnist(data_dir);
  if (train_images > 0 && train_images < train.x.rows()) {
    train.x = train.x.rows(0, train_images).clone();
    train.y = train.y.rows(0, train_images).clone();
  }
  std::printf("train_images=%lld\n", static_cast<long long>(train.x.rows()));
  Sequential model({layers::Flatten(Shape{28, 28, 1}), layers::Dense(32, "relu"), layers::Dense(10, "softmax")});
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  std::vector<double> epoch_s;
  auto timer = epoch_timer(epoch_s, 1.0);
  model.fit(train.x, train.y, {.epochs = epochs, .batch_size = 128, .callbacks = {timer}, .verbose = 0});
  const double epoch_median = median(epoch_s);
  std::printf("train_seconds_per_epoch_median=%.6g\n", epoch_median);
  // Every epoch too: a host that changes pace mid-run shows in them, not in the median.
  std::printf("train_seconds_per_epoch_all=");
  for (size_t e = 0; e < epoch_s.size(); ++e) std::printf("%s%.4f", e ? "," : "", epoch_s[e]);
  std::printf("\n");
  std::printf("train_samples_per_sec=%.6g\n", double(train.x.rows()) / epoch_median);
  const auto scores = model.evaluate(test.x, test.y, {.batch_size = 1024});
  std::printf("test_accuracy=%.4f\n", scores.at("accuracy"));

  // 2. Inference.
  std::vector<double> pass_s;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    const Tensor p = model.predict(test.x, 1024);
    pass_s.push_back(seconds_since(t0));
    if (p.size() != test.x.rows() * 10) usage("predict returned the wrong shape");
  }
  std::printf("inference_samples_per_sec_batch1024=%.6g\n", double(test.x.rows()) / median(pass_s));

  const Tensor one = test.x.rows(0, 1).clone();
  std::vector<double> call_us;
  for (int r = 0; r < 100; ++r) model.predict(one, 1);  // warm-up: first calls size the buffers
  for (int r = 0; r < 2000; ++r) {
    const auto t0 = Clock::now();
    const Tensor p = model.predict(one, 1);
    call_us.push_back(seconds_since(t0) * 1e6);
  }
  std::printf("latency_batch1_us=%.4g\n", median(call_us));

  // 3. Fixed cost per training step.
  Rng rng(7);
  Tensor xs({100, 10}), ys({100, 1});
  for (int64_t i = 0; i < xs.size(); ++i) xs[i] = rng.normal(0.f, 1.f);
  for (int64_t i = 0; i < 100; ++i) ys[i] = xs.at(i, 0) - 0.5f * xs.at(i, 3);
  Sequential small({layers::Dense(10, "relu", Shape{10}), layers::Dense(1)});
  small.compile(optimizers::Adam(1e-3), "mse");
  std::vector<double> step_us;
  auto step_timer = epoch_timer(step_us, 1e6 / 10.0);  // 10 steps an epoch, in microseconds
  small.fit(xs, ys, {.epochs = 100, .batch_size = 10, .callbacks = {step_timer}, .verbose = 0});
  std::printf("small_regression_us_per_step=%.4g\n", median(step_us));

  // 4. Memory.
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak_rss_mb=%.1f\n", double(ru.ru_maxrss) / 1024.0);  // ru_maxrss is in KiB on Linux
  return 0;
}
