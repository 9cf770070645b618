// Augmentation layers at a model's front run on the data thread while fit reads the batches, and
// the training step passes their input through: the same training as when the step runs them.
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <set>
#include <thread>

#include "myelin/data/dataset.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/random_flip.hpp"
#include "myelin/layers/random_translation.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"

using namespace myelin;

namespace {

// Adds noise from the layer's own stream in training, passes its input through at inference, and
// records the threads its training forward ran on.
class NoiseAugmentation : public Layer {
  MYELIN_LAYER_MOVABLE(NoiseAugmentation)
  std::string class_name() const override { return "NoiseAugmentation"; }
  bool is_augmentation() const override { return true; }
  Shape build(const Shape& input_shape, Rng&) override { return input_shape; }
  void reseed(Rng& rng) override { rng_ = rng.split(); }
  const Tensor& forward(const Tensor& x, bool training) override {
    if (!training) return x;
    {
      std::lock_guard<std::mutex> lock(threads_mutex);
      threads.insert(std::this_thread::get_id());
    }
    y_.resize(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y_.data()[i] = x.data()[i] + 0.3f * float(rng_.normal(0.0, 1.0));
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override { return dy; }

  static std::mutex threads_mutex;
  static std::set<std::thread::id> threads;

 private:
  Rng rng_{0};
  Tensor y_;
};
std::mutex NoiseAugmentation::threads_mutex;
std::set<std::thread::id> NoiseAugmentation::threads;

struct Data {
  Tensor x, y;
};

Data regression(int64_t n) {
  Rng rng(3);
  Data d{Tensor({n, 4}), Tensor({n, 1})};
  for (int64_t r = 0; r < n; ++r) {
    float t = 0;
    for (int64_t c = 0; c < 4; ++c) t += float(c + 1) * (d.x.at(r, c) = float(rng.normal(0.0, 1.0)));
    d.y.at(r, 0) = 0.5f * t;
  }
  return d;
}

// The model's weights after fit, and the threads the augmentation ran on. `front` puts the
// augmentation first; otherwise an identity activation opens the model and the step runs it.
std::pair<std::vector<float>, std::set<std::thread::id>> train(bool front, bool dataset) {
  NoiseAugmentation::threads.clear();
  set_random_seed(7);
  Sequential model;
  if (!front) model.add(layers::Activation("linear"));
  model.add(NoiseAugmentation());
  model.add(layers::Dense(8, "tanh"));
  model.add(layers::Dense(1));
  model.build(Shape{4});
  model.compile(optimizers::Adam(0.01), "mse");
  const Data d = regression(200);
  const FitOptions options{.epochs = 3, .batch_size = 16, .verbose = 0, .seed = 11};
  if (dataset) {
    data::InMemoryDataset ds(d.x, d.y);
    model.fit(ds, options);
  } else {
    model.fit(d.x, d.y, options);
  }
  std::vector<float> weights;
  for (const auto& w : model.get_weights()) weights.insert(weights.end(), w.data(), w.data() + w.size());
  // At inference the augmentation is the identity wherever it sits.
  const Tensor p = model.predict(d.x.rows(0, 5));
  EXPECT_TRUE(std::isfinite(p.at(0, 0)));
  return {weights, NoiseAugmentation::threads};
}

// Leaves a core to the data thread, as the rule for running augmentation there wants.
class DataThreadAugmentation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (num_cores() < 2) GTEST_SKIP() << "one core: no data thread to run augmentation on";
    set_num_threads(1);
  }
  void TearDown() override { set_num_threads(0); }
};

TEST_F(DataThreadAugmentation, WithoutASpareCoreTheStepRunsTheAugmentation) {
  set_num_threads(0);  // every core computes
  const auto [weights, threads] = train(/*front=*/true, /*dataset=*/false);
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(DataThreadAugmentation, FromArraysTrainsAsTheStepWouldAndOffTheStepThread) {
  const auto [in_step, step_threads] = train(/*front=*/false, /*dataset=*/false);
  const auto [on_data, data_threads] = train(/*front=*/true, /*dataset=*/false);
  EXPECT_EQ(in_step, on_data);
  EXPECT_EQ(step_threads, std::set<std::thread::id>{std::this_thread::get_id()});
  ASSERT_EQ(data_threads.size(), 1u);
  EXPECT_NE(*data_threads.begin(), std::this_thread::get_id());
}

TEST_F(DataThreadAugmentation, FromADatasetTrainsAsTheStepWouldAndOffTheStepThread) {
  const auto [in_step, step_threads] = train(/*front=*/false, /*dataset=*/true);
  const auto [on_data, data_threads] = train(/*front=*/true, /*dataset=*/true);
  EXPECT_EQ(in_step, on_data);
  EXPECT_EQ(step_threads, std::set<std::thread::id>{std::this_thread::get_id()});
  ASSERT_EQ(data_threads.size(), 1u);
  EXPECT_NE(*data_threads.begin(), std::this_thread::get_id());
}

TEST_F(DataThreadAugmentation, AnInputAlsoReadElsewhereKeepsTheAugmentationInTheStep) {
  // The raw input also feeds a second branch: augmenting the batch itself would change that branch.
  NoiseAugmentation::threads.clear();
  auto in = layers::Input({4});
  auto noisy = NoiseAugmentation()(in);
  auto out = layers::Dense(1)(layers::Concatenate()({noisy, in}));
  Model model(in, out);
  model.compile(optimizers::Adam(0.01), "mse");
  const Data d = regression(64);
  model.fit(d.x, d.y, {.epochs = 1, .batch_size = 16, .verbose = 0});
  EXPECT_EQ(NoiseAugmentation::threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(DataThreadAugmentation, KerasAugmentationLayersTrainTheSameOnTheDataThread) {
  Rng rng(9);
  Tensor x({48, 6, 6, 2}), y({48, 1});
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = float(rng.uniform01());
  for (int64_t r = 0; r < 48; ++r) y.data()[r] = float(r % 3);
  auto weights = [&](bool front) {
    set_random_seed(3);
    Sequential model;
    if (!front) model.add(layers::Activation("linear"));
    model.add(layers::RandomFlip("horizontal"));
    model.add(layers::RandomTranslation(0.2, 0.2));
    model.add(layers::Flatten());
    model.add(layers::Dense(3, "softmax"));
    model.build(Shape{6, 6, 2});
    model.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy");
    model.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 4});
    std::vector<float> w;
    for (const auto& t : model.get_weights()) w.insert(w.end(), t.data(), t.data() + t.size());
    return w;
  };
  EXPECT_EQ(weights(false), weights(true));
}

}  // namespace
