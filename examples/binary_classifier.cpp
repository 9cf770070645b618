// A binary classifier (sigmoid output, binary cross-entropy), first on random data, then on a real
// question: will a diabetes patient's disease progress more than the median one year on?
//
// Random labels hold nothing to learn, so on fresh random rows the accuracy is a coin's, about 0.5.
// On the diabetes data the same network learns something real.
#include <algorithm>
#include <cstdio>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

// The same network for both problems; only the number of inputs differs.
Sequential make_model(int64_t inputs) {
  Sequential model({
      layers::Dense(10, "relu", Shape{inputs}),
      layers::Dense(10, "relu"),
      layers::Dense(1, "sigmoid"),
  });
  model.compile("adam", "binary_crossentropy", {"accuracy", "precision", "recall", "auc"});
  return model;
}

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "A 10-10-1 sigmoid classifier on random and on real data.",
                                        {.epochs = 10, .batch_size = 32, .verbose = 0});
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // 1. Random inputs in [0, 1) and random 0/1 labels, as np.random.random / np.random.randint.
  Rng rng(args.seed);
  auto random_data = [&rng](int64_t rows) {
    datasets::Split s{Tensor({rows, 8}), Tensor({rows, 1})};
    for (int64_t i = 0; i < s.x.size(); ++i) s.x[i] = float(rng.uniform01());
    for (int64_t i = 0; i < s.y.size(); ++i) s.y[i] = float(rng.below(2));
    return s;
  };
  auto random_train = random_data(1000), random_test = random_data(1000);

  Sequential random_model = make_model(8);
  random_model.fit(random_train.x, random_train.y,
                   {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  std::printf("random_accuracy=%.4f\n", random_model.evaluate(random_test.x, random_test.y)["accuracy"]);

  // 2. Diabetes (442 patients, 10 features): label 1 when progression is above the median.
  auto diabetes = datasets::diabetes(args.data);
  std::vector<float> target = diabetes.y.to_vector();
  std::vector<float> sorted = target;
  std::sort(sorted.begin(), sorted.end());
  const float median = (sorted[(sorted.size() - 1) / 2] + sorted[sorted.size() / 2]) / 2;
  Tensor y(diabetes.y.shape());
  for (int64_t i = 0; i < y.size(); ++i) y[i] = target[i] > median ? 1.f : 0.f;

  auto [x_train, x_test, y_train, y_test] =
      train_test_split(diabetes.x, y, /*test_size=*/0.2, /*random_state=*/args.seed, /*stratify=*/true);
  StandardScaler scaler;  // fitted on the training patients only
  x_train = scaler.fit_transform(x_train);
  x_test = scaler.transform(x_test);

  // Few rows (353) make few steps per epoch, so this part trains for more epochs.
  Sequential model = make_model(diabetes.x.dim(1));
  model.fit(x_train, y_train, {.epochs = 5 * args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  auto scores = model.evaluate(x_test, y_test);
  std::printf("real_test_accuracy=%.4f\n", scores["accuracy"]);
  std::printf("precision=%.4f\n", scores["precision"]);
  std::printf("recall=%.4f\n", scores["recall"]);
  std::printf("auc=%.4f\n", scores["auc"]);
}
