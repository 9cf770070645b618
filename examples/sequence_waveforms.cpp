// A 1-D convolutional network on sequences: noisy waveforms of 128 steps, each a sine, a triangle, a
// square or a sawtooth wave of random frequency, phase and amplitude, to be told apart by their
// shape. Causal convolutions (step t sees only steps up to t) with a growing dilation, max pooling,
// global average pooling and a softmax head, beside a perceptron on the same data. Then what
// "causal" promises, checked: changing the last steps of a sequence leaves the causal features of
// every earlier step unchanged, bit for bit; and the model, saved and loaded, predicts the same.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

constexpr int64_t kSteps = 128;
constexpr double kNoise = 0.4;  // of the same order as the waves: a single step says little
constexpr int kClasses = 4;  // sine, triangle, square, sawtooth

// `rows` waveforms, x {rows, kSteps, 1}, y the class.
datasets::Split make_waveforms(int64_t rows, Rng& rng) {
  constexpr double kPi = 3.14159265358979323846;
  Tensor x({rows, kSteps, 1}), y({rows, 1});
  for (int64_t i = 0; i < rows; ++i) {
    const int kind = int(i % kClasses);
    const double cycles = rng.uniform(2.f, 6.f), phase = rng.uniform(0.f, 1.f), amplitude = rng.uniform(0.5f, 1.5f);
    for (int64_t t = 0; t < kSteps; ++t) {
      const double u = cycles * double(t) / kSteps + phase;  // position in cycles
      const double frac = u - std::floor(u);
      const double wave = kind == 0   ? std::sin(2 * kPi * u)
                          : kind == 1 ? 4 * std::abs(frac - 0.5) - 1
                          : kind == 2 ? (frac < 0.5 ? 1.0 : -1.0)
                                      : 2 * frac - 1;
      x[i * kSteps + t] = float(amplitude * wave + kNoise * rng.normal(0.f, 1.f));
    }
    y[i] = float(kind);
  }
  return {x, y};
}

int main(int argc, char** argv) {
  auto defaults = example::Args{.epochs = 10, .batch_size = 32, .verbose = 0, .uses_data = false};
  const auto args = example::parse_args(
      argc, argv, "Sine, triangle, square or sawtooth: a causal, dilated Conv1D network on noisy waveforms.", defaults);
  set_num_threads(args.threads);
  set_random_seed(args.seed);
  Rng rng(args.seed);
  auto train = make_waveforms(1500, rng);
  auto test = make_waveforms(600, rng);

  auto inputs = layers::Input({kSteps, 1});
  auto x = layers::Conv1D(16, 5, "relu", {.padding = "causal"})(inputs);
  x = layers::Conv1D(16, 3, "relu", {.padding = "causal", .dilation_rate = 2})(x);
  auto causal = layers::Conv1D(32, 3, "relu", {.padding = "causal", .dilation_rate = 4})(x);
  x = layers::MaxPooling1D(2)(causal);
  x = layers::Conv1D(32, 3, "relu", {.padding = "same"})(x);
  x = layers::GlobalAveragePooling1D()(x);
  Model model(inputs, layers::Dense(kClasses, "softmax")(x));
  model.compile(optimizers::Adam(2e-3), "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  std::printf("test_accuracy=%.4f\n", model.evaluate(test.x, test.y)["accuracy"]);

  // The comparison: a perceptron with more weights sees each step at a fixed place, so it
  // cannot reuse what it learns of a wave's shape at one phase at another.
  Sequential dense({layers::Flatten(Shape{kSteps, 1}), layers::Dense(64, "relu"), layers::Dense(kClasses, "softmax")});
  dense.compile(optimizers::Adam(2e-3), "sparse_categorical_crossentropy", {"accuracy"});
  dense.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  std::printf("dense_test_accuracy=%.4f\n", dense.evaluate(test.x, test.y)["accuracy"]);
  std::printf("conv_weights=%lld\n", static_cast<long long>(model.count_params()));
  std::printf("dense_weights=%lld\n", static_cast<long long>(dense.count_params()));

  // The causal features of steps 0..99 must not see steps 100..127: change those and compare.
  Model features(inputs, causal);  // shares the trained layers
  const Tensor some = test.x.rows(0, 8).clone();
  Tensor changed = some.clone();
  for (int64_t i = 0; i < changed.rows(); ++i)
    for (int64_t t = 100; t < kSteps; ++t) changed[i * kSteps + t] += 5.f;
  const Tensor a = features.predict(some), b = features.predict(changed);
  const int64_t per_step = a.dim(2);
  int64_t leaks = 0, later_changed = 0;
  for (int64_t i = 0; i < a.rows(); ++i)
    for (int64_t t = 0; t < kSteps; ++t)
      for (int64_t c = 0; c < per_step; ++c) {
        const int64_t k = (i * kSteps + t) * per_step + c;
        if (t < 100) leaks += a[k] != b[k];
        else later_changed += a[k] != b[k];
      }
  std::printf("causal_leaks=%lld\n", static_cast<long long>(leaks));
  std::printf("later_steps_changed=%lld\n", static_cast<long long>(later_changed));

  const auto path = (std::filesystem::temp_directory_path() /
                     ("sequence_waveforms_" + std::to_string(::getpid()) + ".safetensors"))
                        .string();
  model.save(path);
  Model loaded = load_model(path);
  std::filesystem::remove(path);
  const Tensor p = model.predict(test.x), q = loaded.predict(test.x);
  float largest = 0;
  for (int64_t i = 0; i < p.size(); ++i) largest = std::max(largest, std::abs(p[i] - q[i]));
  std::printf("loaded_prediction_max_difference=%g\n", double(largest));
}
