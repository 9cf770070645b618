// A small multilayer perceptron on Fashion-MNIST: the "hello world" of Keras, in C++.
//
// Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given
// with --data or $MYELIN_FASHION_MNIST_DIR. Prints Keras's one line per epoch, then its figures.
#include <chrono>
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Fashion-MNIST with a 784-32-10 perceptron.",
                                        {.epochs = 5, .batch_size = 128, .verbose = 2});
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // 60,000 training and 10,000 test images, 28x28x1 scaled to [0, 1]; labels 0..9.
  auto [train, test] = datasets::fashion_mnist(args.data);

  Sequential model({
      layers::Flatten(Shape{28, 28, 1}),
      layers::Dense(32, "relu"),
      layers::Dense(10, "softmax"),
  });
  // Integer labels, so the sparse form of the cross-entropy; no one-hot encoding needed.
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});

  const auto start = std::chrono::steady_clock::now();
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto scores = model.evaluate(test.x, test.y);  // {"accuracy": ..., "loss": ...}
  std::printf("test_accuracy=%.4f\n", scores["accuracy"]);
  std::printf("test_loss=%.4f\n", scores["loss"]);
  std::printf("train_seconds=%.2f\n", train_seconds);
}
