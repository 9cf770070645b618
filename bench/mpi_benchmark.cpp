// Training throughput of data-parallel fit; prints name=value lines only, from rank 0.
//
//   mpi_benchmark [--batch B] [--threads N] [--epochs E] [--cnn-epochs C] [--cnn-rows R] [--data DIR]
//   mpirun -np 2 mpi_benchmark ...        (bench/mpi_benchmark.sh runs both and prints the ratios)
//
// B is the global batch (default 128): every rank trains with batch_size B / ranks, so one process
// and N ranks step with the same rows. N sets the OpenMP threads of each process (default: what
// myelin chooses, i.e. the cores the process may run on, which mpirun restricts to the rank's own).
//
// 1. MLP: Flatten -> Dense(32 relu) -> Dense(10 softmax), Adam, sparse categorical cross-entropy,
//    on all 60,000 Fashion-MNIST training images, one fit(epochs=E) call (default 5): samples/s from
//    the median epoch time.
// 2. CNN (bench/cnn_benchmark.cpp's model) on the first R images (default 12,800: 100 steps of 128),
//    one fit(epochs=C) call (default 3), samples/s from the median epoch time and from the median
//    step time (the interval between consecutive batch ends).
// 3. With more than one rank, the gradient allreduce alone: each rank hands every gradient tensor of
//    the model to the same overlapped allreduce the training step uses (one MPI_Iallreduce per
//    tensor, then wait for all), outside training; median of 200 rounds, each after a barrier. This
//    is the communication a step cannot avoid, without the overlap with the backward pass.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "distributed/collectives.hpp"
#include "myelin/callbacks.hpp"
#include "myelin/data/datasets.hpp"
#include "myelin/distributed.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"
#include "users_models.hpp"
#include "timing.hpp"

using namespace myelin;

namespace {

using bench::Clock;
using bench::median;
using bench::seconds_since;
using bench::mean;

[[noreturn]] void usage(const char* msg) {
  if (distributed::is_primary())
    std::fprintf(stderr,
                 "mpi_benchmark: %s\nusage: mpi_benchmark [--batch B] [--threads N] [--epochs E] [--cnn-epochs C] "
                 "[--cnn-rows R] [--data DIR]\n",
                 msg);
  std::exit(2);
}

// printf on rank 0 only.
template <class... A>
void report(const char* format, A... args) {
  if (distributed::is_primary()) std::printf(format, args...);
}

struct Timings {
  std::vector<double> epoch_s, step_s;
};

std::shared_ptr<callbacks::LambdaCallback> timer(Timings& t) {
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  auto epoch_start = std::make_shared<Clock::time_point>();
  auto last_step = std::make_shared<Clock::time_point>();
  cb->epoch_begin = [=](int, const Logs&) { *epoch_start = *last_step = Clock::now(); };
  cb->batch_end = [=, &t](int, const Logs&) {
    const auto now = Clock::now();
    t.step_s.push_back(std::chrono::duration<double>(now - *last_step).count());
    *last_step = now;
  };
  cb->epoch_end = [=, &t](int, const Logs&) { t.epoch_s.push_back(seconds_since(*epoch_start)); };
  return cb;
}

// Trains `model` and prints its throughput with `prefix`; then, with several ranks, the allreduce
// of its gradients alone.
void measure(const std::string& prefix, Sequential& model, const Tensor& x, const Tensor& y, int batch_per_rank,
             int global_batch, int epochs) {
  Timings t;
  model.fit(x, y, {.epochs = epochs, .batch_size = batch_per_rank, .callbacks = {timer(t)}, .verbose = 0});
  const char* p = prefix.c_str();
  const double epoch = median(t.epoch_s), step = median(t.step_s);
  report("%srows=%lld\n", p, (long long)x.rows());
  report("%sseconds_per_epoch_median=%.6g\n", p, epoch);
  report("%ssamples_per_sec=%.6g\n", p, double(x.rows()) / epoch);
  report("%sms_per_step_median=%.6g\n", p, step * 1e3);
  report("%sms_per_step_mean=%.6g\n", p, mean(t.step_s) * 1e3);
  report("%ssamples_per_sec_from_step=%.6g\n", p, double(global_batch) / step);

  std::vector<Tensor> grads;
  int64_t floats = 0;
  for (const Param& param : model.parameters())
    if (param.grad) {
      grads.emplace_back(param.grad->shape());
      floats += param.grad->size();
    }
  report("%sgradient_floats=%lld\n", p, (long long)floats);
  if (distributed::size() < 2) return;
  std::vector<double> ms;
  for (int r = 0; r < 220; ++r) {
    distributed::barrier();
    const auto t0 = Clock::now();
    distributed::OverlappedAllreduce reduce;
    for (auto it = grads.rbegin(); it != grads.rend(); ++it) reduce.start(it->data(), it->size());  // last layer first, as backward
    reduce.wait();
    if (r >= 20) ms.push_back(seconds_since(t0) * 1e3);
  }
  report("%sallreduce_ms_per_step_median=%.6g\n", p, median(ms));
  report("%sallreduce_share_of_step=%.4f\n", p, median(ms) / (step * 1e3));
}

}  // namespace

int main(int argc, char** argv) {
  // First, so that an explicit --threads below overrides the thread count init() derives.
  distributed::init();
  int global_batch = 128, threads = 0, epochs = 5, cnn_epochs = 3;
  int64_t cnn_rows = 12800;
  std::string data_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    if (a == "--batch") global_batch = std::atoi(argv[++i]);
    else if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--epochs") epochs = std::atoi(argv[++i]);
    else if (a == "--cnn-epochs") cnn_epochs = std::atoi(argv[++i]);
    else if (a == "--cnn-rows") cnn_rows = std::atoll(argv[++i]);
    else if (a == "--data") data_dir = argv[++i];
    else usage(("unknown argument " + a).c_str());
  }
  const int ranks = distributed::size();
  if (epochs < 1 || cnn_epochs < 0) usage("--epochs must be at least 1 and --cnn-epochs not negative");
  if (global_batch < ranks || global_batch % ranks != 0) usage("--batch must be a multiple of the number of ranks");
  if (threads > 0) set_num_threads(threads);
  const int batch_per_rank = global_batch / ranks;
  report("ranks=%d\nthreads_per_rank=%d\nglobal_batch=%d\nbatch_per_rank=%d\n", ranks, num_threads(), global_batch,
         batch_per_rank);

  try {
    const auto [train, test] = datasets::fashion_mnist(data_dir);
    {
      Sequential mlp = bench::seeded_and_compiled([] { return bench::users_mlp(Shape{28, 28, 1}); });
      measure("mlp_", mlp, train.x, train.y, batch_per_rank, global_batch, epochs);
    }
    if (cnn_epochs > 0) {
      const int64_t rows = std::min(cnn_rows, train.x.rows());
      Sequential cnn = bench::seeded_and_compiled(bench::users_cnn);
      measure("cnn_", cnn, train.x.rows(0, rows), train.y.rows(0, rows), batch_per_rank, global_batch, cnn_epochs);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_benchmark: rank %d: %s\n", distributed::rank(), e.what());
    return 1;
  }
  return 0;
}
