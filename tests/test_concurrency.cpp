// predict and evaluate on one model from several threads at once give exactly the single-threaded
// results. Without the model's lock the threads share the layers' buffers and this test crashes or
// mismatches; docs/reliability.md says how to run it under ThreadSanitizer.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "myelin/myelin.hpp"

using namespace myelin;

TEST(Concurrency, PredictFromManyThreadsMatchesOneThread) {
  set_random_seed(4);
  Sequential model({layers::Dense(16, "relu", Shape{10}), layers::Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  std::vector<Tensor> inputs;
  std::vector<std::vector<float>> expected;
  Rng rng(1);
  for (int t = 0; t < 4; ++t) {
    Tensor x({300 + t, 10});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal(0, 1);
    expected.push_back(model.predict(x, 8).to_vector());
    inputs.push_back(std::move(x));
  }
  Tensor y({300, 1});
  const double loss = model.evaluate(inputs[0], y)["loss"];
  std::vector<int> mismatches(5, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 300; ++r)
        if (model.predict(inputs[size_t(t)], 8).to_vector() != expected[size_t(t)]) ++mismatches[size_t(t)];
    });
  threads.emplace_back([&] {
    for (int r = 0; r < 100; ++r)
      if (model.evaluate(inputs[0], y)["loss"] != loss) ++mismatches[4];
  });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 5; ++t) EXPECT_EQ(mismatches[size_t(t)], 0) << "thread " << t;
}
