// Sequential: summary layout, build and data errors, fit/evaluate/predict contracts, regularization,
// determinism, weights round trip, cross-validation and a small end-to-end run on the digits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "model_memory.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::expect_error;

namespace {

// Three classes in 2-D, points on three rings of angles; deterministic, not separable by a line at
// the origin but easy for a small MLP. Labels {n, 1}.
struct Blobs {
  Tensor x, y;
  explicit Blobs(int n) : x(Shape{n, 2}), y(Shape{n, 1}) {
    for (int i = 0; i < n; ++i) {
      const int c = i % 3;
      const double a = 0.37 * i;
      x.at(i, 0) = float((c - 1) * 1.5 + 0.4 * std::cos(a));
      x.at(i, 1) = float((c == 1 ? 1.0 : -0.5) + 0.4 * std::sin(a));
      y.at(i, 0) = float(c);
    }
  }
};

// A smooth regression target from 4 features.
struct Regression {
  Tensor x, y;
  Regression(int n, int outputs = 1) : x(Shape{n, 4}), y(Shape{n, outputs}) {
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < 4; ++j) x.at(i, j) = float(std::sin(0.7 * i + 1.3 * j));
      for (int k = 0; k < outputs; ++k)
        y.at(i, k) = x.at(i, 0) - 0.5f * x.at(i, 1) + 0.25f * x.at(i, 2) * x.at(i, 3) + 0.1f * float(k);
    }
  }
};

Sequential classifier(uint64_t seed, float dropout = 0.f) {
  set_random_seed(seed);
  Sequential m({layers::Dense(16, "relu", Shape{2})});
  if (dropout > 0) m.add(layers::Dropout(dropout));
  m.add(layers::Dense(3, "softmax"));
  m.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

bool same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].shape() != b[i].shape() || a[i].to_vector() != b[i].to_vector()) return false;
  return true;
}

// One row of Keras's summary table: columns start at 0, 29 and 55 (positions 0.45 and 0.85 of 65
// characters), the first one indented by a space.
std::string summary_row(const std::string& name_and_class, const std::string& shape, const std::string& params) {
  std::string row = " " + name_and_class;
  row.resize(29, ' ');
  row += shape;
  row.resize(55, ' ');
  return row + params;
}

std::vector<std::string> lines_without_trailing_spaces(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.push_back(line);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// summary

TEST(Summary, MatchesKerasLayout) {
  // Keras 2's table for Dense(32, input 784) -> Dense(10): 784*32 + 32 = 25120, 32*10 + 10 = 330,
  // total 25,450.
  Sequential m({layers::Dense(32, "relu", Shape{784}), layers::Dense(10, "softmax")});
  const auto lines = lines_without_trailing_spaces(m.summary_string());
  std::vector<std::string> non_blank;
  for (const auto& l : lines)
    if (!l.empty()) non_blank.push_back(l);
  const std::vector<std::string> expected = {
      "Model: \"sequential\"",
      std::string(65, '_'),
      summary_row("Layer (type)", "Output Shape", "Param #"),
      std::string(65, '='),
      summary_row("dense (Dense)", "(None, 32)", "25120"),
      summary_row("dense_1 (Dense)", "(None, 10)", "330"),
      std::string(65, '='),
      "Total params: 25,450",
      "Trainable params: 25,450",
      "Non-trainable params: 0",
      std::string(65, '_'),
  };
  EXPECT_EQ(non_blank, expected) << m.summary_string();
  EXPECT_EQ(m.count_params(), 25450);
  // summary() prints the same text.
  std::ostringstream out;
  m.summary(out);
  EXPECT_EQ(out.str(), m.summary_string());
}

// Keras 2 (print_summary in keras/utils/layer_utils.py) prints a blank row after every layer,
// the last one included, before the closing '=' rule.
TEST(Summary, BlankRowAfterEveryLayerAsKeras) {
  Sequential m({layers::Dense(32, "relu", Shape{784}), layers::Dense(10, "softmax")});
  const auto lines = lines_without_trailing_spaces(m.summary_string());
  ASSERT_GE(lines.size(), 10u);
  EXPECT_EQ(lines[4], summary_row("dense (Dense)", "(None, 32)", "25120"));
  EXPECT_EQ(lines[5], "");
  EXPECT_EQ(lines[6], summary_row("dense_1 (Dense)", "(None, 10)", "330"));
  EXPECT_EQ(lines[7], "") << m.summary_string();
  EXPECT_EQ(lines[8], std::string(65, '=')) << m.summary_string();
}

TEST(Summary, InputLayerIsNotListedAndShapesKeepTheirRank) {
  // Dense on a 3-D per-sample input works on the last axis: (None, 5, 7) -> (None, 5, 4), 7*4 + 4 = 32.
  Sequential m({layers::Input({5, 7}), layers::Dense(4), layers::Flatten(), layers::Dense(2)});
  const std::string s = m.summary_string();
  EXPECT_EQ(s.find("InputLayer"), std::string::npos) << s;
  EXPECT_NE(s.find(summary_row("dense (Dense)", "(None, 5, 4)", "32\n")), std::string::npos) << s;
  EXPECT_NE(s.find(summary_row("flatten (Flatten)", "(None, 20)", "0\n")), std::string::npos) << s;
  EXPECT_NE(s.find(summary_row("dense_1 (Dense)", "(None, 2)", "42\n")), std::string::npos) << s;
  EXPECT_NE(s.find("Total params: 74\n"), std::string::npos) << s;
}

// ---------------------------------------------------------------------------------------------
// build and data errors

TEST(ModelErrors, DeclaredInputShapeInTheMiddleNamesLayerIndexAndShapes) {
  // Layer 1 declares input (5,) but receives dense's (8,).
  Sequential m({layers::Dense(8, "relu", Shape{4}),
                layers::Dense(3, "linear", layers::DenseOptions{.input_shape = Shape{5}})});
  expect_error<ShapeError>([&] { m.build(); }, {"layer 1", "dense_1", "Dense", "(None, 5)", "(None, 8)"});
}

TEST(ModelErrors, InputLayerOfWrongShape) {
  // An explicit build shape that disagrees with the Input layer names layer 0 and both shapes.
  Sequential m({layers::Input({4}), layers::Dense(3)});
  expect_error<ShapeError>([&] { m.build(Shape{5}); }, {"layer 0", "InputLayer", "(None, 4)", "(None, 5)"});
  // Data of the wrong width names the data's shape and the model's.
  Sequential m2({layers::Input({4}), layers::Dense(3)});
  m2.compile("sgd", "mse");
  Tensor x(Shape{6, 5}), y(Shape{6, 3});
  expect_error<ShapeError>([&] { m2.fit(x, y, {.verbose = 0}); }, {"(6, 5)", "(None, 4)"});
  expect_error<ShapeError>([&] { m2.predict(x); }, {"(6, 5)", "(None, 4)"});
}

TEST(ModelErrors, UnknownInputShape) {
  Sequential m({layers::Dense(3)});
  EXPECT_THROW(m.build(), ShapeError);
  Sequential empty;
  EXPECT_THROW(empty.build(Shape{3}), Error);
}

TEST(ModelErrors, FitBeforeCompile) {
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  Tensor x(Shape{4, 2}), y(Shape{4, 1});
  expect_error<Error>([&] { m.fit(x, y, {.verbose = 0}); }, {"compile"});
  expect_error<Error>([&] { m.evaluate(x, y); }, {"compile"});
  expect_error<Error>([&] { m.train_on_batch(x, y); }, {"compile"});
}

TEST(ModelErrors, RowMismatchAndEmptyData) {
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  m.compile("sgd", "mse");
  expect_error<ShapeError>([&] { m.fit(Tensor(Shape{10, 2}), Tensor(Shape{9, 1}), {.verbose = 0}); }, {"10", "9"});
  EXPECT_THROW(m.fit(Tensor(Shape{0, 2}), Tensor(Shape{0, 1}), {.verbose = 0}), ShapeError);
  EXPECT_THROW(m.evaluate(Tensor(Shape{0, 2}), Tensor(Shape{0, 1})), ShapeError);
  // Targets of the wrong width for the output.
  EXPECT_THROW(m.fit(Tensor(Shape{4, 2}), Tensor(Shape{4, 3}), {.verbose = 0}), ShapeError);
}

TEST(ModelErrors, NaNInputNamesTheRow) {
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  m.compile("sgd", "mse");
  Tensor x(Shape{6, 2}), y(Shape{6, 1});
  x.at(3, 1) = std::numeric_limits<float>::quiet_NaN();
  expect_error<ValueError>([&] { m.fit(x, y, {.verbose = 0}); }, {"row 3", "column 1"});
  x.at(3, 1) = 0.f;
  x.at(5, 0) = std::numeric_limits<float>::infinity();
  expect_error<ValueError>([&] { m.evaluate(x, y); }, {"row 5"});
  // predict checks shapes only (a full scan would double its memory traffic): the bad row's output is
  // not finite, the others are unaffected.
  Tensor p = m.predict(x);
  for (int r = 0; r < 6; ++r) EXPECT_EQ(std::isfinite(p[r]), r != 5) << "row " << r;
}

TEST(ModelErrors, SparseLabelsOutOfRange) {
  Sequential m({layers::Dense(3, "softmax", Shape{2})});
  m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  Tensor x(Shape{5, 2});
  Tensor y({5, 1}, {0, 1, 2, 3, 1});  // 3 is not a class of a 3-way output
  expect_error<ValueError>([&] { m.fit(x, y, {.verbose = 0}); }, {"3", "row 3"});
  Tensor neg({5, 1}, {0, 1, -1, 2, 1});
  expect_error<ValueError>([&] { m.evaluate(x, neg); }, {"row 2"});
  Tensor frac({5, 1}, {0, 1.5f, 1, 2, 1});
  expect_error<ValueError>([&] { m.fit(x, frac, {.verbose = 0}); }, {"row 1"});
}

TEST(ModelErrors, UnknownNames) {
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  expect_error<ValueError>([&] { m.compile("adamm", "mse"); }, {"adamm"});
  expect_error<ValueError>([&] { m.compile("adam", "mean_squarred_error"); }, {"mean_squarred_error"});
  // Metric names may be resolved when the data is first seen (as Keras 3 does); either way it is an error.
  expect_error<ValueError>(
      [&] {
        m.compile("adam", "mse", {"accurcy"});
        m.fit(Tensor(Shape{4, 2}), Tensor(Shape{4, 1}), {.verbose = 0});
      },
      {"accurcy"});
  EXPECT_THROW(layers::Dense(3, "relux"), ValueError);
}

TEST(ModelErrors, BadFitOptions) {
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  m.compile("sgd", "mse");
  Tensor x(Shape{4, 2}), y(Shape{4, 1});
  EXPECT_THROW(m.fit(x, y, {.epochs = -1, .verbose = 0}), ValueError);
  EXPECT_THROW(m.fit(x, y, {.batch_size = 0, .verbose = 0}), ValueError);
  EXPECT_THROW(m.fit(x, y, {.validation_split = 1.0, .verbose = 0}), ValueError);
  // 0.9 of 4 rows leaves int(4 * 0.1) = 0 rows to train on.
  EXPECT_THROW(m.fit(x, y, {.validation_split = 0.9, .verbose = 0}), ValueError);
  EXPECT_THROW(m.predict(x, 0), ValueError);
}

// ---------------------------------------------------------------------------------------------
// fit / evaluate / predict

TEST(Fit, ValidationSplitHoldsOutTheLastRows) {
  // 50 rows, validation_split 0.2: rows 40..49 are validation (Keras cuts int(50 * 0.8) = 40, before shuffling).
  Regression d(50);
  for (int i = 40; i < 50; ++i) d.y.at(i, 0) += 3.f;  // make the last rows unlike the first ones
  set_random_seed(3);
  Sequential m({layers::Dense(8, "tanh", Shape{4}), layers::Dense(1)});
  m.compile(optimizers::Adam(0.01), "mse", {"mae"});
  History h = m.fit(d.x, d.y, {.epochs = 3, .batch_size = 8, .validation_split = 0.2, .verbose = 0, .seed = 5});
  // After the last epoch nothing changed the weights, so evaluating the held-out rows gives the val_* values.
  Logs held = m.evaluate(d.x.rows(40, 50), d.y.rows(40, 50), {.batch_size = 8});
  EXPECT_DOUBLE_EQ(h.last("val_loss"), held["loss"]);
  EXPECT_DOUBLE_EQ(h.last("val_mae"), held["mae"]);
  Logs first = m.evaluate(d.x.rows(0, 10), d.y.rows(0, 10), {.batch_size = 8});
  EXPECT_NE(h.last("val_loss"), first["loss"]);

  // Training used exactly rows 0..39: the same model trained on those rows alone ends identical.
  set_random_seed(3);
  Sequential m2({layers::Dense(8, "tanh", Shape{4}), layers::Dense(1)});
  m2.compile(optimizers::Adam(0.01), "mse", {"mae"});
  m2.fit(d.x.rows(0, 40), d.y.rows(0, 40), {.epochs = 3, .batch_size = 8, .verbose = 0, .seed = 5});
  EXPECT_TRUE(same_weights(m.get_weights(), m2.get_weights()));
}

TEST(Fit, ValidationDataAndHistory) {
  Blobs train(60), val(21);
  auto m = classifier(1);
  History h = m.fit(train.x, train.y,
                    {.epochs = 3, .batch_size = 16, .validation_data = ValidationData{val.x, val.y}, .verbose = 0});
  std::set<std::string> keys;
  for (const auto& [k, v] : h.history) {
    keys.insert(k);
    EXPECT_EQ(v.size(), 3u) << k;
  }
  EXPECT_EQ(keys, (std::set<std::string>{"accuracy", "loss", "val_accuracy", "val_loss"}));
  EXPECT_EQ(h.epochs, (std::vector<int>{0, 1, 2}));
  Logs v = m.evaluate(val.x, val.y, {.batch_size = 16});
  EXPECT_DOUBLE_EQ(h.last("val_loss"), v["loss"]);
  EXPECT_DOUBLE_EQ(h.last("val_accuracy"), v["accuracy"]);
  EXPECT_THROW(h["val_mae"], ValueError);
  // initial_epoch numbers the epochs on from there.
  History h2 = m.fit(train.x, train.y, {.epochs = 5, .batch_size = 16, .verbose = 0, .initial_epoch = 3});
  EXPECT_EQ(h2.epochs, (std::vector<int>{3, 4}));
}

TEST(Fit, TrainingReducesTheLoss) {
  Blobs d(90);
  auto m = classifier(2);
  History h = m.fit(d.x, d.y, {.epochs = 30, .batch_size = 16, .verbose = 0});
  EXPECT_LT(h["loss"].back(), 0.5 * h["loss"].front());
  EXPECT_GT(h.last("accuracy"), 0.9);
}

TEST(Predict, ShapeAndBatchSizeIndependence) {
  Blobs d(23);
  auto m = classifier(4);
  m.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0});
  Tensor p1 = m.predict(d.x, 1), p7 = m.predict(d.x, 7), pall = m.predict(d.x, 1000);
  ASSERT_EQ(p1.shape(), (Shape{23, 3}));
  ASSERT_EQ(p7.shape(), (Shape{23, 3}));
  ASSERT_EQ(pall.shape(), (Shape{23, 3}));
  for (int64_t i = 0; i < p1.size(); ++i) {
    EXPECT_NEAR(p1[i], pall[i], 1e-6) << i;
    EXPECT_NEAR(p7[i], pall[i], 1e-6) << i;
  }
  // Softmax head: each row is a probability distribution.
  for (int r = 0; r < 23; ++r) EXPECT_NEAR(pall.at(r, 0) + pall.at(r, 1) + pall.at(r, 2), 1.0, 1e-5);
}

TEST(Predict, WideBatchesRunInSlicesWithTheSameResults) {
  // 64 x 30 x 30 outputs of a convolution: 225 KiB a row, so a batch of 200 rows outgrows twice
  // one thread's L2 cache on any CPU and predict runs it in slices; every path must put each
  // slice's rows back in place. The reference predicts 3 rows at a time, which is never sliced.
  const int threads = num_threads();
  set_num_threads(1);  // the bound grows with the threads: one keeps the batch above it anywhere
  set_random_seed(5);
  Model m = [] {
    SymbolicTensor in = layers::Input({32, 32, 3});
    auto h = layers::GlobalAveragePooling2D()(layers::Conv2D(64, {3, 3}, "relu")(in));
    return Model(std::vector<SymbolicTensor>{in}, {layers::Dense(4, "softmax")(h), layers::Dense(2)(h)});
  }();
  const int64_t n = 200;
  Tensor x(Shape{n, 32, 32, 3});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.013 * double(i)));
  ModelMemory plan;  // as the model plans it: its widest tensor is the convolution's output
  plan.input_values = 32 * 32 * 3;
  plan.layers.push_back({m.layers().front().get(), 1, Shape{32, 32, 3}, Shape{30, 30, 64}});
  const int64_t slice = inference_slice_rows(plan, n);
  EXPECT_LT(slice, n);
  EXPECT_EQ(slice % 16, 0);
  EXPECT_EQ(inference_slice_rows(plan, 3), 3);
  const std::vector<Tensor> reference = m.predict(std::vector<Tensor>{x}, 3);
  const std::vector<Tensor> arrays = m.predict(std::vector<Tensor>{x}, int(n));
  data::InMemoryDataset ds(std::vector<Tensor>{x}, std::vector<Tensor>{Tensor(Shape{n, 1})});
  const std::vector<Tensor> from_dataset = m.predict_outputs(ds, int(n));
  for (size_t k = 0; k < 2; ++k) {
    ASSERT_EQ(arrays[k].shape(), reference[k].shape());
    ASSERT_EQ(from_dataset[k].shape(), reference[k].shape());
    for (int64_t i = 0; i < reference[k].size(); ++i) {
      ASSERT_NEAR(arrays[k][i], reference[k][i], 1e-5) << "output " << k << " value " << i;
      ASSERT_NEAR(from_dataset[k][i], reference[k][i], 1e-5) << "output " << k << " value " << i;
    }
  }
  // The single-input, single-output path of predict(Tensor).
  Sequential seq({layers::Conv2D(64, {3, 3}, "relu", Shape{32, 32, 3}), layers::Flatten(), layers::Dense(3)});
  const Tensor one_by_one = seq.predict(x, 3), whole = seq.predict(x, int(n));
  for (int64_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(whole[i], one_by_one[i], 1e-4) << i;
  set_num_threads(threads);
}

TEST(Evaluate, KeysAreLossAndMetrics) {
  Regression d(20);
  set_random_seed(9);
  Sequential m({layers::Dense(6, "relu", Shape{4}), layers::Dense(1)});
  m.compile("adam", "mse", {"mae", "mse"});
  m.fit(d.x, d.y, {.epochs = 2, .batch_size = 5, .verbose = 0});
  Logs l = m.evaluate(d.x, d.y, {.batch_size = 6});
  std::set<std::string> keys;
  for (const auto& [k, v] : l) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"loss", "mae", "mse"}));
  // Independent check from predict(): the metrics are the plain functions of the predictions.
  Tensor p = m.predict(d.x);
  EXPECT_NEAR(l["mae"], metrics::mean_absolute_error(d.y, p), 1e-6);
  EXPECT_NEAR(l["mse"], metrics::mean_squared_error(d.y, p), 1e-6);
  EXPECT_NEAR(l["loss"], metrics::mean_squared_error(d.y, p), 1e-5);
}

TEST(Evaluate, AccuracyResolvedByKerasRuleInsideTheModel) {
  // Sparse labels with a softmax: sparse categorical accuracy.
  Blobs d(30);
  auto m = classifier(5);
  m.fit(d.x, d.y, {.epochs = 3, .batch_size = 8, .verbose = 0});
  EXPECT_NEAR(m.evaluate(d.x, d.y)["accuracy"], metrics::accuracy(d.y, m.predict(d.x)), 1e-12);

  // One-hot targets with categorical cross-entropy: categorical accuracy (arg-max of both).
  set_random_seed(5);
  Sequential c({layers::Dense(3, "softmax", Shape{2})});
  c.compile("adam", "categorical_crossentropy", {"accuracy"});
  Tensor onehot = to_categorical(d.y, 3);
  c.fit(d.x, onehot, {.epochs = 2, .batch_size = 8, .verbose = 0});
  EXPECT_NEAR(c.evaluate(d.x, onehot)["accuracy"], metrics::accuracy(d.y, c.predict(d.x)), 1e-12);

  // One sigmoid output with 0/1 targets: binary accuracy at 0.5.
  Tensor bin(Shape{30, 1});
  for (int i = 0; i < 30; ++i) bin[i] = d.y[i] == 1.f ? 1.f : 0.f;
  set_random_seed(5);
  Sequential b({layers::Dense(1, "sigmoid", Shape{2})});
  b.compile("adam", "binary_crossentropy", {"accuracy"});
  b.fit(d.x, bin, {.epochs = 2, .batch_size = 8, .verbose = 0});
  Tensor pb = b.predict(d.x);
  int hits = 0;
  for (int i = 0; i < 30; ++i) hits += (pb[i] > 0.5f) == (bin[i] > 0.5f);
  EXPECT_NEAR(b.evaluate(d.x, bin)["accuracy"], hits / 30.0, 1e-12);
}

// ---------------------------------------------------------------------------------------------
// regularization

TEST(Regularization, LossIncludesL2AndL1Penalties) {
  // Dense(3) with kernel L2(0.01) and bias L1(0.05), MSE. Weights are set by hand; the expected loss is
  // mean((x W + b - y)^2) + 0.01 * sum(W^2) + 0.05 * sum(|b|), computed here in double.
  set_random_seed(1);
  Sequential m({layers::Dense(3, "linear",
                              layers::DenseOptions{.input_shape = Shape{4},
                                                   .kernel_regularizer = regularizers::L2(0.01f),
                                                   .bias_regularizer = regularizers::L1(0.05f)})});
  m.compile(optimizers::SGD(0.1), "mse");
  Regression d(5, 3);
  std::vector<float> kv(12);
  for (int i = 0; i < 12; ++i) kv[i] = 0.1f * float(i) - 0.55f;
  m.set_weights({Tensor({4, 3}, kv), Tensor({3}, {0.1f, -0.2f, 0.3f})});

  auto expected_loss = [&](const std::vector<Tensor>& w) {
    const Tensor& k = w[0];
    const Tensor& b = w[1];
    double sq = 0;
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 3; ++c) {
        double z = b[c];
        for (int j = 0; j < 4; ++j) z += double(d.x.at(r, j)) * k.at(j, c);
        sq += (z - d.y.at(r, c)) * (z - d.y.at(r, c));
      }
    double l2 = 0, l1 = 0;
    for (int64_t i = 0; i < k.size(); ++i) l2 += double(k[i]) * k[i];
    for (int64_t i = 0; i < b.size(); ++i) l1 += std::fabs(b[i]);
    return sq / 15.0 + 0.01 * l2 + 0.05 * l1;
  };
  // sum(W^2) = 0.01 * sum((i - 5.5)^2, i = 0..11) = 0.01 * 143 = 1.43: penalty 0.0143 + 0.05 * 0.6 = 0.0443.
  EXPECT_NEAR(expected_loss(m.get_weights()) - metrics::mean_squared_error(d.y, m.predict(d.x)), 0.0443, 1e-6);

  EXPECT_NEAR(m.evaluate(d.x, d.y)["loss"], expected_loss(m.get_weights()), 1e-5);
  // train_on_batch reports the loss of the weights it started from.
  const auto before = m.get_weights();
  EXPECT_NEAR(m.train_on_batch(d.x, d.y), expected_loss(before), 1e-5);
  EXPECT_NEAR(m.evaluate(d.x, d.y)["loss"], expected_loss(m.get_weights()), 1e-5);
}

TEST(Regularization, PenaltyGradientPullsWeightsToZero) {
  // With x = 0 and y = 0 the outputs equal the zero bias, so the data gradient is zero and
  // only the L2 term acts: one SGD step gives W <- W - lr * 2 * l2 * W = W * (1 - 0.1 * 2 * 0.5) = 0.9 W.
  set_random_seed(1);
  Sequential m({layers::Dense(
      2, "linear", layers::DenseOptions{.input_shape = Shape{2}, .kernel_regularizer = regularizers::L2(0.5f)})});
  m.compile(optimizers::SGD(0.1), "mse");
  m.set_weights({Tensor({2, 2}, {1.f, -2.f, 0.5f, 4.f}), Tensor({2}, {0.f, 0.f})});
  m.train_on_batch(Tensor(Shape{3, 2}), Tensor(Shape{3, 2}));
  const auto w = m.get_weights();
  EXPECT_NEAR(w[0][0], 0.9, 1e-6);
  EXPECT_NEAR(w[0][1], -1.8, 1e-6);
  EXPECT_NEAR(w[0][2], 0.45, 1e-6);
  EXPECT_NEAR(w[0][3], 3.6, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// determinism and weights

TEST(Determinism, SameSeedSameWeightsDifferentSeedDifferentWeights) {
  // Dropout and shuffling both draw random numbers; the whole run must repeat bit for bit.
  Blobs d(48);
  auto run = [&](uint64_t seed) {
    auto m = classifier(seed, 0.3f);
    m.fit(d.x, d.y, {.epochs = 3, .batch_size = 8, .verbose = 0});
    return m.get_weights();
  };
  const auto a = run(42), b = run(42), c = run(43);
  EXPECT_TRUE(same_weights(a, b));
  EXPECT_FALSE(same_weights(a, c));
}

// On two threads an MLP trains with one compute thread and one that gathers batches and lends its
// core to the first layer's products (kernels/cpu/side_core.hpp): which thread computes a part
// varies from run to run, the weights must not. The shared products sum in another order than one
// thread's, so a one-thread run ends close to, not equal to, these weights.
TEST(Determinism, TwoThreadsWithASideCoreRepeatBitForBit) {
  Rng rng(8);
  Tensor x({512, 784}), y({512, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(0, 1);
  for (int64_t i = 0; i < 512; ++i) y[i] = float(i % 10);
  auto run = [&](int threads) {
    const int saved = num_threads();
    set_num_threads(threads);
    set_random_seed(5);
    Sequential m({layers::Dense(32, "relu", Shape{784}), layers::Dense(10, "softmax")});
    m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy");
    m.fit(x, y, {.epochs = 2, .batch_size = 128, .verbose = 0, .seed = 3});
    set_num_threads(saved);
    return m.get_weights();
  };
  const auto a = run(2), b = run(2), one = run(1);
  EXPECT_TRUE(same_weights(a, b));
  float most = 0;
  for (size_t k = 0; k < a.size(); ++k)
    for (int64_t i = 0; i < a[k].size(); ++i) most = std::max(most, std::fabs(a[k][i] - one[k][i]));
  EXPECT_LT(most, 1e-4f) << "sharing the products with the side core changed more than their rounding";
}

TEST(Determinism, FitSeedFixesShuffling) {
  // Two models with equal starting weights (built from different global seeds, then set_weights) and the
  // same FitOptions.seed train identically; another fit seed shuffles differently.
  Blobs d(48);
  auto m1 = classifier(1), m2 = classifier(2), m3 = classifier(3);
  EXPECT_FALSE(same_weights(m1.get_weights(), m2.get_weights()));
  m2.set_weights(m1.get_weights());
  m3.set_weights(m1.get_weights());
  m1.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 11});
  m2.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 11});
  m3.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 12});
  EXPECT_TRUE(same_weights(m1.get_weights(), m2.get_weights()));
  EXPECT_FALSE(same_weights(m1.get_weights(), m3.get_weights()));
}

// FitOptions.seed seeds "shuffling and dropout for this call": models that differ only in the global seed
// they were built with (their dropout streams come from it) must train identically from equal weights.
TEST(Determinism, FitSeedAlsoFixesDropout) {
  Blobs d(48);
  auto m1 = classifier(1, 0.3f), m2 = classifier(2, 0.3f);
  m2.set_weights(m1.get_weights());
  m1.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 11});
  m2.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0, .seed = 11});
  EXPECT_TRUE(same_weights(m1.get_weights(), m2.get_weights()));
}

TEST(Weights, GetSetRoundTrip) {
  Blobs d(30);
  auto m = classifier(6);
  const auto w0 = m.get_weights();
  const Tensor p0 = m.predict(d.x);
  ASSERT_EQ(w0.size(), 4u);  // kernel, bias of each Dense
  EXPECT_EQ(w0[0].shape(), (Shape{2, 16}));
  EXPECT_EQ(w0[3].shape(), (Shape{3}));
  m.fit(d.x, d.y, {.epochs = 2, .batch_size = 8, .verbose = 0});
  EXPECT_FALSE(same_weights(m.get_weights(), w0));
  m.set_weights(w0);
  EXPECT_TRUE(same_weights(m.get_weights(), w0));
  EXPECT_EQ(m.predict(d.x).to_vector(), p0.to_vector());
  // get_weights returns copies.
  auto copy = m.get_weights();
  copy[0][0] += 1.f;
  EXPECT_TRUE(same_weights(m.get_weights(), w0));
  // Wrong count or shape.
  EXPECT_THROW(m.set_weights({w0[0], w0[1]}), ValueError);
  auto bad = w0;
  bad[1] = Tensor(Shape{17});
  EXPECT_THROW(m.set_weights(bad), ShapeError);
}

TEST(Sequential, AddNamesLayersAsKeras) {
  Sequential m;
  m.add(layers::Dense(4, "relu", Shape{3}));
  m.add(layers::Dropout(0.1f));
  m.add(layers::Dense(4, "relu"));
  m.add(layers::Dense(2, "softmax"));
  ASSERT_EQ(m.layers().size(), 4u);
  EXPECT_EQ(m.layers()[0]->name(), "dense");
  EXPECT_EQ(m.layers()[1]->name(), "dropout");
  EXPECT_EQ(m.layers()[2]->name(), "dense_1");
  EXPECT_EQ(m.layers()[3]->name(), "dense_2");
  EXPECT_EQ(m.get_layer("dense_1"), m.layers()[2]);
  EXPECT_THROW(m.get_layer("dense_9"), ValueError);
  // A name given by the user is kept; a duplicate is refused.
  m.add(layers::Dense(2, "linear", layers::DenseOptions{.name = "head"}));
  EXPECT_EQ(m.layers()[4]->name(), "head");
  EXPECT_THROW(m.add(layers::Dense(2, "linear", layers::DenseOptions{.name = "head"})), ValueError);
  // Parameters are named layer/param.
  auto ps = m.parameters();
  ASSERT_EQ(ps.size(), 8u);
  EXPECT_EQ(ps[0].name, "dense/kernel");
  EXPECT_EQ(ps[7].name, "head/bias");
  // No layers after build.
  EXPECT_THROW(m.add(layers::Dense(1)), Error);
}

// ---------------------------------------------------------------------------------------------
// cross-validation

TEST(CrossValidate, KFoldsAndTheirMean) {
  Regression d(30);
  auto make = [] {
    set_random_seed(21);
    Sequential m({layers::Dense(4, "tanh", Shape{4}), layers::Dense(1)});
    m.compile(optimizers::Adam(0.02), "mse", {"mae"});
    return m;
  };
  auto r = cross_validate(make, d.x, d.y, {.epochs = 3, .batch_size = 8, .verbose = 0}, {.k = 3});
  ASSERT_EQ(r.folds.size(), 3u);
  for (const char* key : {"loss", "mae"}) {
    double sum = 0;
    for (const auto& f : r.folds) sum += f[key];
    const double mean = sum / 3;
    double sq = 0;
    for (const auto& f : r.folds) sq += (f[key] - mean) * (f[key] - mean);
    EXPECT_NEAR(r.mean[key], mean, 1e-12) << key;
    EXPECT_NEAR(r.std[key], std::sqrt(sq / 3), 1e-12) << key;
  }
  // Folds hold different rows, so their scores differ.
  EXPECT_NE(r.folds[0]["loss"], r.folds[1]["loss"]);
  EXPECT_THROW(cross_validate(make, d.x, d.y.rows(0, 29), {.verbose = 0}, {.k = 3}), ShapeError);
}

// ---------------------------------------------------------------------------------------------
// end to end

TEST(EndToEnd, DigitsMlpReaches95PercentTestAccuracy) {
  // sklearn's 8x8 digits scaled to [0, 1], 80/20 split, Dense(64, relu) -> Dense(10, softmax), Adam,
  // 20 epochs of batch 32: a Keras model of this shape reaches about 97%.
  auto data = datasets::digits(MYELIN_TEST_DATA_DIR);
  for (int64_t i = 0; i < data.x.size(); ++i) data.x[i] /= 16.f;
  auto [x_train, x_test, y_train, y_test] = train_test_split(data.x, data.y, 0.2, 0);
  ASSERT_EQ(x_test.rows(), 360);  // ceil(0.2 * 1797)
  set_random_seed(0);
  Sequential m({layers::Dense(64, "relu", Shape{64}), layers::Dense(10, "softmax")});
  m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  m.fit(x_train, y_train, {.epochs = 20, .batch_size = 32, .verbose = 0});
  const Logs scores = m.evaluate(x_test, y_test);
  EXPECT_GE(scores["accuracy"], 0.95);
  EXPECT_NEAR(scores["accuracy"], metrics::accuracy(y_test, m.predict(x_test)), 1e-12);
}
