// Trains a small model for the multi-process tests (run by tests/mpi/*.sh under mpirun):
//
//   mpi_train train --batch B --out FILE [--epochs E] [--model mlp|residual|recurrent|attention|two_by_two] [--backup DIR]
//                   [--kill-rank R --kill-epoch K]
//   mpi_train compare A B TOLERANCE
//
// `train` prints name=value lines (ranks, first_epoch, per-epoch loss, evaluate's results) from rank 0
// and saves the weights. --model residual trains a functional model with a skip connection (its
// gradients summed where the branches meet), --model recurrent a Sequential of Embedding,
// Bidirectional(LSTM) and GRU on the rows' columns quantised to token ids, --model attention a
// functional model of Embedding, Conv1D, TimeDistributed(Dense), MultiHeadAttention and
// LayerNormalization on the same ids, --model two_by_two a model of two inputs and two outputs
// with loss weights, sample weights and class weights, instead of the MLP. --kill-rank makes that rank die (SIGKILL) at the start of epoch K, as a
// crashed machine would. `compare` exits 1 when any weight of two files differs by more than TOLERANCE.
#include <algorithm>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "myelin/callbacks/checkpoint.hpp"
#include "myelin/distributed.hpp"
#include "myelin/error.hpp"
#include "myelin/io/safetensors.hpp"
#include "myelin/layers/bidirectional.hpp"
#include "myelin/layers/conv1d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/embedding.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/layer_normalization.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/multi_head_attention.hpp"
#include "myelin/layers/pooling1d.hpp"
#include "myelin/layers/recurrent.hpp"
#include "myelin/layers/time_distributed.hpp"
#include "myelin/model.hpp"

using namespace myelin;

namespace {

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
  set_random_seed(3);
  const std::string kind = arg(argc, argv, "--model", "mlp");
  const bool two_by_two = kind == "two_by_two";
  Model model = [&]() -> Model {
    if (kind == "mlp") return Sequential({layers::Dense(16, "tanh", Shape{6}), layers::Dense(8, "relu"), layers::Dense(1, "sigmoid")});
    if (kind == "residual") {
      auto in = layers::Input({6});
      auto h = layers::Dense(16, "tanh")(in);
      auto r = layers::Add()({h, layers::Dense(16, "relu")(h)});
      return Model(in, layers::Dense(1, "sigmoid")(layers::Concatenate()({r, layers::Dense(8, "relu")(in)})));
    }
    if (kind == "recurrent")
      return Sequential({layers::Embedding(10, 4, {.input_shape = Shape{6}}),
                         layers::Bidirectional(layers::LSTM(6, {.return_sequences = true})), layers::GRU(8),
                         layers::Dense(1, "sigmoid")});
    if (kind == "attention") {
      auto ids = layers::Input({6});
      auto c = layers::Conv1D(8, 3, "relu", {.padding = "same"})(layers::Embedding(10, 4)(ids));
      auto t = layers::TimeDistributed(layers::Dense(8, "tanh"))(c);
      auto h = layers::LayerNormalization()(layers::Add()({t, layers::MultiHeadAttention(2, 4)({t, c})}));
      return Model(ids, layers::Dense(1, "sigmoid")(layers::GlobalAveragePooling1D()(h)));
    }
    if (!two_by_two)
      throw ValueError("--model: mlp, residual, recurrent, attention or two_by_two, got '" + kind + "'");
    auto a = layers::Input({4}, "a");
    auto b = layers::Input({2}, "b");
    auto h = layers::Dense(16, "tanh")(layers::Concatenate()({a, b}));
    return Model({a, b}, {layers::Dense(2, "softmax", {.name = "class"})(h), layers::Dense(1, "linear", {.name = "box"})(h)});
  }();
  // The two-output model: x split into inputs of 4 and 2 columns, class targets y and a regression
  // target (the first column doubled), each sample weighted by its row.
  Tensor xa({n, 4}), xb({n, 2}), box({n, 1}), weights({n});
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 4; ++j) xa.at(i, j) = x.at(i, j);
    for (int j = 0; j < 2; ++j) xb.at(i, j) = x.at(i, 4 + j);
    box[i] = 2 * x.at(i, 0);
    weights[i] = float(1 + i % 3) / 2;
  }
  if (kind == "recurrent" || kind == "attention") {
    // Each column's value as one of 10 ids, its sign kept in which half: the label stays learnable.
    for (int64_t i = 0; i < x.size(); ++i) x[i] = float(std::clamp(int((x[i] + 2.5f) * 2.0f), 0, 9));
  }
  if (two_by_two)
    model.compile(optimizers::Adam(0.01), {{"class", "sparse_categorical_crossentropy"}, {"box", "mse"}},
                  {.loss_weights = {{"class", 1.0}, {"box", 0.5}}, .metrics = {{"class", {"accuracy"}}},
                   .weighted_metrics = {{"box", {"mae"}}}});
  else
    model.compile(optimizers::Adam(0.01), "binary_crossentropy", {"accuracy", "auc"});

  FitOptions options{.epochs = epochs, .batch_size = batch, .verbose = 0, .seed = 11};
  if (two_by_two) {
    options.sample_weight = weights;
    options.class_weight = {{0, 1.0}, {1, 2.0}};
  }
  if (!backup.empty()) options.callbacks.push_back(callbacks::BackupAndRestore(backup));
  callbacks::LambdaCallback watch;
  int first_epoch = -1;
  watch.epoch_begin = [&](int epoch, const Logs&) {
    if (first_epoch < 0) first_epoch = epoch;
    if (epoch == kill_epoch && distributed::rank() == kill_rank) std::raise(SIGKILL);
  };
  options.callbacks.push_back(watch);
  const History history = two_by_two ? model.fit({xa, xb}, {y, box}, options) : model.fit(x, y, options);
  const Logs result = two_by_two ? model.evaluate({xa, xb}, {y, box}, {.batch_size = 16, .sample_weight = weights})
                                 : model.evaluate(x, y, {.batch_size = 16});
  if (distributed::is_primary()) {
    std::printf("ranks=%d\nfirst_epoch=%d\n", distributed::size(), first_epoch);
    for (const auto& [k, values] : history.history)
      for (size_t e = 0; e < values.size(); ++e) std::printf("epoch_%zu_%s=%.9g\n", e, k.c_str(), values[e]);
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
