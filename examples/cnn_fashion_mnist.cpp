// A small convolutional network on Fashion-MNIST, layer for layer the Keras tutorial's CNN.
//
// Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given
// with --data or $MYELIN_FASHION_MNIST_DIR. Prints Keras's one line per epoch, then its figures.
#include <chrono>
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Fashion-MNIST with a three-convolution network.",
                                        {.epochs = 5, .batch_size = 128, .verbose = 2, .uses_convolutions = true});
  set_num_threads(args.threads);
  set_random_seed(args.seed);
  layers::set_winograd_convolutions(args.winograd);  // on unless --winograd 0

  // 60,000 training and 10,000 test images, 28x28x1 scaled to [0, 1]; labels 0..9.
  auto [train, test] = datasets::fashion_mnist(args.data);

  Sequential model({
      layers::Conv2D(32, {3, 3}, "relu", Shape{28, 28, 1}),  // -> 26x26x32
      layers::MaxPooling2D({2, 2}),                          // -> 13x13x32
      layers::Conv2D(64, {3, 3}, "relu"),                    // -> 11x11x64
      layers::MaxPooling2D({2, 2}),                          // -> 5x5x64
      layers::Conv2D(64, {3, 3}, "relu"),                    // -> 3x3x64
      layers::Flatten(),
      layers::Dense(64, "relu"),
      layers::Dense(10, "softmax"),
  });
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  if (args.verbose > 0) model.summary();

  const auto start = std::chrono::steady_clock::now();
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto scores = model.evaluate(test.x, test.y, {.batch_size = 256});
  std::printf("test_accuracy=%.4f\n", scores["accuracy"]);
  std::printf("test_loss=%.4f\n", scores["loss"]);
  std::printf("train_seconds=%.2f\n", train_seconds);
  std::printf("train_seconds_per_epoch=%.2f\n", args.epochs > 0 ? train_seconds / args.epochs : 0.0);
}
