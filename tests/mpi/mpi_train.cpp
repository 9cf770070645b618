// Trains a small model for the multi-process tests (run by tests/mpi/*.sh under mpirun):
//
//   mpi_train train --batch B --out FILE [--epochs E] [--model sequential|residual] [--backup DIR]
//                   [--kill-rank R --kill-epoch K]
//   mpi_train compare A B TOLERANCE
//
// `train` prints name=value lines (ranks, first_epoch, per-epoch loss, evaluate's results) from rank 0
// and saves the weights. --model residual trains a functional model with a skip connection (its
// gradients summed where the branches meet) instead of the Sequential chain. --kill-rank makes that rank die (SIGKILL) at the start of epoch K, as a
// crashed machine would. `compare` exits 1 when any weight of two files differs by more than TOLERANCE.
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "myelin/callbacks/checkpoint.hpp"
#include "myelin/distributed.hpp"
#include "myelin/error.hpp"
#include "myelin/io/safetensors.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/model.hpp"

using namespace myelin;

namespace {

Model make_model(const std::string& kind) {
  set_random_seed(3);
  if (kind == "sequential")
    return Sequential({layers::Dense(16, "tanh", Shape{6}), layers::Dense(8, "relu"), layers::Dense(1, "sigmoid")});
  if (kind != "residual") throw ValueError("--model: sequential or residual, got '" + kind + "'");
  auto in = layers::Input({6});
  auto h = layers::Dense(16, "tanh")(in);
  auto r = layers::Add()({h, layers::Dense(16, "relu")(h)});
  return Model(in, layers::Dense(1, "sigmoid")(layers::Concatenate()({r, layers::Dense(8, "relu")(in)})));
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

int train(int argc, char** argv) {
  const int batch = std::stoi(arg(argc, argv, "--batch", "8"));
  const int epochs = std::stoi(arg(argc, argv, "--epochs", "3"));
  const std::string out = arg(argc, argv, "--out", "");
  const std::string backup = arg(argc, argv, "--backup", "");
  const int kill_rank = std::stoi(arg(argc, argv, "--kill-rank", "-1"));
  const int kill_epoch = std::stoi(arg(argc, argv, "--kill-epoch", "-1"));

  // 203 rows: not a multiple of any step, so the last step is short and split unevenly.
  const int64_t n = 203;
  Tensor x({n, 6}), y({n, 1});
  Rng data_rng(7);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < 6; ++j) {
      x.at(i, j) = data_rng.normal(0.0f, 1.0f);
      s += (j % 2 ? -0.5 : 1.0) * x.at(i, j);
    }
    y[i] = s > 0 ? 1.0f : 0.0f;
  }
  Model model = make_model(arg(argc, argv, "--model", "sequential"));
  model.compile(optimizers::Adam(0.01), "binary_crossentropy", {"accuracy", "auc"});

  FitOptions options{.epochs = epochs, .batch_size = batch, .verbose = 0, .seed = 11};
  if (!backup.empty()) options.callbacks.push_back(callbacks::BackupAndRestore(backup));
  callbacks::LambdaCallback watch;
  int first_epoch = -1;
  watch.epoch_begin = [&](int epoch, const Logs&) {
    if (first_epoch < 0) first_epoch = epoch;
    if (epoch == kill_epoch && distributed::rank() == kill_rank) std::raise(SIGKILL);
  };
  options.callbacks.push_back(watch);
  const History history = model.fit(x, y, options);
  const Logs result = model.evaluate(x, y, {.batch_size = 16});
  if (distributed::is_primary()) {
    std::printf("ranks=%d\nfirst_epoch=%d\n", distributed::size(), first_epoch);
    const auto& loss = history.history.at("loss");
    for (size_t e = 0; e < loss.size(); ++e) std::printf("epoch_%zu_loss=%.9g\n", e, loss[e]);
    for (const auto& [k, v] : result) std::printf("evaluate_%s=%.9g\n", k.c_str(), v);
  }
  if (!out.empty()) model.save_weights(out);
  return 0;
}

int compare(const std::string& a, const std::string& b, double tolerance) {
  const auto fa = io::read_safetensors(a), fb = io::read_safetensors(b);
  if (fa.tensors.size() != fb.tensors.size()) {
    std::printf("different tensor counts\n");
    return 1;
  }
  double worst = 0;
  for (const auto& [name, ta] : fa.tensors) {
    const Tensor& tb = fb.at(name);
    if (ta.size() != tb.size()) {
      std::printf("%s: different sizes\n", name.c_str());
      return 1;
    }
    for (int64_t i = 0; i < ta.size(); ++i) worst = std::max(worst, std::fabs(double(ta[i]) - double(tb[i])));
  }
  std::printf("max_abs_difference=%.3g\n", worst);
  return worst <= tolerance ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "train") return train(argc, argv);
  if (argc == 5 && std::string(argv[1]) == "compare") return compare(argv[2], argv[3], std::atof(argv[4]));
  std::fprintf(stderr, "usage: mpi_train train --batch B --out FILE [...] | mpi_train compare A B TOLERANCE\n");
  return 2;
}
