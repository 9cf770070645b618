// A small residual network with batch normalisation on Fashion-MNIST, built with the functional API.
//
//   stem:    Conv2D(32, 3x3, same) -> BatchNormalization -> relu -> MaxPooling2D 2x2   28x28 -> 14x14x32
//   block 1: [Conv-BN-relu-Conv-BN] + x, relu                                            14x14x32
//   block 2: the same with the first convolution strided (2x2) and 64 filters; the shortcut
//            is a strided 1x1 Conv-BN projection, since its shape changes               7x7x64
//   head:    GlobalAveragePooling2D -> Dense(10, softmax)
//
// Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given
// with --data or $MYELIN_FASHION_MNIST_DIR. --precision bf16 trains and evaluates under Keras's
// mixed_bfloat16 policy, --precision auto under it only where it runs faster than float32 on this CPU
// (mixed_precision::bf16_faster_than_float32). Prints its figures as name=value lines, the policy that ran among them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

namespace {

// Conv2D without bias (the batch normalisation's beta takes its place) followed by BatchNormalization.
SymbolicTensor conv_bn(const SymbolicTensor& x, int64_t filters, layers::Size2 kernel, int64_t stride) {
  auto y = layers::Conv2D(filters, kernel, "linear", {.strides = stride, .padding = "same", .use_bias = false})(x);
  return layers::BatchNormalization()(y);
}

// Two 3x3 Conv-BN with a relu between, added to the block's input (projected by a strided 1x1
// Conv-BN when the block downsamples and widens), then relu.
SymbolicTensor residual_block(const SymbolicTensor& x, int64_t filters, int64_t stride) {
  auto y = layers::Activation("relu")(conv_bn(x, filters, {3, 3}, stride));
  y = conv_bn(y, filters, {3, 3}, 1);
  const auto shortcut = stride == 1 ? x : conv_bn(x, filters, {1, 1}, stride);
  return layers::Activation("relu")(layers::Add()({y, shortcut}));
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Fashion-MNIST with a small residual network.",
                                        {.epochs = 10, .batch_size = 128, .verbose = 0, .uses_convolutions = true,
                                         .uses_precision = true});
  set_num_threads(args.threads);
  set_random_seed(args.seed);
  layers::set_winograd_convolutions(args.winograd);
  // Before the layers, which take the policy in force when they are made.
  if (args.precision == "bf16") mixed_precision::set_global_policy("mixed_bfloat16");
  if (args.precision == "auto") mixed_precision::set_global_policy("auto");

  auto [train, test] = datasets::fashion_mnist(args.data);

  auto inputs = layers::Input({28, 28, 1});
  auto x = layers::Activation("relu")(conv_bn(inputs, 32, {3, 3}, 1));
  x = layers::MaxPooling2D({2, 2})(x);
  x = residual_block(x, 32, 1);
  x = residual_block(x, 64, 2);
  x = layers::GlobalAveragePooling2D()(x);
  Model model(inputs, layers::Dense(10, "softmax")(x));

  // Adam from 2e-3 following a cosine to 0 over the whole run (batch normalisation takes the larger
  // rate; 10 epochs reach 0.92: bench/README.md).
  const int64_t steps = int64_t(args.epochs) * ((train.x.rows() + args.batch_size - 1) / args.batch_size);
  auto adam = std::make_shared<optimizers::Adam>(2e-3);
  adam->set_schedule(std::make_shared<schedules::CosineDecay>(2e-3, std::max<int64_t>(steps, 1)));
  model.compile(adam, "sparse_categorical_crossentropy", {"accuracy"});
  if (args.verbose > 0) model.summary();

  const auto start = std::chrono::steady_clock::now();
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto scores = model.evaluate(test.x, test.y, {.batch_size = 256});
  std::printf("mixed_bfloat16=%d\n", int(mixed_precision::global_policy() == "mixed_bfloat16"));
  std::printf("bf16_supported=%d\n", int(mixed_precision::bf16_supported()));
  std::printf("bf16_faster_than_float32=%d\n", int(mixed_precision::bf16_faster_than_float32()));
  std::printf("test_accuracy=%.4f\n", scores["accuracy"]);
  std::printf("test_loss=%.4f\n", scores["loss"]);
  std::printf("params=%lld\n", (long long)model.count_params());
  std::printf("train_seconds=%.2f\n", train_seconds);
  std::printf("train_seconds_per_epoch=%.2f\n", args.epochs > 0 ? train_seconds / args.epochs : 0.0);
}
