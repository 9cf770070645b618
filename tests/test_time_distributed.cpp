// TimeDistributed: the wrapped layer applied to each step alike (Dense and Conv2D against the layer
// run step by step), gradients of inputs and weights against central finite differences, weights
// under the wrapped layer's names, config and save/load round trips, errors naming the layers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using layers::TimeDistributed;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {
// Runs the wrapped layer on step t of every sample by hand and compares with the wrapper's output.
void expect_stepwise(TimeDistributed& td, const Tensor& x) {
  const Tensor y = td.forward(x, false).clone();
  const int64_t batch = x.dim(0), steps = x.dim(1);
  const int64_t in_step = x.size() / (batch * steps), out_step = y.size() / (batch * steps);
  Shape step_shape(x.shape().begin() + 2, x.shape().end());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < steps; ++t) {
      Tensor one(with_batch(1, step_shape));
      for (int64_t i = 0; i < in_step; ++i) one[i] = x[(b * steps + t) * in_step + i];
      const Tensor& z = td.layer().forward(one, false);
      for (int64_t i = 0; i < out_step; ++i)
        ASSERT_NEAR(y[(b * steps + t) * out_step + i], z[i], 1e-5) << "sample " << b << " step " << t;
    }
}

void check_gradients(TimeDistributed& td, const Shape& in, int64_t batch, uint64_t seed) {
  Rng rng(seed);
  td.build(in, rng);
  Tensor x = random_tensor(with_batch(batch, in), rng, -1, 1);
  const Tensor w = random_tensor(td.forward(x, true).shape(), rng, -1, 1);
  auto loss = [&] { return weighted_sum(td.forward(x, true), w); };
  const Tensor nx = numerical_gradient(loss, x, 1e-2);
  td.forward(x, true);
  const Tensor dx = td.backward(w).clone();
  EXPECT_TRUE(gradients_close(dx, nx, 1e-3, 1e-2)) << "input";
  auto params = td.params();
  ASSERT_FALSE(params.empty());
  std::vector<Tensor> grads;
  for (auto& p : params) grads.push_back(p.grad->clone());
  for (size_t k = 0; k < params.size(); ++k) {
    const Tensor n = numerical_gradient(loss, *params[k].value, 1e-2);
    EXPECT_TRUE(gradients_close(grads[k], n, 1e-3, 1e-2)) << params[k].name;
  }
}
}  // namespace

TEST(TimeDistributed, DenseAppliesToEveryStepAlike) {
  Rng rng(1);
  TimeDistributed td(layers::Dense(3, "tanh"));
  EXPECT_EQ(td.build({5, 4}, rng), (Shape{5, 3}));
  const Tensor x = random_tensor({2, 5, 4}, rng, -1, 1);
  expect_stepwise(td, x);
  std::vector<std::string> names;
  for (auto& p : td.params()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"kernel", "bias"}));
}

TEST(TimeDistributed, Conv2DAppliesToEveryFrame) {
  Rng rng(2);
  TimeDistributed td(layers::Conv2D(3, {3, 3}, "relu", {.padding = "same"}));
  EXPECT_EQ(td.build({4, 6, 5, 2}, rng), (Shape{4, 6, 5, 3}));
  expect_stepwise(td, random_tensor({2, 4, 6, 5, 2}, rng, -1, 1));
  EXPECT_EQ(td.count_params(), 3 * 3 * 2 * 3 + 3);
}

TEST(TimeDistributed, GradientsMatchFiniteDifferences) {
  {
    SCOPED_TRACE("Dense");
    TimeDistributed td(layers::Dense(3, "tanh"));
    check_gradients(td, {4, 5}, 3, 3);
  }
  {
    SCOPED_TRACE("Conv2D");
    TimeDistributed td(layers::Conv2D(2, {2, 2}, "linear"));
    check_gradients(td, {3, 4, 4, 2}, 2, 4);
  }
}

TEST(TimeDistributed, ModelTrainsAndSurvivesSaveLoad) {
  set_random_seed(4);
  Rng rng(5);
  const Tensor x = random_tensor({96, 5, 3}, rng, -1, 1);
  Tensor y({96, 1});
  for (int64_t i = 0; i < 96; ++i) y[i] = x[i * 15] + x[i * 15 + 14];
  Sequential model({TimeDistributed(layers::Dense(8, "tanh"), Shape{5, 3}), layers::Flatten(), layers::Dense(1)});
  model.compile(optimizers::Adam(0.01), "mse");
  const auto history = model.fit(x, y, {.epochs = 40, .batch_size = 16, .verbose = 0, .seed = 1});
  EXPECT_LT(history.history.at("loss").back(), 0.2 * history.history.at("loss").front());
  EXPECT_EQ(model.weights()[0].name, "time_distributed/kernel");
  EXPECT_EQ(model.weights()[0].value->shape(), (Shape{3, 8}));

  const auto path = std::filesystem::temp_directory_path() /
                    ("myelin_time_distributed_" + std::to_string(::getpid()) + ".safetensors");
  model.save(path.string());
  Model loaded = load_model(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.predict(x).to_vector(), model.predict(x).to_vector());
  const nlohmann::json c = loaded.get_layer("time_distributed")->get_config();
  EXPECT_EQ(c["layer"]["class_name"], "Dense");
  EXPECT_EQ(c["layer"]["config"]["units"], 8);
  EXPECT_EQ(layers::from_config("TimeDistributed", c)->get_config(), c);
}

TEST(TimeDistributed, FrozenWrapperFreezesTheWrappedLayer) {
  Rng rng(6);
  TimeDistributed td(layers::Dense(2));
  td.build({3, 4}, rng);
  td.set_trainable(false);
  EXPECT_EQ(td.count_params(true), 0);
  EXPECT_EQ(td.count_params(), 4 * 2 + 2);
}

TEST(TimeDistributed, ErrorsNameTheLayers) {
  Rng rng(0);
  expect_error<ShapeError>([&] { TimeDistributed(layers::Dense(2)).build({4}, rng); }, {"TimeDistributed", "(None, 4)"});
  expect_error<ValueError>([] { TimeDistributed(layers::Add()); }, {"TimeDistributed", "Add"});
  expect_error<ShapeError>([&] { TimeDistributed(layers::Conv2D(2, {3, 3})).build({4, 5}, rng); }, {"Conv2D"});
  expect_error<ValueError>([] { layers::from_config("TimeDistributed", nlohmann::json::object()); }, {"layer"});
}
