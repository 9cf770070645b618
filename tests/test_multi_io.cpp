// Models with several inputs and outputs, sample weights and class weights: losses and weighted
// metrics against values worked out by hand, a two-input two-output model's losses per output, its
// log names, list and map forms agreeing, its gradients against finite differences, datasets of
// several arrays, and the errors bad arrays get.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "expect_error.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;

namespace {

// out = x0 - x1 + 0.5 on rows [1,2], [0,1], [3,0], [2,2]: -0.5, -0.5, 3.5, 0.5.
Sequential line_model() {
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  m.build();
  m.set_weights({Tensor({2, 1}, {1.f, -1.f}), Tensor({1}, {0.5f})});
  return m;
}
Tensor line_x() { return Tensor({4, 2}, {1, 2, 0, 1, 3, 0, 2, 2}); }

// Softmax over logits (0, ln 3): every row predicts [0.25, 0.75].
Sequential quarter_model() {
  Sequential m({layers::Dense(2, "softmax", Shape{2})});
  m.build();
  m.set_weights({Tensor({2, 2}), Tensor({2}, {0.f, float(std::log(3.0))})});
  return m;
}

// Inputs "a" (3 values) and "b" (2), a shared hidden layer read by both heads (fan-out): "class",
// a 3-way softmax, and "box", 2 linear values.
Model two_by_two() {
  set_random_seed(7);
  auto a = layers::Input({3}, "a");
  auto b = layers::Input({2}, "b");
  auto h = layers::Dense(5, "tanh")(layers::Concatenate()({a, b}));
  auto cls = layers::Dense(3, "softmax", {.name = "class"})(h);
  auto box = layers::Dense(2, "linear", {.name = "box"})(layers::Concatenate()({h, b}));
  return Model({a, b}, {cls, box});
}

struct TwoByTwoData {
  Tensor xa, xb, y_class, y_box;
  explicit TwoByTwoData(int64_t n, uint64_t seed = 3) {
    Rng rng(seed);
    xa = random_tensor({n, 3}, rng, -1, 1);
    xb = random_tensor({n, 2}, rng, -1, 1);
    y_class = Tensor({n, 1});
    for (int64_t i = 0; i < n; ++i) y_class[i] = float(i % 3);
    y_box = random_tensor({n, 2}, rng, -1, 1);
  }
};

void compile_two_by_two(Model& m, OptimizerArg opt = optimizers::SGD(0.0)) {
  m.compile(std::move(opt), {{"class", "sparse_categorical_crossentropy"}, {"box", "mse"}},
            {.loss_weights = {{"class", 1.0}, {"box", 0.5}}, .metrics = {{"class", {"accuracy"}}}});
}

}  // namespace

TEST(SampleWeight, LossesWeighEachSampleAndDivideByTheBatchSize) {
  // Errors 1, 0, 2 weighted 2, 1, 0.5: (2*1 + 0 + 0.5*4) / 3 samples.
  Tensor t({3, 1}, {1, 2, 3}), p({3, 1}, {2, 2, 5});
  const float w[] = {2.f, 1.f, 0.5f};
  Tensor g;
  EXPECT_NEAR(losses::MeanSquaredError().compute_weighted(t, p, &g, w), 4.0 / 3.0, 1e-6);
  EXPECT_NEAR(g[0], 2 * 2 * 1 / 3.0, 1e-6);
  EXPECT_NEAR(g[1], 0.0, 1e-6);
  EXPECT_NEAR(g[2], 0.5 * 2 * 2 / 3.0, 1e-6);
  // Cross-entropy from probabilities: -ln 0.5 weighted 3 and -ln 0.8 weighted 1, over 2 samples.
  Tensor probs({2, 2}, {0.5f, 0.5f, 0.2f, 0.8f}), labels({2, 1}, {0, 1});
  const float w2[] = {3.f, 1.f};
  EXPECT_NEAR(losses::SparseCategoricalCrossentropy().compute_weighted(labels, probs, nullptr, w2),
              (3 * -std::log(0.5) - std::log(0.8)) / 2, 1e-6);
  // Weights of 1 give the unweighted loss exactly.
  const float ones[] = {1.f, 1.f, 1.f};
  EXPECT_EQ(losses::MeanSquaredError().compute_weighted(t, p, nullptr, ones),
            losses::MeanSquaredError().compute(t, p, nullptr));
}

TEST(SampleWeight, WeightedLossGradientsMatchFiniteDifferences) {
  Rng rng(4);
  Tensor logits = random_tensor({4, 3}, rng, -2, 2), labels({4, 1}, {0, 2, 1, 2});
  const float w[] = {0.5f, 2.f, 0.f, 1.5f};
  losses::SparseCategoricalCrossentropy loss(/*from_logits=*/true);
  Tensor analytic;
  loss.compute_weighted(labels, logits, &analytic, w);
  Tensor numeric = numerical_gradient([&] { return loss.compute_weighted(labels, logits, nullptr, w); }, logits, 1e-3);
  EXPECT_TRUE(gradients_close(analytic, numeric, 1e-4, 1e-3));
}

TEST(SampleWeight, EvaluateAndWeightedMetricsByHand) {
  auto m = line_model();
  m.compile(optimizers::SGD(0.0), "mse", {.metrics = {"mae"}, .weighted_metrics = {"mae"}});
  const Tensor x = line_x(), y({4, 1}, {0, 1, 3, 0}), sw({4}, {1, 2, 0, 4});
  // Errors -0.5, -1.5, 0.5, 0.5.
  const Logs plain = m.evaluate(x, y);
  EXPECT_NEAR(plain["loss"], (0.25 + 2.25 + 0.25 + 0.25) / 4, 1e-6);
  EXPECT_NEAR(plain["weighted_mae"], plain["mae"], 1e-9) << "without sample weights, weighted metrics are plain";
  const Logs weighted = m.evaluate(x, y, {.sample_weight = sw});
  EXPECT_NEAR(weighted["loss"], (1 * 0.25 + 2 * 2.25 + 0 * 0.25 + 4 * 0.25) / 4, 1e-6);
  EXPECT_NEAR(weighted["mae"], 0.75, 1e-6) << "plain metrics ignore sample weights, as in Keras 3";
  EXPECT_NEAR(weighted["weighted_mae"], (1 * 0.5 + 2 * 1.5 + 0 * 0.5 + 4 * 0.5) / 7, 1e-6);
}

TEST(SampleWeight, FitLogsTheWeightedLossAndScalesTheGradients) {
  // With one batch and a zero learning rate, fit's loss is the weighted loss at the start.
  auto m = line_model();
  m.compile(optimizers::SGD(0.0), "mse");
  const Tensor x = line_x(), y({4, 1}, {0, 1, 3, 0}), sw({4, 1}, {1, 2, 0, 4});
  const History h = m.fit(x, y, {.batch_size = 4, .shuffle = false, .verbose = 0, .sample_weight = sw});
  EXPECT_NEAR(h.last("loss"), 5.75 / 4, 1e-6);
  // A weight of 2 on a row trains as that row given twice would (in a batch of the same size).
  auto once = line_model(), twice = line_model();
  once.compile(optimizers::SGD(0.1), "mse");
  twice.compile(optimizers::SGD(0.1), "mse");
  once.fit(x, y, {.batch_size = 4, .shuffle = false, .verbose = 0, .sample_weight = Tensor({4}, {1, 2, 0, 1})});
  const Tensor x2({4, 2}, {1, 2, 0, 1, 0, 1, 2, 2}), y2({4, 1}, {0, 1, 1, 0});
  twice.fit(x2, y2, {.batch_size = 4, .shuffle = false, .verbose = 0});
  const auto wa = once.get_weights(), wb = twice.get_weights();
  for (size_t i = 0; i < wa.size(); ++i)
    for (int64_t j = 0; j < wa[i].size(); ++j) EXPECT_NEAR(wa[i][j], wb[i][j], 1e-6);
}

TEST(ClassWeight, WeighsEachSampleByItsClassFromLabelsOrOneHot) {
  const Tensor x({4, 2}, {1, 2, 0, 1, 3, 0, 2, 2}), labels({4, 1}, {0, 1, 1, 0});
  const Tensor one_hot({4, 2}, {1, 0, 0, 1, 0, 1, 1, 0});
  // Every row predicts [0.25, 0.75]: class 0 costs ln 4, class 1 ln(4/3); weights 2 and 0.5.
  const double expected = (2 * 2 * std::log(4.0) + 2 * 0.5 * std::log(4.0 / 3.0)) / 4;
  for (bool sparse : {true, false}) {
    auto m = quarter_model();
    m.compile(optimizers::SGD(0.0), sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy",
              {.metrics = {"accuracy"}, .weighted_metrics = {"accuracy"}});
    const History h = m.fit(x, sparse ? labels : one_hot,
                            {.batch_size = 4, .shuffle = false, .verbose = 0, .class_weight = {{0, 2.0}, {1, 0.5}}});
    EXPECT_NEAR(h.last("loss"), expected, 1e-6) << (sparse ? "labels" : "one-hot");
    EXPECT_NEAR(h.last("accuracy"), 0.5, 1e-9);
    // Class 1 is predicted everywhere: right on the two rows of weight 0.5 out of 2 + 0.5 + 0.5 + 2.
    EXPECT_NEAR(h.last("weighted_accuracy"), 1.0 / 5.0, 1e-6);
    // Classes left out weigh 1, and class and sample weights multiply.
    auto m2 = quarter_model();
    m2.compile(optimizers::SGD(0.0), sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy");
    const History h2 = m2.fit(x, sparse ? labels : one_hot,
                              {.batch_size = 4, .shuffle = false, .verbose = 0, .sample_weight = Tensor({4}, {1, 1, 3, 0}),
                               .class_weight = {{1, 2.0}}});
    EXPECT_NEAR(h2.last("loss"), (std::log(4.0) + 2 * std::log(4.0 / 3.0) + 6 * std::log(4.0 / 3.0)) / 4, 1e-6);
    // Evaluation is not weighted by class_weight (Keras uses it in training only).
    EXPECT_NEAR(m2.evaluate(x, sparse ? labels : one_hot)["loss"], (2 * std::log(4.0) + 2 * std::log(4.0 / 3.0)) / 4, 1e-6);
  }
}

TEST(ClassWeight, HoldsForEveryEpochAndLeavesValidationUnweighted) {
  const Tensor x({4, 2}, {1, 2, 0, 1, 3, 0, 2, 2}), labels({4, 1}, {0, 1, 1, 0});
  auto m = quarter_model();
  m.compile(optimizers::SGD(0.0), "sparse_categorical_crossentropy");
  const History h = m.fit(x, labels, {.epochs = 3, .batch_size = 4, .validation_data = ValidationData{x, labels},
                                      .verbose = 0, .class_weight = {{0, 2.0}, {1, 0.5}}});
  const double weighted = (2 * 2 * std::log(4.0) + 2 * 0.5 * std::log(4.0 / 3.0)) / 4;
  const double plain = (2 * std::log(4.0) + 2 * std::log(4.0 / 3.0)) / 4;
  for (int e = 0; e < 3; ++e) {
    EXPECT_NEAR(h["loss"][size_t(e)], weighted, 1e-6) << "epoch " << e;
    EXPECT_NEAR(h["val_loss"][size_t(e)], plain, 1e-6) << "epoch " << e;
  }
}

TEST(MultiIO, LossesPerOutputAndTheirWeightedTotalByHand) {
  auto m = two_by_two();
  compile_two_by_two(m);
  TwoByTwoData d(10);
  const Logs logs = m.evaluate({d.xa, d.xb}, {d.y_class, d.y_box}, {.batch_size = 4});
  const auto out = m.predict(std::vector<Tensor>{d.xa, d.xb});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out[0].shape(), (Shape{10, 3}));
  ASSERT_EQ(out[1].shape(), (Shape{10, 2}));
  double ce = 0, se = 0, hits = 0;
  for (int64_t i = 0; i < 10; ++i) {
    const int label = int(d.y_class[i]);
    ce -= std::log(double(out[0].at(i, label)));
    int best = 0;
    for (int c = 1; c < 3; ++c)
      if (out[0].at(i, c) > out[0].at(i, best)) best = c;
    hits += best == label;
    for (int c = 0; c < 2; ++c) se += std::pow(double(out[1].at(i, c)) - d.y_box.at(i, c), 2);
  }
  EXPECT_NEAR(logs["class_loss"], ce / 10, 1e-5);
  EXPECT_NEAR(logs["box_loss"], 0.5 * se / 20, 1e-5) << "each output's logged loss carries its loss weight";
  EXPECT_NEAR(logs["loss"], ce / 10 + 0.5 * se / 20, 1e-5);
  EXPECT_NEAR(logs["class_accuracy"], hits / 10, 1e-9);
  EXPECT_FALSE(logs.contains("box_accuracy")) << "metrics were given for 'class' only";
  EXPECT_FALSE(logs.contains("accuracy"));
}

TEST(MultiIO, ListAndMapFormsGiveIdenticalTraining) {
  TwoByTwoData d(24);
  auto a = two_by_two(), b = two_by_two();
  compile_two_by_two(a, optimizers::Adam(0.01));
  compile_two_by_two(b, optimizers::Adam(0.01));
  const History ha = a.fit({d.xa, d.xb}, {d.y_class, d.y_box}, {.epochs = 3, .batch_size = 8, .verbose = 0, .seed = 2});
  const History hb = b.fit({{"b", d.xb}, {"a", d.xa}}, {{"box", d.y_box}, {"class", d.y_class}},
                           {.epochs = 3, .batch_size = 8, .verbose = 0, .seed = 2});
  EXPECT_EQ(ha.history, hb.history);
  const auto wa = a.get_weights(), wb = b.get_weights();
  for (size_t i = 0; i < wa.size(); ++i)
    for (int64_t j = 0; j < wa[i].size(); ++j) ASSERT_EQ(wa[i][j], wb[i][j]);
  // The logs Keras 3 writes for two outputs.
  for (const char* key : {"loss", "class_loss", "box_loss", "class_accuracy"}) EXPECT_TRUE(ha.history.count(key)) << key;
  EXPECT_EQ(ha.history.size(), 4u);
  // Loss weights and metrics as lists give the same as maps.
  auto c = two_by_two();
  c.compile(optimizers::Adam(0.01), {"sparse_categorical_crossentropy", "mse"},
            {.loss_weights = {1.0, 0.5}, .metrics = {{"class", {"accuracy"}}}});
  const History hc = c.fit({d.xa, d.xb}, {d.y_class, d.y_box}, {.epochs = 3, .batch_size = 8, .verbose = 0, .seed = 2});
  EXPECT_EQ(ha.history, hc.history);
}

TEST(MultiIO, GradientsOfTwoInputsAndTwoOutputsMatchFiniteDifferences) {
  auto m = two_by_two();
  compile_two_by_two(m);  // a zero rate: train_on_batch leaves the gradients, not new weights
  TwoByTwoData d(6);
  const Tensor sw({6}, {1, 0.5f, 2, 1, 0, 3});
  m.train_on_batch({d.xa, d.xb}, {d.y_class, d.y_box}, sw);
  for (auto& p : m.parameters()) {
    Tensor analytic = p.grad->clone();
    Tensor numeric = numerical_gradient(
        [&] { return m.evaluate({d.xa, d.xb}, {d.y_class, d.y_box}, {.batch_size = 6, .sample_weight = sw})["loss"]; },
        *p.value, 1e-2);
    EXPECT_TRUE(gradients_close(analytic, numeric, 2e-3, 2e-2)) << p.name;
  }
}

TEST(MultiIO, ValidationAndCallbacksSeeEveryOutput) {
  auto m = two_by_two();
  compile_two_by_two(m, optimizers::Adam(0.01));
  TwoByTwoData d(20), v(8, 9);
  std::vector<std::string> batch_keys;
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  cb->batch_end = [&](int, const Logs& logs) {
    batch_keys.clear();
    for (const auto& [k, value] : logs) batch_keys.push_back(k);
  };
  const History h = m.fit({d.xa, d.xb}, {d.y_class, d.y_box},
                          {.epochs = 2, .batch_size = 8, .validation_split = 0.25, .callbacks = {cb}, .verbose = 0});
  for (const char* key : {"val_loss", "val_class_loss", "val_box_loss", "val_class_accuracy"})
    EXPECT_TRUE(h.history.count(key)) << key;
  EXPECT_EQ(batch_keys, (std::vector<std::string>{"box_loss", "class_accuracy", "class_loss", "loss"}));
  // validation_data as a map, with its own sample weights: the same figures evaluate gives.
  const History h2 = m.fit({d.xa, d.xb}, {d.y_class, d.y_box},
                           {.epochs = 1, .batch_size = 8, .shuffle = false,
                            .validation_data = ValidationData{{{"a", v.xa}, {"b", v.xb}},
                                                              {v.y_class, v.y_box},
                                                              Tensor::full({8}, 2.f)},
                            .verbose = 0});
  const Logs e = m.evaluate({v.xa, v.xb}, {v.y_class, v.y_box}, {.sample_weight = Tensor::full({8}, 2.f)});
  EXPECT_NEAR(h2.last("val_loss"), e["loss"], 1e-6);
  EXPECT_NEAR(h2.last("val_box_loss"), e["box_loss"], 1e-6);
}

TEST(MultiIO, DatasetsOfSeveralArraysTrainAsTheArrays) {
  TwoByTwoData d(20);
  auto arrays = two_by_two(), in_memory = two_by_two(), generated = two_by_two();
  for (Model* m : {&arrays, &in_memory, &generated}) compile_two_by_two(*m, optimizers::Adam(0.01));
  const FitOptions o{.epochs = 2, .batch_size = 8, .shuffle = false, .verbose = 0, .seed = 1};
  const History ha = arrays.fit({d.xa, d.xb}, {d.y_class, d.y_box}, o);
  data::InMemoryDataset ds({d.xa, d.xb}, {d.y_class, d.y_box});
  EXPECT_EQ(ds.x_shapes(), (std::vector<Shape>{{3}, {2}}));
  const History hm = in_memory.fit(ds, o);
  EXPECT_EQ(ha.history, hm.history);
  // A generator yielding the rows in batches of 5 (re-cut to 8 by the model).
  data::GeneratorDataset gen(
      [&](int) {
        static int64_t next = 0;
        if (next >= 20) {
          next = 0;
          return std::optional<data::Batch>();
        }
        const int64_t b = next;
        next += 5;
        return std::optional<data::Batch>(data::Batch{{d.xa.rows(b, b + 5), d.xb.rows(b, b + 5)},
                                                      {d.y_class.rows(b, b + 5), d.y_box.rows(b, b + 5)}});
      },
      {.x = {{3}, {2}}, .y = {{1}, {2}}});
  const History hg = generated.fit(gen, o);
  EXPECT_EQ(ha.history, hg.history);
  EXPECT_NEAR(in_memory.evaluate(ds)["loss"], arrays.evaluate({d.xa, d.xb}, {d.y_class, d.y_box})["loss"], 1e-6);
}

// Weights 0..2 that differ from row to row (row 3 weighs nothing).
Tensor row_weights(int64_t n, int salt) {
  Tensor w(Shape{n});
  for (int64_t i = 0; i < n; ++i) w[i] = float((i * 7 + salt) % 5) * 0.5f;
  return w;
}

// A generator of the rows in batches of 5 (re-cut by the model) with their per-output weights.
data::GeneratorDataset weighted_batches(const TwoByTwoData& d, const Tensor& w_class, const Tensor& w_box) {
  return data::GeneratorDataset(
      [&d, w_class, w_box, next = int64_t(0), seen = -1](int epoch) mutable -> std::optional<data::Batch> {
        if (epoch != seen) seen = epoch, next = 0;
        if (next >= d.xa.rows()) return std::nullopt;
        const int64_t b = next;
        next += 5;
        return data::Batch{{d.xa.rows(b, b + 5), d.xb.rows(b, b + 5)},
                           {d.y_class.rows(b, b + 5), d.y_box.rows(b, b + 5)},
                           std::vector<Tensor>{w_class.rows(b, b + 5), w_box.rows(b, b + 5)}};
      },
      {.x = {{3}, {2}}, .y = {{1}, {2}}, .sample_weights = 2});
}

TEST(MultiIO, DatasetSampleWeightsTrainAsTheSampleWeightArgument) {
  TwoByTwoData d(20);
  const Tensor w = row_weights(20, 1), w_box = row_weights(20, 3);
  const FitOptions o{.epochs = 2, .batch_size = 8, .shuffle = false, .verbose = 0, .seed = 1};
  auto equal_weights = [](Model& a, Model& b) {
    const auto wa = a.get_weights(), wb = b.get_weights();
    for (size_t i = 0; i < wa.size(); ++i) EXPECT_EQ(wa[i].to_vector(), wb[i].to_vector()) << "weight " << i;
  };
  {
    // One weight array serving both outputs, from an InMemoryDataset.
    auto arrays = two_by_two(), in_memory = two_by_two(), unweighted = two_by_two();
    for (Model* m : {&arrays, &in_memory, &unweighted}) compile_two_by_two(*m, optimizers::Adam(0.01));
    FitOptions ow = o;
    ow.sample_weight = w;
    const History ha = arrays.fit({d.xa, d.xb}, {d.y_class, d.y_box}, ow);
    data::InMemoryDataset ds({d.xa, d.xb}, {d.y_class, d.y_box}, {w});
    EXPECT_EQ(ds.sample_weight_count(), 1u);
    const History hm = in_memory.fit(ds, o);
    EXPECT_EQ(ha.history, hm.history);
    equal_weights(arrays, in_memory);
    // The weights matter: without them training goes elsewhere.
    data::InMemoryDataset plain({d.xa, d.xb}, {d.y_class, d.y_box});
    const History hu = unweighted.fit(plain, o);
    EXPECT_NE(hu.history.at("loss"), ha.history.at("loss"));
    const Logs ea = arrays.evaluate({d.xa, d.xb}, {d.y_class, d.y_box}, {.batch_size = 6, .sample_weight = w});
    const Logs em = in_memory.evaluate(ds, {.batch_size = 6});
    for (const char* k : {"loss", "class_loss", "box_loss"}) EXPECT_DOUBLE_EQ(em.at(k), ea.at(k)) << k;
  }
  {
    // One weight array per output, from a generator whose batches the model re-cuts.
    auto arrays = two_by_two(), generated = two_by_two();
    for (Model* m : {&arrays, &generated}) compile_two_by_two(*m, optimizers::Adam(0.01));
    FitOptions ow = o;
    ow.sample_weight = std::vector<Tensor>{w, w_box};
    const History ha = arrays.fit({d.xa, d.xb}, {d.y_class, d.y_box}, ow);
    data::GeneratorDataset gen = weighted_batches(d, w, w_box);
    const History hg = generated.fit(gen, o);
    EXPECT_EQ(ha.history, hg.history);
    equal_weights(arrays, generated);
    const Logs ea = arrays.evaluate({d.xa, d.xb}, {d.y_class, d.y_box},
                                    {.batch_size = 8, .sample_weight = std::vector<Tensor>{w, w_box}});
    const Logs eg = generated.evaluate(gen, {.batch_size = 8});
    for (const char* k : {"loss", "class_loss", "box_loss"}) EXPECT_DOUBLE_EQ(eg.at(k), ea.at(k)) << k;
  }
}

TEST(MultiIO, DatasetSampleWeightErrors) {
  TwoByTwoData d(10);
  auto m = two_by_two();
  compile_two_by_two(m, optimizers::Adam(0.01));
  Tensor w = row_weights(10, 0);
  expect_error<ShapeError>([&] { data::InMemoryDataset({d.xa, d.xb}, {d.y_class, d.y_box}, {w, w, w}); },
                           {"3 sample_weight arrays for 2 y arrays"});
  expect_error<ShapeError>([&] { data::InMemoryDataset({d.xa}, {d.y_class}, {Tensor(Shape{10, 2})}); },
                           {"sample_weight", "one value per sample"});
  expect_error<ShapeError>([&] { data::InMemoryDataset({d.xa}, {d.y_class}, {Tensor(Shape{9})}); },
                           {"sample_weight", "9"});
  // A negative weight is found when its batch is read, naming the epoch and batch.
  Tensor bad = w.clone();
  bad[7] = -1.f;
  data::InMemoryDataset ds({d.xa, d.xb}, {d.y_class, d.y_box}, {bad});
  expect_error<ValueError>([&] { m.fit(ds, {.epochs = 1, .batch_size = 4, .shuffle = false, .verbose = 0}); },
                           {"epoch 1, batch 2", "sample_weight", "finite and >= 0"});
  expect_error<ValueError>([&] { m.evaluate(ds, {.batch_size = 4}); }, {"evaluate: batch 2", "finite and >= 0"});
  // Weights come with the dataset, not from the options.
  data::InMemoryDataset plain({d.xa, d.xb}, {d.y_class, d.y_box});
  expect_error<ValueError>([&] { m.fit(plain, {.verbose = 0, .sample_weight = w}); },
                           {"sample_weight goes with arrays", "sample_weight_count"});
  // A generator must yield the weights it declared, and only those.
  data::GeneratorDataset missing(
      [&](int) -> std::optional<data::Batch> { return data::Batch{{d.xa, d.xb}, {d.y_class, d.y_box}}; },
      {.x = {{3}, {2}}, .y = {{1}, {2}}, .sample_weights = 1});
  expect_error<ValueError>([&] { m.fit(missing, {.verbose = 0}); }, {"batch 0", "sample_weight is missing"});
  data::GeneratorDataset undeclared(
      [&](int) -> std::optional<data::Batch> { return data::Batch{{d.xa, d.xb}, {d.y_class, d.y_box}, w}; },
      {.x = {{3}, {2}}, .y = {{1}, {2}}});
  expect_error<ValueError>([&] { m.fit(undeclared, {.verbose = 0}); }, {"declared without sample weights"});
  expect_error<ValueError>(
      [&] { data::GeneratorDataset([](int) { return std::optional<data::Batch>(); }, {.x = {{3}}, .y = {{1}, {2}, {3}}, .sample_weights = 2}); },
      {"sample_weights must be 0, 1 or one per y array"});
}

TEST(MultiIO, PredictOnADatasetGivesEveryOutput) {
  TwoByTwoData d(13);
  auto m = two_by_two();
  compile_two_by_two(m);
  const std::vector<Tensor> want = m.predict(std::vector<Tensor>{d.xa, d.xb}, 4);
  data::InMemoryDataset ds({d.xa, d.xb}, {d.y_class, d.y_box});
  const std::vector<Tensor> got = m.predict_outputs(ds, 4);
  ASSERT_EQ(got.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(got[k].shape(), want[k].shape()) << "output " << k;
    EXPECT_EQ(got[k].to_vector(), want[k].to_vector()) << "output " << k;
  }
  // predict reads targets and ignores them: a dataset with one placeholder target serves too. Same
  // batch size as `want`: the GEMM's rounding may depend on the rows of a call (oneDNN's AVX2 kernels).
  data::InMemoryDataset inputs_only({d.xa, d.xb}, {Tensor(Shape{13, 1})});
  EXPECT_EQ(m.predict_outputs(inputs_only, 4)[1].to_vector(), want[1].to_vector());
  expect_error<ValueError>([&] { m.predict(ds); }, {"2 outputs", "predict_outputs"});
  // A single-output model gets its one tensor either way.
  Sequential one({layers::Dense(2, "linear", Shape{3})});
  data::InMemoryDataset single(d.xa, d.y_box);
  const std::vector<Tensor> outs = one.predict_outputs(single);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].to_vector(), one.predict(single).to_vector());
}

TEST(MultiIO, BadArraysAreClearErrors) {
  auto m = two_by_two();
  compile_two_by_two(m, optimizers::Adam(0.01));
  TwoByTwoData d(6);
  expect_error<ValueError>([&] { m.fit({d.xa}, {d.y_class, d.y_box}, {.verbose = 0}); },
                           {"fit", "x is a list of 1 arrays", "2 inputs (a, b)"});
  expect_error<ValueError>([&] { m.fit(d.xa, {d.y_class, d.y_box}, {.verbose = 0}); }, {"x is one array", "2 inputs"});
  expect_error<ValueError>([&] { m.fit({{"a", d.xa}, {"c", d.xb}}, {d.y_class, d.y_box}, {.verbose = 0}); },
                           {"x['c'] names no input", "inputs: a, b"});
  expect_error<ValueError>([&] { m.fit({{"a", d.xa}}, {d.y_class, d.y_box}, {.verbose = 0}); },
                           {"x has no array for input 'b'"});
  expect_error<ValueError>([&] { m.evaluate({d.xa, d.xb}, {{"class", d.y_class}, {"boxes", d.y_box}}); },
                           {"y['boxes'] names no output", "outputs: class, box"});
  expect_error<ShapeError>([&] { m.fit({d.xa, d.xb.rows(0, 5)}, {d.y_class, d.y_box}, {.verbose = 0}); },
                           {"x[0] ('a') has 6 rows but x[1] ('b') has 5"});
  expect_error<ShapeError>([&] { m.fit({d.xa, d.xb}, {d.y_class, d.y_box}, {.verbose = 0, .sample_weight = Tensor({5})}); },
                           {"has 6 rows but sample_weight", "has 5"});
  expect_error<ValueError>(
      [&] {
        m.fit({d.xa, d.xb}, {d.y_class, d.y_box}, {.verbose = 0, .sample_weight = Tensor({6}, {1, 1, -1, 1, 1, 1})});
      },
      {"sample_weight", "-1.000000 at row 2", "finite and >= 0"});
  expect_error<ValueError>(
      [&] {
        m.fit({d.xa, d.xb}, {d.y_class, d.y_box},
              {.verbose = 0, .sample_weight = DataArg{{"box", Tensor({6}, {1, 1, 1, 1, NAN, 1})}, {"class", Tensor::full({6}, 1.f)}}});
      },
      {"sample_weight[1] ('box')", "nan at row 4"});
  expect_error<ValueError>([&] { m.fit({d.xa, d.xb}, {d.y_class, d.y_box}, {.verbose = 0, .class_weight = {{0, -2.0}}}); },
                           {"class_weight for class 0", "finite and >= 0"});
  expect_error<ValueError>([&] { m.predict(d.xa); }, {"x is one array", "2 inputs"});
  expect_error<ValueError>([&] { m.compile("adam", {{"class", "mse"}, {"boxes", "mse"}}); },
                           {"'boxes' names no output", "outputs: class, box"});
  expect_error<ValueError>([&] { m.compile("adam", {"mse"}); }, {"1 losses for 2 outputs"});
  expect_error<ValueError>([&] { m.compile("adam", {{"class", "mse"}}); }, {"no loss for output 'box'"});
  expect_error<ValueError>([&] { m.compile("adam", "mse", {.loss_weights = {1.0, 2.0, 3.0}}); },
                           {"3 loss_weights for 2 outputs"});
  // A failed compile keeps the previous settings.
  EXPECT_NO_THROW(m.evaluate({d.xa, d.xb}, {d.y_class, d.y_box})["class_accuracy"]);
  // class targets out of range name the output.
  Tensor bad = d.y_class.clone();
  bad[3] = 7;
  expect_error<ValueError>([&] { m.evaluate({d.xa, d.xb}, {bad, d.y_box}); }, {"output 'class'", "label 7", "row 3"});
}

TEST(MultiIO, SavedModelKeepsEachOutputsLossWeightAndMetrics) {
  auto m = two_by_two();
  compile_two_by_two(m, optimizers::Adam(0.01));
  TwoByTwoData d(12);
  m.fit({d.xa, d.xb}, {d.y_class, d.y_box}, {.epochs = 1, .batch_size = 4, .verbose = 0});
  const std::string path = ::testing::TempDir() + "two_by_two.safetensors";
  m.save(path);
  Model loaded = load_model(path);
  const Logs a = m.evaluate({d.xa, d.xb}, {d.y_class, d.y_box}), b = loaded.evaluate({d.xa, d.xb}, {d.y_class, d.y_box});
  EXPECT_EQ(loaded.losses().at(1)->name(), "mean_squared_error");
  for (const char* key : {"loss", "class_loss", "box_loss", "class_accuracy"}) EXPECT_NEAR(a[key], b[key], 1e-6) << key;
  std::remove(path.c_str());
}

TEST(MultiIO, SingleOutputModelsKeepTheirNamesAndPredictForm) {
  auto in = layers::Input({2});
  Model m(in, layers::Dense(1, "linear", {.name = "out"})(in));
  m.compile(optimizers::SGD(0.01), "mse", {"mae"});
  const Tensor x = line_x(), y({4, 1}, {0, 1, 3, 0});
  const History h = m.fit(x, y, {.epochs = 1, .verbose = 0});
  EXPECT_EQ(h.history.size(), 2u);
  EXPECT_TRUE(h.history.count("loss") && h.history.count("mae"));
  EXPECT_EQ(m.predict(x).shape(), (Shape{4, 1}));
  EXPECT_EQ(m.predict(std::vector<Tensor>{x}).at(0).shape(), (Shape{4, 1}));
  EXPECT_EQ(m.predict({{"input_layer", x}}).at(0).shape(), (Shape{4, 1}));
}
