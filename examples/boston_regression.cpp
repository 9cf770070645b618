// Regression on the Boston housing prices: standardise the features, fit a small network with the
// mean squared error, then score its predictions on held-out houses as scikit-learn users do.
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Boston housing prices with a 13-10-1 network.",
                                        {.epochs = 100, .batch_size = 10, .verbose = 0});
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // 506 houses, 13 features, target = median value in k$.
  auto data = datasets::boston_housing(args.data);
  auto [x_train, x_test, y_train, y_test] = train_test_split(data.x, data.y, /*test_size=*/0.2, /*random_state=*/42);

  // Scale with statistics of the training rows only, so nothing leaks from the test houses.
  StandardScaler scaler;
  x_train = scaler.fit_transform(x_train);
  x_test = scaler.transform(x_test);

  Sequential model({
      layers::Dense(10, "relu", Shape{13}),
      layers::Dense(1),
  });
  model.compile(optimizers::Adam(1e-3), "mse", {"mse"});
  model.fit(x_train, y_train, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});

  Tensor y_pred = model.predict(x_test);
  std::printf("test_mse=%.4f\n", metrics::mean_squared_error(y_test, y_pred));
}
