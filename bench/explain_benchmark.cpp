// What an explanation costs against the passes it is made of; prints name=value lines only.
//
//   explain_benchmark [--threads N] [--images N] [--repeats R]
//
// The users' CNN (bench/users_models.hpp, untrained: the cost does not depend on the weights) on N
// (default 64) random 28x28x1 images, each figure the median of R (default 5) runs, all taking
// turns in one loop so that the machine's load falls on each alike:
//   predict_ms             predict(x): the forward pass alone
//   train_step_ms          train_on_batch(x, y): forward, backward and the optimizer
//   gradients_ms           Model::gradients(x): forward and backward to the input
//   saliency_ms            explain::saliency
//   grad_cam_ms            explain::grad_cam at the last convolution
//   integrated_gradients_ms   explain::integrated_gradients, 16 steps (16 N rows)
//   smooth_grad_ms            explain::smooth_grad, 16 samples (16 N rows)
// and the ratios saliency / train step and integrated_gradients / (16 x gradients): an attribution
// should cost about its rows' backward passes, nothing per sample on top.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "myelin/explain/attributions.hpp"
#include "myelin/model.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"
#include "timing.hpp"
#include "users_models.hpp"

using namespace myelin;

namespace {

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "explain_benchmark: %s\nusage: explain_benchmark [--threads N] [--images N] [--repeats R]\n", msg);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, images = 64, repeats = 5;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] {
      if (i + 1 >= argc) usage("missing value");
      const int v = std::atoi(argv[++i]);
      if (v <= 0) usage("values must be positive integers");
      return v;
    };
    if (!std::strcmp(argv[i], "--threads")) threads = value();
    else if (!std::strcmp(argv[i], "--images")) images = value();
    else if (!std::strcmp(argv[i], "--repeats")) repeats = value();
    else usage("unknown option");
  }
  if (threads > 0) set_num_threads(threads);
  Sequential model = bench::users_cnn();
  Rng rng(1);
  Tensor x({images, 28, 28, 1}), y({images, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(0.f, 1.f);
  for (int64_t i = 0; i < y.size(); ++i) y[i] = float(rng.below(10));
  const std::string last_conv = explain::last_spatial_layer(model);
  auto seed = [](const Tensor& out, Tensor& d) {
    for (int64_t r = 0; r < out.rows(); ++r) d.at(r, 0) = 1.f;
  };
  const int steps = 16;
  std::vector<double> predict_s, train_s, gradients_s, saliency_s, cam_s, ig_s, sg_s;
  for (int rep = 0; rep <= repeats; ++rep) {  // the first round warms up and is not counted
    auto time = [&](std::vector<double>& into, auto&& what) {
      const auto t0 = bench::Clock::now();
      what();
      if (rep > 0) into.push_back(bench::seconds_since(t0) * 1e3);
    };
    time(predict_s, [&] { model.predict(x, images); });
    time(train_s, [&] { model.train_on_batch(x, y); });
    time(gradients_s, [&] { model.gradients(x, seed); });
    time(saliency_s, [&] { explain::saliency(model, x, {}, {.score = {.batch_size = images}}); });
    time(cam_s, [&] { explain::grad_cam(model, x, {}, {.layer = last_conv, .score = {.batch_size = images}}); });
    time(ig_s, [&] { explain::integrated_gradients(model, x, {}, {.steps = steps, .score = {.batch_size = images}}); });
    time(sg_s, [&] { explain::smooth_grad(model, x, {}, {.samples = steps, .score = {.batch_size = images}}); });
  }
  std::printf("images=%d\nthreads=%d\n", images, num_threads());
  std::printf("predict_ms=%.2f\n", bench::median(predict_s));
  std::printf("train_step_ms=%.2f\n", bench::median(train_s));
  std::printf("gradients_ms=%.2f\n", bench::median(gradients_s));
  std::printf("saliency_ms=%.2f\n", bench::median(saliency_s));
  std::printf("grad_cam_ms=%.2f\n", bench::median(cam_s));
  std::printf("integrated_gradients_ms=%.2f\n", bench::median(ig_s));
  std::printf("smooth_grad_ms=%.2f\n", bench::median(sg_s));
  std::printf("saliency_over_train_step=%.3f\n", bench::median(saliency_s) / bench::median(train_s));
  std::printf("integrated_gradients_over_%d_gradients=%.3f\n", steps,
              bench::median(ig_s) / (steps * bench::median(gradients_s)));
}
