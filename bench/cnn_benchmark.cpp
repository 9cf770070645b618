// The Fashion-MNIST CNN workload (examples/cnn_fashion_mnist); prints name=value lines only.
//
//   cnn_benchmark [--threads N] [--epochs E] [--data DIR] [--precision fp32|bf16] [--train-images N]
//   [--bf16-weight-gradient rule|matmul|primitive|pairs]
//
// --precision bf16 builds the model under the mixed_bfloat16 policy (myelin/mixed_precision.hpp);
// the GEMM ceiling stays float32, and 4. times the bfloat16 kernels beside the float32 ones.
// --train-images N trains on the first N training images only (a shorter run; accuracy then drops).
// --bf16-weight-gradient forces the bfloat16 convolutions' weight-gradient way (default: the rule).
//
// 1. Training: Conv2D(32) -> MaxPool -> Conv2D(64) -> MaxPool -> Conv2D(64) -> Flatten -> Dense(64)
//    -> Dense(10 softmax), Adam, sparse CE, accuracy, batch 128; one fit(epochs=E) call, each epoch
//    timed by a callback, so the median leaves out the first epoch's warm-up.
// 2. Inference: predict over the 10,000 test images at batch 1024 (median of 3 passes) and the
//    latency of predict on one image (median of 500 calls).
// 3. Per layer at batch 128: forward and backward milliseconds (median of 20) and GFLOP/s for the
//    convolutions (a backward pass is counted as twice the forward's work).
// 4. The three convolutions alone, forward + backward at batch 128, in the kernel's two layouts
//    (plain NHWC for the primitives, or their own blocked layouts with conversions at the edges),
//    and the forward as im2col + one GEMM, the textbook alternative.
// 5. Per layer at batch 1 (inference): forward microseconds, median of 200, alone and in the chain.
// 6. Peak resident memory (getrusage).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/gemm.hpp"
#include "users_models.hpp"
#include "myelin/callbacks.hpp"
#include "myelin/data/datasets.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/mixed_precision.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/threading.hpp"
#include "bf16_weight_gradient_option.hpp"
#include "timing.hpp"

using namespace myelin;

namespace {

using bench::Clock;
using bench::median;
using bench::seconds_since;

template <class F>
double median_ms(int reps, F f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(seconds_since(t0) * 1e3);
  }
  return median(t);
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "cnn_benchmark: %s\nusage: cnn_benchmark [--threads N] [--epochs E] [--data DIR] [--precision fp32|bf16]"
               " [--train-images N] [--bf16-weight-gradient rule|matmul|primitive|pairs]\n",
               msg);
  std::exit(2);
}

std::shared_ptr<callbacks::LambdaCallback> epoch_timer(std::vector<double>& out) {
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  auto start = std::make_shared<Clock::time_point>();
  cb->epoch_begin = [start](int, const Logs&) { *start = Clock::now(); };
  cb->epoch_end = [&out, start](int, const Logs&) { out.push_back(seconds_since(*start)); };
  return cb;
}

// Forward as im2col (rows = output pixels, columns = kh*kw*c in the kernel's order) then one GEMM
// against the {kh*kw*c, f} kernel; valid padding, stride 1, as the CNN's convolutions.
void im2col_conv(const kernels::Conv2DGeometry& g, const float* x, const float* k, float* cols, float* y) {
  const int64_t K = g.kernel_h * g.kernel_w * g.in_c, P = g.out_h * g.out_w;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t i = 0; i < g.out_h; ++i)
      for (int64_t j = 0; j < g.out_w; ++j) {
        float* row = cols + ((n * P) + i * g.out_w + j) * K;
        for (int64_t p = 0; p < g.kernel_h; ++p)
          std::copy_n(x + ((n * g.in_h + i + p) * g.in_w + j) * g.in_c, g.kernel_w * g.in_c,
                      row + p * g.kernel_w * g.in_c);
      }
  kernels::gemm(false, false, g.batch * P, g.out_c, K, 1.f, cols, K, k, g.out_c, 0.f, y, g.out_c);
}

// Each layer's input for one forward pass of x: the previous layer's output buffer. Re-running a
// layer rewrites its buffer in place with the same values, so these pointers stay valid.
std::vector<const Tensor*> layer_inputs(Sequential& model, const Tensor& x, bool training) {
  std::vector<const Tensor*> inputs;
  const Tensor* h = &x;
  for (const auto& l : model.layers()) {
    inputs.push_back(h);
    h = &l->forward(*h, training);
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, epochs = 3;
  long train_images = 0;  // 0: all 60,000
  std::string data_dir, precision = "fp32", bf16_weight_gradient = "rule";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--epochs") epochs = std::atoi(argv[++i]);
    else if (a == "--data") data_dir = argv[++i];
    else if (a == "--precision") precision = argv[++i];
    else if (a == "--train-images") train_images = std::atol(argv[++i]);
    else if (a == "--bf16-weight-gradient") bf16_weight_gradient = argv[++i];
    else usage(("unknown argument " + a).c_str());
  }
  if (epochs < 1) usage("--epochs must be at least 1");
  set_num_threads(threads);
  set_random_seed(42);
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

  // 4 first: the kernels alone, before the data set's pages and the model's buffers are warm.
  {
    struct C {
      const char* name;
      int64_t h, c, f;
    };
    const C convs[] = {{"conv1", 28, 1, 32}, {"conv2", 13, 32, 64}, {"conv3", 5, 64, 64}};
    double total[3] = {0, 0, 0}, total_im2col = 0, flops_total = 0;
    const bool bf16_kernels = precision == "bf16" && mixed_precision::bf16_supported();
    for (const auto& cv : convs) {
      kernels::Conv2DGeometry g{128, cv.h, cv.h, cv.c, cv.h - 2, cv.h - 2, cv.f, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
      Tensor x({128, cv.h, cv.h, cv.c}), k({3, 3, cv.c, cv.f}), b({cv.f}), y({128, cv.h - 2, cv.h - 2, cv.f});
      Tensor dk(k.shape()), db(b.shape()), dx(x.shape());
      Rng rng(1);
      for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(0, 1);
      for (int64_t i = 0; i < k.size(); ++i) k[i] = rng.uniform(-0.1f, 0.1f);
      const double flops = 2.0 * 128 * g.out_h * g.out_w * cv.f * 9 * cv.c;
      flops_total += 3 * flops;
      // The three variants interleaved, repetition by repetition, so that a busy machine slows
      // them alike: float32 NHWC, float32 blocked, bfloat16 (NHWC at the edges).
      kernels::Conv2DKernel kerns[3] = {kernels::Conv2DKernel(kernels::Conv2DLayout::Nhwc),
                                        kernels::Conv2DKernel(kernels::Conv2DLayout::Blocked),
                                        kernels::Conv2DKernel(kernels::Conv2DLayout::Nhwc)};
      kerns[2].set_bf16(bf16_kernels);
      const bool first = cv.c == 1;  // the model's first layer needs no input gradient
      std::vector<double> times[3];
      for (int r = 0; r < 20; ++r)
        for (int v = 0; v < 3; ++v) {
          if (v == 2 && !bf16_kernels) continue;
          const auto t0 = Clock::now();
          kerns[v].forward(g, x.data(), k.data(), b.data(), true, y.data());
          kerns[v].backward(g, x.data(), y.data(), k.data(), dk.data(), db.data(), first ? nullptr : dx.data());
          times[v].push_back(seconds_since(t0) * 1e3);
        }
      const char* names[3] = {"nhwc", "blocked", "bf16"};
      for (int v = 0; v < 3; ++v) {
        if (times[v].empty()) continue;
        const double ms = median(times[v]);
        std::printf("%s_%s_fwd_bwd_ms=%.3f\n", cv.name, names[v], ms);
        total[v] += ms;
      }
      if (bf16_kernels) std::printf("%s_bf16_onednn=\"%s\"\n", cv.name, kerns[2].implementations().c_str());
      Tensor cols({128 * g.out_h * g.out_w, 9 * cv.c});
      const double ms = median_ms(20, [&] { im2col_conv(g, x.data(), k.data(), cols.data(), y.data()); });
      std::printf("%s_im2col_gemm_fwd_ms=%.3f\n", cv.name, ms);
      total_im2col += ms;
    }
    std::printf("convs_nhwc_fwd_bwd_ms=%.3f\nconvs_nhwc_gflops=%.1f\n", total[0], flops_total / total[0] / 1e6);
    std::printf("convs_blocked_fwd_bwd_ms=%.3f\nconvs_blocked_gflops=%.1f\n", total[1], flops_total / total[1] / 1e6);
    std::printf("convs_im2col_gemm_fwd_ms=%.3f\n", total_im2col);
    if (bf16_kernels) {
      std::printf("convs_bf16_fwd_bwd_ms=%.3f\nconvs_bf16_gflops=%.1f\n", total[2], flops_total / total[2] / 1e6);
      std::printf("convs_bf16_speedup_over_nhwc=%.3f\n", total[0] / total[2]);
    }
  }

  // The ceiling every figure below is a fraction of: oneDNN's sgemm on a large square product with
  // the same threads (the 460 GFLOP/s on these two cores).
  double ceiling_gflops = 0;
  {
    const int64_t n = 1024;
    Tensor a({n, n}), b({n, n}), c({n, n});
    Rng rng(2);
    for (int64_t i = 0; i < a.size(); ++i) a[i] = rng.uniform(-1, 1), b[i] = rng.uniform(-1, 1);
    const double ms = median_ms(10, [&] {
      kernels::gemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    });
    ceiling_gflops = 2.0 * n * n * n / (ms * 1e6);
    std::printf("gemm_ceiling_gflops=%.1f\n", ceiling_gflops);
  }

  // 1. Training.
  mixed_precision::set_global_policy(precision == "bf16" ? "mixed_bfloat16" : "float32");
  std::printf("precision=%s\n", precision.c_str());
  Sequential model = bench::users_cnn();
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  std::vector<double> epoch_s;
  auto timer = epoch_timer(epoch_s);
  model.fit(train.x, train.y, {.epochs = epochs, .batch_size = 128, .callbacks = {timer}, .verbose = 0});
  const double epoch_median = median(epoch_s);
  std::printf("train_seconds_per_epoch_median=%.4g\n", epoch_median);
  std::printf("train_samples_per_sec=%.6g\n", double(train.x.rows()) / epoch_median);
  {
    // A training step does about three times the forward arithmetic (forward, input and weight gradients).
    int64_t forward_flops = 0;
    for (const auto& l : model.layers()) forward_flops += l->flops_per_sample();
    const double step_gflops = 3.0 * double(forward_flops) * double(train.x.rows()) / epoch_median / 1e9;
    std::printf("train_gflops=%.1f\ntrain_fraction_of_gemm_ceiling=%.3f\n", step_gflops, step_gflops / ceiling_gflops);
  }
  std::printf("test_accuracy=%.4f\n", model.evaluate(test.x, test.y, {.batch_size = 1024}).at("accuracy"));

  // 2. Inference.
  std::vector<double> pass_s;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    const Tensor p = model.predict(test.x, 1024);
    pass_s.push_back(seconds_since(t0));
  }
  std::printf("inference_samples_per_sec_batch1024=%.6g\n", double(test.x.rows()) / median(pass_s));
  const Tensor one = test.x.rows(0, 1).clone();
  for (int r = 0; r < 20; ++r) model.predict(one, 1);
  std::vector<double> call_us;
  for (int r = 0; r < 500; ++r) {
    const auto t0 = Clock::now();
    const Tensor p = model.predict(one, 1);
    call_us.push_back(seconds_since(t0) * 1e6);
  }
  std::printf("latency_batch1_us=%.4g\n", median(call_us));

  // 3. Per layer, at batch 128, layer by layer as the model runs them.
  {
    const Tensor x = train.x.rows(0, 128).clone();
    const auto& ls = model.layers();
    const auto inputs = layer_inputs(model, x, true);
    for (size_t i = 0; i < ls.size(); ++i) {
      Layer& l = *ls[i];
      const Tensor& y = l.forward(*inputs[i], true);
      const Tensor dy = Tensor::full(y.shape(), 1e-3f);
      const double fwd = median_ms(20, [&] { l.forward(*inputs[i], true); });
      const double bwd = median_ms(20, [&] {
        l.forward(*inputs[i], true);
        l.backward(dy);
      }) - fwd;
      const double gf = l.flops_per_sample() * 128.0;
      std::printf("layer_%s_fwd_ms=%.3f\nlayer_%s_bwd_ms=%.3f\n", l.name().c_str(), fwd, l.name().c_str(), bwd);
      if (gf > 0) {
        const double gflops = 3 * gf / ((fwd + bwd) * 1e6);
        std::printf("layer_%s_gflops=%.1f\nlayer_%s_fraction_of_gemm_ceiling=%.3f\n", l.name().c_str(), gflops,
                    l.name().c_str(), gflops / ceiling_gflops);
      }
    }
  }

  // 5. Per layer at batch 1, inference: where the latency goes (median of 200 calls, microseconds).
  {
    const Tensor x = test.x.rows(0, 1).clone();
    const auto& ls = model.layers();
    const auto inputs = layer_inputs(model, x, false);
    for (size_t i = 0; i < ls.size(); ++i) {
      Layer& l = *ls[i];
      const double us = 1e3 * median_ms(200, [&] { l.forward(*inputs[i], false); });
      std::printf("layer_%s_b1_us=%.2f\n", l.name().c_str(), us);
    }
    // Inside the chain each layer's input comes from the layer before, partly from the other
    // core's cache: the figures add up to the latency, unlike those of layers timed alone.
    std::vector<std::vector<double>> chain(ls.size());
    for (int r = 0; r < 200; ++r) {
      const Tensor* in = &x;
      for (size_t i = 0; i < ls.size(); ++i) {
        const auto t0 = Clock::now();
        in = &ls[i]->forward(*in, false);
        chain[i].push_back(seconds_since(t0) * 1e6);
      }
    }
    for (size_t i = 0; i < ls.size(); ++i)
      std::printf("layer_%s_b1_chain_us=%.2f\n", ls[i]->name().c_str(), median(chain[i]));
  }

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak_rss_mb=%.1f\n", double(ru.ru_maxrss) / 1024.0);
  return 0;
}
