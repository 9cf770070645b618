// A sequence task that needs memory: 30 noisy steps, labelled by the sign of the first two steps' sum.
// A forward LSTM must carry those two values through 28 steps of noise; a Bidirectional LSTM's
// backward direction reads them last. Both see the same data, seed and training.
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

constexpr int64_t kSteps = 30;

// `rows` sequences of N(0, 1) values, one feature per step; label 1 when x_0 + x_1 > 0.
datasets::Split make_data(int64_t rows, Rng& rng) {
  Tensor x({rows, kSteps, 1}), y({rows, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal(0.f, 1.f);
  for (int64_t i = 0; i < rows; ++i) y[i] = x[i * kSteps] + x[i * kSteps + 1] > 0 ? 1.f : 0.f;
  return {x, y};
}

double test_accuracy(Sequential& model, const datasets::Split& train, const datasets::Split& test,
                     const example::Args& args) {
  model.compile(optimizers::Adam(0.01), "binary_crossentropy", {"accuracy"});
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  return model.evaluate(test.x, test.y)["accuracy"];
}

int main(int argc, char** argv) {
  auto defaults = example::Args{.epochs = 10, .batch_size = 32, .verbose = 0, .uses_data = false};
  const auto args = example::parse_args(
      argc, argv, "An LSTM and a Bidirectional LSTM on a task that needs the first steps of a sequence.", defaults);
  set_num_threads(args.threads);
  Rng rng(args.seed);
  const auto train = make_data(1000, rng);
  const auto test = make_data(500, rng);

  set_random_seed(args.seed);
  Sequential forward({layers::LSTM(8, {.input_shape = Shape{kSteps, 1}}), layers::Dense(1, "sigmoid")});
  std::printf("lstm_test_accuracy=%.4f\n", test_accuracy(forward, train, test, args));

  set_random_seed(args.seed);
  Sequential both({layers::Bidirectional(layers::LSTM(8, {.input_shape = Shape{kSteps, 1}})),
                   layers::Dense(1, "sigmoid")});
  std::printf("bidirectional_test_accuracy=%.4f\n", test_accuracy(both, train, test, args));
}
