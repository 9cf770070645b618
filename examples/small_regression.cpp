// Regression on a synthetic linear problem, y = x·w + 0.1·noise, with only 100 training rows:
// first a plain 10-10-1 network, then the same network with an L2 weight penalty and early stopping
// on the validation loss, which keeps the weights of its best epoch.
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

constexpr int64_t kFeatures = 10;

// `rows` samples of the problem: x ~ N(0, 1), y = x·w + 0.1·N(0, 1).
datasets::Split make_data(int64_t rows, const std::vector<float>& w, Rng& rng) {
  Tensor x({rows, kFeatures}), y({rows, 1});
  for (int64_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < kFeatures; ++j) {
      x.at(i, j) = rng.normal(0.f, 1.f);
      sum += double(x.at(i, j)) * w[j];
    }
    y[i] = float(sum + 0.1 * rng.normal(0.f, 1.f));
  }
  return {x, y};
}

int main(int argc, char** argv) {
  auto defaults = example::Args{.epochs = 100, .batch_size = 10, .verbose = 0, .uses_data = false};
  const auto args = example::parse_args(argc, argv, "A 10-10-1 regression, plain and with L2 + early stopping.",
                                        defaults);
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // One true weight vector; training, validation and test rows all drawn from the same problem.
  Rng rng(args.seed);
  std::vector<float> w(kFeatures);
  for (auto& wj : w) wj = rng.normal(0.f, 1.f);
  auto train = make_data(100, w, rng);
  auto val = make_data(100, w, rng);
  auto test = make_data(500, w, rng);

  // 1. The plain network.
  Sequential model({
      layers::Dense(10, "relu", Shape{kFeatures}),
      layers::Dense(1, "linear"),
  });
  model.compile("adam", "mse", {"mae"});
  model.fit(train.x, train.y,
            {.epochs = args.epochs, .batch_size = args.batch_size, .validation_data = ValidationData{val.x, val.y},
             .verbose = args.verbose});
  std::printf("test_mae=%.4f\n", model.evaluate(test.x, test.y)["mae"]);

  // 2. L2(0.01) on the kernels, and stop once val_loss has not improved for 10 epochs. The plain model
  // is still improving after 100 epochs, so as Keras users do, allow many more (10x) and let early
  // stopping decide how many are worth running; the lower test error comes mostly from that.
  // The callback is held by shared_ptr so that we can ask it afterwards where it stopped.
  Sequential l2_model({
      layers::Dense(10, "relu", {.input_shape = Shape{kFeatures}, .kernel_regularizer = regularizers::L2(0.01f)}),
      layers::Dense(1, "linear", {.kernel_regularizer = regularizers::L2(0.01f)}),
  });
  l2_model.compile("adam", "mse", {"mae"});
  auto early_stopping = std::make_shared<callbacks::EarlyStopping>(
      callbacks::EarlyStopping::Options{.monitor = "val_loss", .patience = 10, .restore_best_weights = true});
  auto history = l2_model.fit(train.x, train.y,
                              {.epochs = 10 * args.epochs,
                               .batch_size = args.batch_size,
                               .validation_data = ValidationData{val.x, val.y},
                               .callbacks = {early_stopping},
                               .verbose = args.verbose});
  std::printf("l2_test_mae=%.4f\n", l2_model.evaluate(test.x, test.y)["mae"]);
  // As Keras's "Epoch N: early stopping": the 1-based epoch it stopped after, 0 when it ran them all.
  std::printf("stopped_epoch=%d\n", early_stopping->stopped_epoch() + 1);
  std::printf("best_epoch=%d\n", early_stopping->best_epoch() + 1);
  std::printf("epochs_run=%zu\n", history.epochs.size());
}
