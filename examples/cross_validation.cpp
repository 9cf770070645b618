// 5-fold stratified cross-validation of a perceptron on the 8x8 handwritten digits: a fresh model is
// trained on four folds and scored on the fifth, five times over, as scikit-learn's cross_validate.
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "5-fold cross-validation of a 64-64-10 perceptron on digits.",
                                        {.epochs = 20, .batch_size = 32, .verbose = 0});
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // 1797 images of 64 pixels valued 0..16; scale them to [0, 1].
  auto digits = datasets::digits(args.data);
  Tensor x = digits.x.clone();
  for (int64_t i = 0; i < x.size(); ++i) x[i] /= 16.f;

  // Each fold gets a new, untrained model from this factory.
  auto make_model = [] {
    Sequential model({
        layers::Dense(64, "relu", Shape{64}),
        layers::Dense(10, "softmax"),
    });
    model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
    return model;
  };

  auto cv = cross_validate(make_model, x, digits.y,
                           {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose},
                           {.k = 5, .stratified = true, .random_state = args.seed});

  for (size_t i = 0; i < cv.folds.size(); ++i) std::printf("fold_%zu_accuracy=%.4f\n", i + 1, cv.folds[i]["accuracy"]);
  std::printf("mean_accuracy=%.4f\n", cv.mean["accuracy"]);
  std::printf("std_accuracy=%.4f\n", cv.std["accuracy"]);
}
