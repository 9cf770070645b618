// Wide & deep on a real, unbalanced question: will a diabetes patient's disease progression one year
// on be in the top quarter? Two inputs: a wide, linear path over the features and their squares, and
// a deep path (two hidden layers) over the features; their logits are added and squashed. One in four
// patients is positive, so a second run weighs that class by 3 (class_weight) and catches more of them.

#include <algorithm>
#include <cstdio>
#include <vector>

#include "example_args.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;

Model make_model() {
  auto wide = layers::Input({20}, "wide");
  auto deep = layers::Input({10}, "deep");
  auto w = layers::Dense(1, "linear", {.name = "wide_logit"})(wide);
  auto d = layers::Dense(32, "relu")(deep);
  d = layers::Dense(16, "relu")(d);
  d = layers::Dense(1, "linear", {.name = "deep_logit"})(d);
  auto risk = layers::Activation("sigmoid")(layers::Add()({w, d}));
  Model model({wide, deep}, {risk}, "wide_and_deep");
  model.compile("adam", "binary_crossentropy", {"accuracy", "recall", "auc"});
  return model;
}

// The wide input: the standardised features and their squares.
Tensor wide_features(const Tensor& x) {
  const int64_t n = x.rows(), f = x.dim(1);
  Tensor w({n, 2 * f});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < f; ++j) {
      w.at(i, j) = x.at(i, j);
      w.at(i, f + j) = x.at(i, j) * x.at(i, j);
    }
  return w;
}

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "A two-input wide & deep classifier, with and without class weights.",
                                        {.epochs = 60, .batch_size = 32, .verbose = 0});
  set_num_threads(args.threads);

  // Diabetes (442 patients, 10 features): label 1 when progression is in the top quarter.
  auto diabetes = datasets::diabetes(args.data);
  std::vector<float> sorted = diabetes.y.to_vector();
  std::sort(sorted.begin(), sorted.end());
  const float threshold = sorted[sorted.size() * 3 / 4];
  Tensor y(diabetes.y.shape());
  for (int64_t i = 0; i < y.size(); ++i) y[i] = diabetes.y[i] >= threshold ? 1.f : 0.f;
  auto [x_train, x_test, y_train, y_test] =
      train_test_split(diabetes.x, y, /*test_size=*/0.25, /*random_state=*/args.seed, /*stratify=*/true);
  StandardScaler scaler;  // fitted on the training patients only
  x_train = scaler.fit_transform(x_train);
  x_test = scaler.transform(x_test);
  const Tensor wide_train = wide_features(x_train), wide_test = wide_features(x_test);
  double positives = 0;
  for (int64_t i = 0; i < y_train.size(); ++i) positives += y_train[i];
  std::printf("positive_fraction=%.4f\n", positives / double(y_train.size()));

  // The same network and seed twice: the second run weighs the rare class by 3.
  for (bool weighted : {false, true}) {
    set_random_seed(args.seed);
    Model model = make_model();
    FitOptions options{.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose};
    if (weighted) options.class_weight = {{0, 1.0}, {1, 3.0}};
    model.fit({wide_train, x_train}, {y_train}, options);
    const Logs scores = model.evaluate({wide_test, x_test}, {y_test});
    const char* prefix = weighted ? "weighted_" : "";
    std::printf("%stest_accuracy=%.4f\n", prefix, scores["accuracy"]);
    std::printf("%stest_recall=%.4f\n", prefix, scores["recall"]);
    std::printf("%stest_auc=%.4f\n", prefix, scores["auc"]);
  }
}
