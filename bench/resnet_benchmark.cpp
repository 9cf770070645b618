// The Fashion-MNIST residual network (examples/resnet_fashion_mnist, bench::users_resnet); prints
// name=value lines only, under the names bench/compare_pytorch_resnet.py compares with PyTorch.
//
//   resnet_benchmark [--threads N] [--epochs E] [--data DIR] [--precision fp32|bf16] [--train-images N]
//   [--bf16-weight-gradient rule|matmul|primitive|pairs]
//
// Training: Adam(1e-3), sparse CE, accuracy, batch 128, one fit(epochs=E) call, each epoch timed by a
// callback (the median leaves out the first epoch's warm-up); test accuracy; inference over the
// 10,000 test images at batch 1024 (median of 3 passes) and predict on one image (median of 500
// calls); peak resident memory after training and at the end. --precision bf16 builds the model under
// the mixed_bfloat16 policy (myelin/mixed_precision.hpp); --train-images N trains on the first N
// training images only; --bf16-weight-gradient forces the bfloat16 convolutions' weight-gradient way
// (bf16_weight_gradient_option.hpp; default: the library's rule).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "myelin/callbacks.hpp"
#include "myelin/data/datasets.hpp"
#include "myelin/mixed_precision.hpp"
#include "myelin/threading.hpp"
#include "bf16_weight_gradient_option.hpp"
#include "timing.hpp"
#include "users_models.hpp"

using namespace myelin;

namespace {

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "resnet_benchmark: %s\nusage: resnet_benchmark [--threads N] [--epochs E] [--data DIR]"
               " [--precision fp32|bf16] [--train-images N]"
               " [--bf16-weight-gradient rule|matmul|primitive|pairs]\n",
               msg.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, epochs = 2;
  std::string data_dir, precision = "fp32", bf16_weight_gradient = "rule";
  long train_images = 0;  // 0: all 60,000
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value after " + a);
    if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--epochs") epochs = std::atoi(argv[++i]);
    else if (a == "--data") data_dir = argv[++i];
    else if (a == "--precision") precision = argv[++i];
    else if (a == "--train-images") train_images = std::atol(argv[++i]);
    else if (a == "--bf16-weight-gradient") bf16_weight_gradient = argv[++i];
    else usage("unknown argument " + a);
  }
  if (epochs < 1) usage("--epochs must be at least 1");
  set_num_threads(threads);
  std::printf("threads=%d\n", num_threads());
  if (precision != "fp32" && precision != "bf16") usage("--precision must be fp32 or bf16");
  try {
    bench::force_bf16_weight_gradient(bf16_weight_gradient);
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  }
  std::printf("bf16_weight_gradient=%s\n", bf16_weight_gradient.c_str());
  auto [train, test] = datasets::fashion_mnist(data_dir);
  if (train_images > 0 && train_images < train.x.rows()) {
    train.x = train.x.rows(0, train_images).clone();
    train.y = train.y.rows(0, train_images).clone();
  }
  std::printf("train_images=%lld\n", static_cast<long long>(train.x.rows()));
  mixed_precision::set_global_policy(precision == "bf16" ? "mixed_bfloat16" : "float32");
  std::printf("precision=%s\n", precision.c_str());

  Model model = bench::seeded_and_compiled(bench::users_resnet);
  std::vector<double> epoch_s;
  auto timer = std::make_shared<callbacks::LambdaCallback>();
  auto start = std::make_shared<bench::Clock::time_point>();
  timer->epoch_begin = [start](int, const Logs&) { *start = bench::Clock::now(); };
  timer->epoch_end = [&epoch_s, start](int, const Logs&) { epoch_s.push_back(bench::seconds_since(*start)); };
  model.fit(train.x, train.y, {.epochs = epochs, .batch_size = 128, .callbacks = {timer}, .verbose = 0});
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("train_peak_rss_mb=%.1f\n", double(ru.ru_maxrss) / 1024.0);  // ru_maxrss is in KiB on Linux
  const double epoch_median = bench::median(epoch_s);
  std::printf("train_seconds_per_epoch_median=%.4g\n", epoch_median);
  std::printf("train_samples_per_sec=%.6g\n", double(train.x.rows()) / epoch_median);
  std::printf("test_accuracy=%.4f\n", model.evaluate(test.x, test.y, {.batch_size = 1024}).at("accuracy"));

  std::vector<double> pass_s;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = bench::Clock::now();
    model.predict(test.x, 1024);
    pass_s.push_back(bench::seconds_since(t0));
  }
  std::printf("inference_samples_per_sec_batch1024=%.6g\n", double(test.x.rows()) / bench::median(pass_s));
  const Tensor one = test.x.rows(0, 1);
  for (int r = 0; r < 20; ++r) model.predict(one, 1);
  std::vector<double> call_us;
  for (int r = 0; r < 500; ++r) {
    const auto t0 = bench::Clock::now();
    model.predict(one, 1);
    call_us.push_back(bench::seconds_since(t0) * 1e6);
  }
  std::printf("latency_batch1_us=%.4g\n", bench::median(call_us));
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak_rss_mb=%.1f\n", double(ru.ru_maxrss) / 1024.0);
}
