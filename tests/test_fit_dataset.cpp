// fit, evaluate and predict on Datasets: the same results as on arrays, errors that name the epoch
// and batch, and a non-finite loss that stops training.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"

using namespace myelin;

namespace {

// y = x0 - 2 x1 + 0.5, with rows of 3 features.
void make_regression(int64_t n, Tensor& x, Tensor& y, uint64_t seed = 1) {
  x = Tensor({n, 3});
  y = Tensor({n, 1});
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 3; ++j) x.at(i, j) = rng.uniform(-1.0f, 1.0f);
    y[i] = x.at(i, 0) - 2.0f * x.at(i, 1) + 0.5f;
  }
}

Sequential regression_model() {
  set_random_seed(5);
  Sequential model({layers::Dense(8, "tanh", Shape{3}), layers::Dense(1)});
  model.compile(optimizers::Adam(0.02), "mse", {"mae"});
  return model;
}

// Batches of `rows` rows cut from arrays, as user code would produce them.
data::GeneratorDataset batches_of(const Tensor& x, const Tensor& y, int64_t rows) {
  return data::GeneratorDataset(
      [x, y, rows, next = int64_t(0), epoch_seen = -1](int epoch) mutable -> std::optional<data::Batch> {
        if (epoch != epoch_seen) epoch_seen = epoch, next = 0;
        if (next >= x.rows()) return std::nullopt;
        const int64_t end = std::min(x.rows(), next + rows);
        data::Batch b{x.rows(next, end).clone(), y.rows(next, end).clone()};
        next = end;
        return b;
      },
      Shape{3}, Shape{1});
}

}  // namespace

TEST(FitDataset, LearnsFromAnInMemoryDataset) {
  Tensor x, y;
  make_regression(256, x, y);
  Sequential model = regression_model();
  data::InMemoryDataset data(x, y);
  const History h = model.fit(data, {.epochs = 30, .batch_size = 16, .verbose = 0});
  const auto& loss = h.history.at("loss");
  ASSERT_EQ(loss.size(), 30u);
  EXPECT_LT(loss.back(), 0.1 * loss.front());
  EXPECT_EQ(h.history.at("mae").size(), 30u);
}

TEST(FitDataset, EvaluateAndPredictMatchArrays) {
  Tensor x, y;
  make_regression(100, x, y);
  Sequential model = regression_model();
  model.fit(x, y, {.epochs = 3, .batch_size = 10, .verbose = 0});
  data::InMemoryDataset data(x, y);
  const Logs from_arrays = model.evaluate(x, y, {.batch_size = 7});
  const Logs from_dataset = model.evaluate(data, {.batch_size = 7});
  EXPECT_NEAR(from_dataset["loss"], from_arrays["loss"], 1e-6);
  EXPECT_NEAR(from_dataset["mae"], from_arrays["mae"], 1e-6);
  // The generator's batches of 9 are re-cut to predict's batch of 4: rows keep their order.
  data::GeneratorDataset gen = batches_of(x, y, 9);
  const Tensor p1 = model.predict(x, 32), p2 = model.predict(gen, 4);
  ASSERT_EQ(p2.shape(), p1.shape());
  for (int64_t i = 0; i < p1.size(); ++i) EXPECT_FLOAT_EQ(p2[i], p1[i]) << "row " << i;
}

TEST(FitDataset, UnshuffledGeneratorTrainsLikeUnshuffledArrays) {
  // Same rows in the same order, cut differently by the generator: identical weights.
  Tensor x, y;
  make_regression(90, x, y);
  Sequential a = regression_model(), b = regression_model();
  a.fit(x, y, {.epochs = 2, .batch_size = 10, .shuffle = false, .verbose = 0, .seed = 3});
  data::GeneratorDataset gen = batches_of(x, y, 7);
  b.fit(gen, {.epochs = 2, .batch_size = 10, .shuffle = false, .verbose = 0, .seed = 3});
  const auto wa = a.get_weights(), wb = b.get_weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i)
    for (int64_t j = 0; j < wa[i].size(); ++j) EXPECT_FLOAT_EQ(wb[i][j], wa[i][j]);
}

TEST(FitDataset, ValidationDatasetIsEvaluatedEachEpoch) {
  Tensor x, y, vx, vy;
  make_regression(64, x, y, 1);
  make_regression(32, vx, vy, 2);
  Sequential model = regression_model();
  data::InMemoryDataset train(x, y), val(vx, vy);
  FitOptions o{.epochs = 2, .batch_size = 8, .verbose = 0};
  o.validation_dataset = &val;
  const History h = model.fit(train, o);
  ASSERT_EQ(h.history.at("val_loss").size(), 2u);
  EXPECT_NEAR(h.history.at("val_loss").back(), model.evaluate(vx, vy)["loss"], 1e-6);
}

TEST(FitDataset, UnknownLengthShowsInTheProgressLine) {
  Tensor x, y;
  make_regression(70, x, y);
  Sequential model = regression_model();
  data::GeneratorDataset gen = batches_of(x, y, 10);
  testing::internal::CaptureStdout();
  model.fit(gen, {.epochs = 1, .batch_size = 10, .verbose = 2});
  const std::string out = testing::internal::GetCapturedStdout();
  // Seven batches of ten, counted as they came.
  EXPECT_NE(out.find("7/7"), std::string::npos) << out;
}

TEST(FitDataset, NonFiniteInputNamesEpochAndBatch) {
  Tensor x, y;
  make_regression(40, x, y);
  x.at(25, 1) = NAN;  // row 25: the third batch of 10
  Sequential model = regression_model();
  data::GeneratorDataset gen = batches_of(x, y, 10);
  try {
    model.fit(gen, {.epochs = 1, .batch_size = 10, .shuffle = false, .verbose = 0});
    FAIL() << "a NaN input was accepted";
  } catch (const ValueError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("epoch 1, batch 3"), std::string::npos) << m;
    EXPECT_NE(m.find("row 5"), std::string::npos) << m;
  }
}

TEST(FitDataset, ShapeMismatchAndValidationSplitAreClearErrors) {
  Tensor x, y;
  make_regression(20, x, y);
  Sequential model = regression_model();
  data::GeneratorDataset wrong(
      [](int) -> std::optional<data::Batch> { return std::nullopt; }, Shape{4}, Shape{1});
  try {
    model.fit(wrong, {.epochs = 1, .verbose = 0});
    FAIL() << "a dataset of 4 features fitted a model of 3";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(None, 4)"), std::string::npos) << e.what();
  }
  data::InMemoryDataset data(x, y);
  EXPECT_THROW(model.fit(data, {.epochs = 1, .validation_split = 0.2, .verbose = 0}), ValueError);
}

TEST(FitDataset, NonFiniteLossStopsTrainingAndKeepsTheWeights) {
  // A learning rate of 1e30 makes the outputs overflow after the first step.
  Tensor x, y;
  make_regression(64, x, y);
  set_random_seed(5);
  Sequential model({layers::Dense(8, "relu", Shape{3}), layers::Dense(1)});
  model.compile(optimizers::SGD(1e30), "mse");
  testing::internal::CaptureStderr();
  const History h = model.fit(x, y, {.epochs = 5, .batch_size = 8, .shuffle = false, .verbose = 0});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(h.history.at("loss").size(), 1u) << "training went on after the loss became non-finite";
  EXPECT_NE(err.find("at epoch 1, batch "), std::string::npos) << err;
  EXPECT_NE(err.find("training stopped"), std::string::npos) << err;
  // The step that produced the non-finite loss was not applied.
  for (const Tensor& w : model.get_weights())
    for (int64_t i = 0; i < w.size(); ++i) ASSERT_TRUE(std::isfinite(w[i]));
}
