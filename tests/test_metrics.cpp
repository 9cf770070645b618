// Metrics on small arrays with values counted by hand, accumulation over batches, and Keras's rule for
// which accuracy "accuracy" means.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

#include "myelin/error.hpp"
#include "myelin/metrics.hpp"

using namespace myelin;

namespace {

Tensor col(std::vector<float> v) { return Tensor({int64_t(v.size()), 1}, v); }
Tensor mat(int64_t rows, int64_t cols, std::vector<float> v) { return Tensor({rows, cols}, v); }

double once(Metric& m, const Tensor& t, const Tensor& p) {
  m.reset();
  m.update(t, p);
  return m.result();
}

}  // namespace

TEST(Metrics, BinaryAccuracyThresholdIsStrict) {
  // Predicted positive when p > 0.5: [0.9, 0.6, 0.4, 0.5] -> [1, 1, 0, 0] against [1, 0, 1, 0]:
  // right, wrong, wrong, right -> 2/4.
  metrics::BinaryAccuracy m;
  EXPECT_DOUBLE_EQ(once(m, col({1, 0, 1, 0}), col({0.9f, 0.6f, 0.4f, 0.5f})), 0.5);
  // Threshold 0.3: [1, 1, 1, 1] -> right, wrong, right, wrong = 2/4; with 0.45: [1, 1, 0, 1] -> 1/4.
  metrics::BinaryAccuracy m3("binary_accuracy", 0.3f);
  EXPECT_DOUBLE_EQ(once(m3, col({1, 0, 1, 0}), col({0.9f, 0.6f, 0.4f, 0.5f})), 0.5);
  metrics::BinaryAccuracy m45("binary_accuracy", 0.45f);
  EXPECT_DOUBLE_EQ(once(m45, col({1, 0, 1, 0}), col({0.9f, 0.6f, 0.4f, 0.5f})), 0.25);
}

TEST(Metrics, CategoricalAccuracy) {
  // Arg-max of predictions [1, 0, 2] against one-hot targets of classes [1, 2, 2]: 2/3.
  metrics::CategoricalAccuracy m;
  Tensor t = mat(3, 3, {0, 1, 0, 0, 0, 1, 0, 0, 1});
  Tensor p = mat(3, 3, {0.2f, 0.7f, 0.1f, 0.5f, 0.3f, 0.2f, 0.1f, 0.2f, 0.7f});
  EXPECT_NEAR(once(m, t, p), 2.0 / 3.0, 1e-12);
  EXPECT_THROW(m.update(mat(1, 2, {0, 1}), p), ShapeError);
}

TEST(Metrics, SparseCategoricalAccuracy) {
  // Arg-max [1, 0, 2, 2] against labels [1, 1, 2, 0]: 2/4.
  metrics::SparseCategoricalAccuracy m;
  Tensor p = mat(4, 3, {0.2f, 0.7f, 0.1f, 0.5f, 0.3f, 0.2f, 0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f});
  EXPECT_DOUBLE_EQ(once(m, col({1, 1, 2, 0}), p), 0.5);
  // Labels as a flat {n} tensor work the same.
  EXPECT_DOUBLE_EQ(once(m, Tensor({4}, {1, 1, 2, 0}), p), 0.5);
  EXPECT_THROW(m.update(col({1, 1}), p), ShapeError);
}

TEST(Metrics, MeanSquaredAndAbsoluteError) {
  // errors [1, 0, 2, -3]: MSE (1 + 0 + 4 + 9)/4 = 3.5, MAE (1 + 0 + 2 + 3)/4 = 1.5.
  Tensor t = col({1, 2, 3, 4}), p = col({2, 2, 5, 1});
  metrics::MeanSquaredError mse;
  metrics::MeanAbsoluteError mae;
  EXPECT_DOUBLE_EQ(once(mse, t, p), 3.5);
  EXPECT_DOUBLE_EQ(once(mae, t, p), 1.5);
  EXPECT_DOUBLE_EQ(metrics::mean_squared_error(t, p), 3.5);
  EXPECT_DOUBLE_EQ(metrics::mean_absolute_error(t, p), 1.5);
  // Over every element of a 2-D array: errors [1, -1, 0.5, 0] -> MSE 2.25/4, MAE 2.5/4.
  Tensor t2 = mat(2, 2, {0, 0, 1, 1}), p2 = mat(2, 2, {1, -1, 1.5f, 1});
  EXPECT_DOUBLE_EQ(metrics::mean_squared_error(t2, p2), 0.5625);
  EXPECT_DOUBLE_EQ(metrics::mean_absolute_error(t2, p2), 0.625);
  EXPECT_THROW(metrics::mean_squared_error(col({1, 2}), col({1, 2, 3})), ShapeError);
}

TEST(Metrics, PrecisionAndRecall) {
  // y_true [1, 1, 0, 0, 1], p [0.9, 0.2, 0.7, 0.6, 0.8] -> predicted [1, 0, 1, 1, 1]:
  // tp = 2 (rows 0, 4), fp = 2 (rows 2, 3), fn = 1 (row 1): precision 2/4, recall 2/3.
  Tensor t = col({1, 1, 0, 0, 1}), p = col({0.9f, 0.2f, 0.7f, 0.6f, 0.8f});
  metrics::Precision prec;
  metrics::Recall rec;
  EXPECT_DOUBLE_EQ(once(prec, t, p), 0.5);
  EXPECT_NEAR(once(rec, t, p), 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(metrics::precision(t, p), 0.5);
  EXPECT_NEAR(metrics::recall(t, p), 2.0 / 3.0, 1e-12);
  // No predicted positives: precision is 0 (Keras's convention), not NaN.
  EXPECT_DOUBLE_EQ(metrics::precision(t, col({0.1f, 0.1f, 0.1f, 0.1f, 0.1f})), 0.0);
}

TEST(Metrics, RocAucWithTies) {
  // scikit-learn's example: [0, 0, 1, 1] with scores [0.1, 0.4, 0.35, 0.8]. Positive-negative pairs
  // ranked right: 0.35 > 0.1; 0.8 > both -> 3 of 4 = 0.75.
  EXPECT_DOUBLE_EQ(metrics::roc_auc(col({0, 0, 1, 1}), col({0.1f, 0.4f, 0.35f, 0.8f})), 0.75);
  // Ties count one half: positives {0.35, 0.8, 0.4}, negatives {0.1, 0.4, 0.4}.
  // 0.35: beats 0.1 -> 1; 0.8: beats all -> 3; 0.4: beats 0.1, ties two 0.4s -> 1 + 0.5 + 0.5 = 2.
  // AUC = (1 + 3 + 2) / 9 = 2/3.
  Tensor t = col({0, 0, 1, 1, 0, 1}), p = col({0.1f, 0.4f, 0.35f, 0.8f, 0.4f, 0.4f});
  EXPECT_NEAR(metrics::roc_auc(t, p), 2.0 / 3.0, 1e-12);
  metrics::AUC m;
  EXPECT_NEAR(once(m, t, p), 2.0 / 3.0, 1e-12);
  // All scores equal: every pair ties -> 0.5.
  EXPECT_DOUBLE_EQ(metrics::roc_auc(col({0, 1, 0, 1}), col({0.3f, 0.3f, 0.3f, 0.3f})), 0.5);
  // Perfectly reversed ranking -> 0.
  EXPECT_DOUBLE_EQ(metrics::roc_auc(col({1, 1, 0}), col({0.1f, 0.2f, 0.9f})), 0.0);
  // Only one class: undefined, reported as 0.
  EXPECT_DOUBLE_EQ(metrics::roc_auc(col({1, 1}), col({0.1f, 0.9f})), 0.0);
}

TEST(Metrics, PlainAccuracy) {
  // Labels against labels: [0, 1, 2, 1] vs [0, 2, 2, 1] -> 3/4.
  EXPECT_DOUBLE_EQ(metrics::accuracy(Tensor({4}, {0, 1, 2, 1}), Tensor({4}, {0, 2, 2, 1})), 0.75);
  // Scores {n, k}: arg-max [1, 0, 2] vs labels [1, 1, 2] -> 2/3.
  Tensor scores = mat(3, 3, {0.2f, 0.7f, 0.1f, 0.5f, 0.3f, 0.2f, 0.1f, 0.2f, 0.7f});
  EXPECT_NEAR(metrics::accuracy(col({1, 1, 2}), scores), 2.0 / 3.0, 1e-12);
  // One probability per sample, thresholded at 0.5: [0.2, 0.7, 0.51, 0.49] -> [0, 1, 1, 0]
  // vs [0, 1, 0, 1] -> 2/4.
  EXPECT_DOUBLE_EQ(metrics::accuracy(col({0, 1, 0, 1}), col({0.2f, 0.7f, 0.51f, 0.49f})), 0.5);
  EXPECT_THROW(metrics::accuracy(Tensor({0}), Tensor({0})), ValueError);
}

TEST(Metrics, ResetForgetsEarlierBatches) {
  metrics::MeanAbsoluteError m;
  m.update(col({0}), col({100}));
  m.reset();
  m.update(col({1, 2}), col({2, 2}));  // errors 1, 0
  EXPECT_DOUBLE_EQ(m.result(), 0.5);
}

// Two update() calls must give the result of one call on the concatenation: metrics average over
// samples (or pairs, for AUC), not over batches. The batches differ in size so a mean of batch means
// would differ.
TEST(Metrics, AccumulationEqualsConcatenation) {
  const std::vector<float> t1 = {1, 0, 1}, p1 = {0.9f, 0.8f, 0.3f};
  const std::vector<float> t2 = {0, 0, 1, 1, 0}, p2 = {0.1f, 0.6f, 0.7f, 0.2f, 0.4f};
  std::vector<float> t12 = t1, p12 = p1;
  t12.insert(t12.end(), t2.begin(), t2.end());
  p12.insert(p12.end(), p2.begin(), p2.end());

  std::vector<std::pair<const char*, std::function<std::shared_ptr<Metric>()>>> makers = {
      {"binary_accuracy", [] { return std::make_shared<metrics::BinaryAccuracy>(); }},
      {"mse", [] { return std::make_shared<metrics::MeanSquaredError>(); }},
      {"mae", [] { return std::make_shared<metrics::MeanAbsoluteError>(); }},
      {"precision", [] { return std::make_shared<metrics::Precision>(); }},
      {"recall", [] { return std::make_shared<metrics::Recall>(); }},
      {"auc", [] { return std::make_shared<metrics::AUC>(); }},
  };
  for (auto& [name, make] : makers) {
    auto two = make(), one = make();
    two->update(col(t1), col(p1));
    two->update(col(t2), col(p2));
    one->update(col(t12), col(p12));
    EXPECT_NEAR(two->result(), one->result(), 1e-12) << name;
  }
  // Hand values for the concatenation, to be sure the comparison is not between two wrong numbers:
  // predicted [1, 1, 0, 0, 1, 1, 0, 0] vs [1, 0, 1, 0, 0, 1, 1, 0]: hits rows 0, 3, 5, 7 -> 4/8;
  // tp = 2 (rows 0, 5), fp = 2 (rows 1, 4) -> precision 0.5; fn = 2 (rows 2, 6) -> recall 0.5.
  metrics::BinaryAccuracy acc;
  acc.update(col(t1), col(p1));
  acc.update(col(t2), col(p2));
  EXPECT_DOUBLE_EQ(acc.result(), 0.5);
  metrics::Precision prec;
  prec.update(col(t1), col(p1));
  prec.update(col(t2), col(p2));
  EXPECT_DOUBLE_EQ(prec.result(), 0.5);

  // Class-index metrics, batches of 1 and 3 rows: arg-max [0 | 1, 2, 2] vs [0 | 1, 1, 2] -> 3/4.
  const Tensor pa = mat(1, 3, {0.8f, 0.1f, 0.1f});
  const Tensor pb = mat(3, 3, {0.1f, 0.8f, 0.1f, 0.1f, 0.2f, 0.7f, 0.0f, 0.3f, 0.7f});
  metrics::SparseCategoricalAccuracy sparse;
  sparse.update(col({0}), pa);
  sparse.update(col({1, 1, 2}), pb);
  EXPECT_DOUBLE_EQ(sparse.result(), 0.75);
  metrics::CategoricalAccuracy cat;
  cat.update(mat(1, 3, {1, 0, 0}), pa);
  cat.update(mat(3, 3, {0, 1, 0, 0, 1, 0, 0, 0, 1}), pb);
  EXPECT_DOUBLE_EQ(cat.result(), 0.75);
}

TEST(Metrics, ByName) {
  EXPECT_EQ(metrics::get("mae")->name(), "mae");  // the key in logs is the name the user gave
  EXPECT_EQ(metrics::get("mean_squared_error")->name(), "mean_squared_error");
  EXPECT_EQ(metrics::get("precision")->name(), "precision");
  EXPECT_EQ(metrics::get("auc")->name(), "auc");
  EXPECT_NE(dynamic_cast<metrics::Recall*>(metrics::get("recall").get()), nullptr);
  EXPECT_NE(dynamic_cast<metrics::MeanSquaredError*>(metrics::get("mse").get()), nullptr);
  EXPECT_THROW(metrics::get("f1_scoer"), ValueError);
}

TEST(Metrics, ResolveAccuracyFollowsKerasRule) {
  // One output per sample -> binary; one target value but several outputs -> sparse; else categorical.
  auto bin = metrics::resolve_accuracy("accuracy", 1, 1);
  auto sparse = metrics::resolve_accuracy("accuracy", 1, 10);
  auto cat = metrics::resolve_accuracy("acc", 10, 10);
  EXPECT_NE(dynamic_cast<metrics::BinaryAccuracy*>(bin.get()), nullptr);
  EXPECT_NE(dynamic_cast<metrics::SparseCategoricalAccuracy*>(sparse.get()), nullptr);
  EXPECT_NE(dynamic_cast<metrics::CategoricalAccuracy*>(cat.get()), nullptr);
  // The key stays what the user wrote.
  EXPECT_EQ(bin->name(), "accuracy");
  EXPECT_EQ(cat->name(), "acc");
  // The resolved metric computes the right thing: labels [2, 0] vs arg-max [2, 1] -> 0.5.
  sparse->update(col({2, 0}), mat(2, 10, {0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_DOUBLE_EQ(sparse->result(), 0.5);
}
