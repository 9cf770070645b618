// Tests of train_test_split, the scalers, to_categorical and the k-fold splitters against
// hand-computed values and scikit-learn's documented sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "myelin/data/preprocessing.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"

using myelin::Shape;
using myelin::Tensor;

namespace {

// x row i = {i, 10 i}, y row i = {label(i)}: rows can be traced back after shuffling.
Tensor traced_x(int64_t n) {
  Tensor x({n, 2});
  for (int64_t i = 0; i < n; ++i) {
    x.at(i, 0) = static_cast<float>(i);
    x.at(i, 1) = static_cast<float>(10 * i);
  }
  return x;
}

std::vector<int64_t> row_ids(const Tensor& x) {
  std::vector<int64_t> ids;
  for (int64_t r = 0; r < x.rows(); ++r) ids.push_back(static_cast<int64_t>(x.at(r, 0)));
  return ids;
}

std::map<float, int> class_counts(const Tensor& y) {
  std::map<float, int> c;
  for (int64_t i = 0; i < y.size(); ++i) ++c[y[i]];
  return c;
}

// ---------------------------------------------------------------------------------------------
// train_test_split

TEST(TrainTestSplit, SizesFollowScikitLearn) {
  // n_test = ceil(test_size * n): 10 rows at 0.25 -> 3 test; 506 at 0.2 -> 102 (ceil of 101.2).
  auto [x_train, x_test, y_train, y_test] = myelin::train_test_split(traced_x(10), Tensor({10, 1}));
  EXPECT_EQ(x_train.shape(), (Shape{7, 2}));
  EXPECT_EQ(x_test.shape(), (Shape{3, 2}));
  EXPECT_EQ(y_train.shape(), (Shape{7, 1}));
  EXPECT_EQ(y_test.shape(), (Shape{3, 1}));
  const auto s = myelin::train_test_split(traced_x(506), Tensor({506}), 0.2);
  EXPECT_EQ(s.x_test.rows(), 102);
  EXPECT_EQ(s.x_train.rows(), 404);
  EXPECT_EQ(s.y_test.shape(), (Shape{102}));
}

TEST(TrainTestSplit, KeepsRowsTogetherDisjointAndCovering) {
  const int64_t n = 50;
  Tensor y({n, 1});
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(i);
  const auto s = myelin::train_test_split(traced_x(n), y, 0.3, 42);
  for (int64_t r = 0; r < s.x_train.rows(); ++r) {
    EXPECT_EQ(s.y_train[r], s.x_train.at(r, 0));
    EXPECT_EQ(s.x_train.at(r, 1), 10 * s.x_train.at(r, 0));
  }
  for (int64_t r = 0; r < s.x_test.rows(); ++r) EXPECT_EQ(s.y_test[r], s.x_test.at(r, 0));
  std::vector<int64_t> all = row_ids(s.x_train), test = row_ids(s.x_test);
  all.insert(all.end(), test.begin(), test.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(n);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(all, expected);
  // Shuffled, not just cut.
  std::vector<int64_t> sorted_test = row_ids(s.x_test);
  std::sort(sorted_test.begin(), sorted_test.end());
  EXPECT_NE(sorted_test, std::vector<int64_t>(expected.begin(), expected.begin() + 15));
}

TEST(TrainTestSplit, SeedIsReproducible) {
  const Tensor x = traced_x(40);
  const Tensor y({40, 1});
  EXPECT_EQ(row_ids(myelin::train_test_split(x, y, 0.25, 7).x_test), row_ids(myelin::train_test_split(x, y, 0.25, 7).x_test));
  EXPECT_NE(row_ids(myelin::train_test_split(x, y, 0.25, 7).x_test), row_ids(myelin::train_test_split(x, y, 0.25, 8).x_test));
}

TEST(TrainTestSplit, StratifyKeepsClassProportions) {
  // 60 / 30 / 10 rows of classes 0 / 1 / 2; 20% test -> exactly 12 / 6 / 2 test rows.
  const int64_t n = 100;
  Tensor y({n, 1});
  for (int64_t i = 0; i < n; ++i) y[i] = i % 10 < 6 ? 0.f : (i % 10 < 9 ? 1.f : 2.f);
  const auto s = myelin::train_test_split(traced_x(n), y, 0.2, 3, true);
  EXPECT_EQ(class_counts(s.y_test), (std::map<float, int>{{0.f, 12}, {1.f, 6}, {2.f, 2}}));
  EXPECT_EQ(class_counts(s.y_train), (std::map<float, int>{{0.f, 48}, {1.f, 24}, {2.f, 8}}));
  for (int64_t r = 0; r < s.x_test.rows(); ++r) EXPECT_EQ(s.y_test[r], y[static_cast<int64_t>(s.x_test.at(r, 0))]);

  // Odd proportions: 7 and 3 rows, half for testing -> test gets 3-4 of class 0 and 1-2 of class 1.
  Tensor y2({10});
  for (int64_t i = 0; i < 10; ++i) y2[i] = i < 7 ? 0.f : 1.f;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const auto c = class_counts(myelin::train_test_split(traced_x(10), y2, 0.5, seed, true).y_test);
    EXPECT_EQ(c.at(0.f) + c.at(1.f), 5);
    EXPECT_GE(c.at(0.f), 3);
    EXPECT_LE(c.at(0.f), 4);
  }
  // One-hot rows stratify by their class.
  Tensor onehot({100, 3});
  for (int64_t i = 0; i < n; ++i) onehot.at(i, static_cast<int64_t>(y[i])) = 1.f;
  const auto o = myelin::train_test_split(traced_x(n), onehot, 0.2, 3, true);
  int class2 = 0;
  for (int64_t r = 0; r < o.y_test.rows(); ++r) class2 += o.y_test.at(r, 2) == 1.f;
  EXPECT_EQ(class2, 2);
}

TEST(TrainTestSplit, Errors) {
  const Tensor x = traced_x(10), y({10, 1});
  EXPECT_THROW(myelin::train_test_split(x, y, 0.0), myelin::ValueError);
  EXPECT_THROW(myelin::train_test_split(x, y, 1.0), myelin::ValueError);
  EXPECT_THROW(myelin::train_test_split(x, y, -0.1), myelin::ValueError);
  EXPECT_THROW(myelin::train_test_split(x, y, 1.5), myelin::ValueError);
  EXPECT_THROW(myelin::train_test_split(x, Tensor({9, 1})), myelin::ShapeError);
  EXPECT_THROW(myelin::train_test_split(Tensor({0, 2}), Tensor({0, 1})), myelin::ValueError);
  EXPECT_THROW(myelin::train_test_split(traced_x(1), Tensor({1, 1}), 0.5), myelin::ValueError);
  // A class with a single member cannot be in both parts.
  Tensor lonely({10, 1});
  lonely[9] = 1.f;
  EXPECT_THROW(myelin::train_test_split(x, lonely, 0.3, 0, true), myelin::ValueError);
  // Three classes but only two test rows.
  Tensor three({10, 1});
  for (int64_t i = 0; i < 10; ++i) three[i] = static_cast<float>(i % 3);
  EXPECT_THROW(myelin::train_test_split(x, three, 0.2, 0, true), myelin::ValueError);
}

// ---------------------------------------------------------------------------------------------
// StandardScaler

const Tensor k3x2({3, 2}, {1, 2, 3, 4, 5, 9});

TEST(StandardScaler, MeanAndPopulationScaleByHand) {
  myelin::StandardScaler s;
  const Tensor z = s.fit_transform(k3x2);
  // Column 0: mean 3, variance (4 + 0 + 4) / 3 = 8/3. Column 1: mean 5, variance (9 + 1 + 16) / 3 = 26/3.
  ASSERT_EQ(s.mean().size(), 2u);
  EXPECT_FLOAT_EQ(s.mean()[0], 3.f);
  EXPECT_FLOAT_EQ(s.mean()[1], 5.f);
  EXPECT_FLOAT_EQ(s.var()[0], 8.f / 3.f);
  EXPECT_FLOAT_EQ(s.scale()[0], std::sqrt(8.f / 3.f));
  EXPECT_FLOAT_EQ(s.scale()[1], std::sqrt(26.f / 3.f));
  EXPECT_EQ(s.n_samples_seen(), 3);
  EXPECT_EQ(z.shape(), (Shape{3, 2}));
  EXPECT_NEAR(z.at(0, 0), -1.2247449f, 1e-6);
  EXPECT_NEAR(z.at(1, 0), 0.f, 1e-6);
  EXPECT_NEAR(z.at(0, 1), -3.0 / std::sqrt(26.0 / 3.0), 1e-6);
  EXPECT_NEAR(z.at(2, 1), 4.0 / std::sqrt(26.0 / 3.0), 1e-6);
}

TEST(StandardScaler, InverseTransformRoundTrips) {
  myelin::StandardScaler s;
  const Tensor back = s.inverse_transform(s.fit_transform(k3x2));
  for (int64_t i = 0; i < k3x2.size(); ++i) EXPECT_NEAR(back[i], k3x2[i], 1e-5);
}

TEST(StandardScaler, ConstantFeatureGetsScaleOne) {
  const Tensor x({4, 2}, {7, 1, 7, 2, 7, 3, 7, 4});
  myelin::StandardScaler s;
  const Tensor z = s.fit_transform(x);
  EXPECT_EQ(s.scale()[0], 1.f);
  EXPECT_EQ(s.var()[0], 0.f);
  for (int64_t r = 0; r < 4; ++r) EXPECT_EQ(z.at(r, 0), 0.f);
  // 0.1 is not exact in binary; a constant column of it must still count as constant.
  const Tensor tenth = Tensor::full({1000, 1}, 0.1f);
  myelin::StandardScaler t;
  t.fit(tenth);
  EXPECT_EQ(t.scale()[0], 1.f);
}

TEST(StandardScaler, PartialFitEqualsFit) {
  myelin::StandardScaler whole, parts;
  whole.fit(k3x2);
  parts.partial_fit(k3x2.rows(0, 1)).partial_fit(k3x2.rows(1, 3));
  for (int c = 0; c < 2; ++c) {
    EXPECT_FLOAT_EQ(parts.mean()[c], whole.mean()[c]);
    EXPECT_FLOAT_EQ(parts.scale()[c], whole.scale()[c]);
  }
  // Larger data with a big offset, in uneven batches.
  myelin::Rng rng(5);
  Tensor big({1000, 3});
  for (int64_t i = 0; i < big.size(); ++i) big[i] = 1000.f + rng.normal(0.f, 2.f) * static_cast<float>(i % 3 + 1);
  myelin::StandardScaler a, b;
  a.fit(big);
  b.partial_fit(big.rows(0, 1)).partial_fit(big.rows(1, 333)).partial_fit(big.rows(333, 333)).partial_fit(big.rows(333, 1000));
  EXPECT_EQ(b.n_samples_seen(), 1000);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(b.mean()[c], a.mean()[c], 1e-4);
    EXPECT_NEAR(b.scale()[c], a.scale()[c], 1e-5 * a.scale()[c]);
  }
  EXPECT_NEAR(a.scale()[2], 6.f, 0.5f);  // roughly the generating stddev 2 * 3
}

TEST(StandardScaler, WorksOnImagesPerPosition) {
  // {2, 1, 2, 1} "images": two features (positions).
  const Tensor imgs({2, 1, 2, 1}, {0, 10, 2, 30});
  myelin::StandardScaler s;
  const Tensor z = s.fit_transform(imgs);
  EXPECT_EQ(z.shape(), imgs.shape());
  EXPECT_EQ(s.mean(), (std::vector<float>{1, 20}));
  EXPECT_EQ(z.to_vector(), (std::vector<float>{-1, -1, 1, 1}));
}

TEST(StandardScaler, Errors) {
  myelin::StandardScaler s;
  EXPECT_THROW(s.transform(k3x2), myelin::ValueError);
  EXPECT_THROW(s.inverse_transform(k3x2), myelin::ValueError);
  EXPECT_THROW(s.fit(Tensor({0, 2})), myelin::ValueError);
  s.fit(k3x2);
  EXPECT_THROW(s.transform(Tensor({3, 3})), myelin::ShapeError);
  EXPECT_THROW(s.partial_fit(Tensor({3, 3})), myelin::ShapeError);
  EXPECT_THROW(s.fit(Tensor({1, 2}, {1.f, NAN})), myelin::ValueError);
}

// ---------------------------------------------------------------------------------------------
// MinMaxScaler

TEST(MinMaxScaler, ScalesToRangeByHand) {
  myelin::MinMaxScaler s;
  const Tensor z = s.fit_transform(k3x2);
  // Column 0 spans 1..5, column 1 spans 2..9.
  EXPECT_EQ(s.data_min(), (std::vector<float>{1, 2}));
  EXPECT_EQ(s.data_max(), (std::vector<float>{5, 9}));
  EXPECT_NEAR(z.at(0, 0), 0.f, 1e-7);
  EXPECT_NEAR(z.at(1, 0), 0.5f, 1e-7);
  EXPECT_NEAR(z.at(2, 0), 1.f, 1e-7);
  EXPECT_NEAR(z.at(1, 1), 2.f / 7.f, 1e-7);
  EXPECT_NEAR(z.at(2, 1), 1.f, 1e-7);

  myelin::MinMaxScaler sym(-1.f, 1.f);
  const Tensor w = sym.fit_transform(k3x2);
  EXPECT_NEAR(w.at(0, 0), -1.f, 1e-6);
  EXPECT_NEAR(w.at(1, 0), 0.f, 1e-6);
  EXPECT_NEAR(w.at(2, 1), 1.f, 1e-6);
  const Tensor back = sym.inverse_transform(w);
  for (int64_t i = 0; i < k3x2.size(); ++i) EXPECT_NEAR(back[i], k3x2[i], 1e-5);
}

TEST(MinMaxScaler, ConstantFeaturePartialFitAndErrors) {
  myelin::MinMaxScaler s(2.f, 3.f);
  const Tensor z = s.fit_transform(Tensor({2, 1}, {4, 4}));
  EXPECT_EQ(z.to_vector(), (std::vector<float>{2, 2}));

  myelin::MinMaxScaler whole, parts;
  whole.fit(k3x2);
  parts.partial_fit(k3x2.rows(2, 3)).partial_fit(k3x2.rows(0, 2));
  EXPECT_EQ(parts.scale(), whole.scale());
  EXPECT_EQ(parts.min(), whole.min());

  EXPECT_THROW(myelin::MinMaxScaler(1.f, 1.f), myelin::ValueError);
  myelin::MinMaxScaler unfitted;
  EXPECT_THROW(unfitted.transform(k3x2), myelin::ValueError);
  EXPECT_THROW(whole.transform(Tensor({1, 3})), myelin::ShapeError);
}

// ---------------------------------------------------------------------------------------------
// to_categorical

TEST(ToCategorical, OneHotValuesAndShapes) {
  const Tensor oh = myelin::to_categorical(Tensor({3}, {0, 2, 1}));
  EXPECT_EQ(oh.shape(), (Shape{3, 3}));
  EXPECT_EQ(oh.to_vector(), (std::vector<float>{1, 0, 0, 0, 0, 1, 0, 1, 0}));
  const Tensor col = myelin::to_categorical(Tensor({2, 1}, {1, 0}), 4);
  EXPECT_EQ(col.shape(), (Shape{2, 4}));
  EXPECT_EQ(col.to_vector(), (std::vector<float>{0, 1, 0, 0, 1, 0, 0, 0}));
}

TEST(ToCategorical, Errors) {
  EXPECT_THROW(myelin::to_categorical(Tensor({2}, {0, 1.5f})), myelin::ValueError);
  EXPECT_THROW(myelin::to_categorical(Tensor({2}, {0, -1})), myelin::ValueError);
  EXPECT_THROW(myelin::to_categorical(Tensor({2}, {0, NAN})), myelin::ValueError);
  EXPECT_THROW(myelin::to_categorical(Tensor({2}, {0, 3}), 3), myelin::ValueError);
  EXPECT_THROW(myelin::to_categorical(Tensor({2}, {0, 1}), 0), myelin::ValueError);
  EXPECT_THROW(myelin::to_categorical(Tensor({0})), myelin::ValueError);
}

// ---------------------------------------------------------------------------------------------
// KFold, StratifiedKFold

// Every row in exactly one test fold; each fold's train and test disjoint and together all rows.
void expect_partition(const std::vector<myelin::FoldIndices>& folds, int64_t n) {
  std::vector<int> times_tested(static_cast<size_t>(n), 0);
  for (const auto& [train, test] : folds) {
    std::set<int64_t> tr(train.begin(), train.end()), te(test.begin(), test.end());
    EXPECT_EQ(tr.size(), train.size());
    EXPECT_EQ(te.size(), test.size());
    EXPECT_EQ(train.size() + test.size(), static_cast<size_t>(n));
    for (int64_t i : test) {
      EXPECT_EQ(tr.count(i), 0u);
      ++times_tested[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(times_tested[i], 1) << "row " << i;
}

TEST(KFold, FoldSizesAsScikitLearn) {
  // 10 rows in 3 folds: 4, 3, 3 (the first n % k folds get one more).
  const auto folds = myelin::KFold(3).split(10);
  ASSERT_EQ(folds.size(), 3u);
  EXPECT_EQ(folds[0].second, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(folds[1].second, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(folds[2].second, (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(folds[0].first, (std::vector<int64_t>{4, 5, 6, 7, 8, 9}));
  expect_partition(folds, 10);
  const auto five = myelin::KFold(5).split(23);
  std::vector<size_t> sizes;
  for (const auto& f : five) sizes.push_back(f.second.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{5, 5, 5, 4, 4}));
}

TEST(KFold, ShuffleIsReproducibleAndStillAPartition) {
  const auto a = myelin::KFold(4, true, 11).split(30);
  const auto b = myelin::KFold(4, true, 11).split(30);
  const auto c = myelin::KFold(4, true, 12).split(30);
  expect_partition(a, 30);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a[0].second, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(a[0].second.size(), 8u);
  EXPECT_EQ(a[3].second.size(), 7u);
  EXPECT_TRUE(std::is_sorted(a[0].first.begin(), a[0].first.end()));
}

TEST(KFold, Errors) {
  EXPECT_THROW(myelin::KFold(1), myelin::ValueError);
  EXPECT_THROW(myelin::KFold(5).split(3), myelin::ValueError);
  EXPECT_THROW(myelin::StratifiedKFold(0), myelin::ValueError);
}

TEST(StratifiedKFold, KeepsClassProportionsPerFold) {
  // Classes interleaved: 6 of class 0, 4 of class 1.
  const Tensor y({10}, {0, 1, 0, 0, 1, 0, 1, 0, 0, 1});
  const auto two = myelin::StratifiedKFold(2).split(y);
  ASSERT_EQ(two.size(), 2u);
  expect_partition(two, 10);
  for (const auto& [train, test] : two) {
    int ones = 0;
    for (int64_t i : test) ones += y[i] == 1.f;
    EXPECT_EQ(test.size(), 5u);
    EXPECT_EQ(ones, 2);
  }
  // Unshuffled, class members fill the folds in order: class 0 rows {0,2,3,5,7,8} give fold 0
  // {0,2,3} and class 1 rows {1,4,6,9} give fold 0 {1,4}.
  EXPECT_EQ(two[0].second, (std::vector<int64_t>{0, 1, 2, 3, 4}));

  // Three folds: class-sorted positions dealt round-robin give sizes 4, 3, 3 and class-1
  // counts 2, 1, 1.
  const auto three = myelin::StratifiedKFold(3, true, 9).split(y);
  expect_partition(three, 10);
  std::vector<size_t> sizes;
  std::vector<int> ones;
  for (const auto& f : three) {
    sizes.push_back(f.second.size());
    int o = 0;
    for (int64_t i : f.second) o += y[i] == 1.f;
    ones.push_back(o);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 3, 3}));
  EXPECT_EQ(ones, (std::vector<int>{2, 1, 1}));
  EXPECT_EQ(three, myelin::StratifiedKFold(3, true, 9).split(y));
}

TEST(StratifiedKFold, FoldSizesStayBalancedAcrossClasses) {
  // Three classes of 4 rows in 3 folds: each class alone would give 2, 1, 1, but dealing
  // continues across classes, so the folds hold 4, 4, 4 rows (as KFold's sizes).
  Tensor y({12});
  for (int64_t i = 0; i < 12; ++i) y[i] = static_cast<float>(i % 3);
  const auto folds = myelin::StratifiedKFold(3).split(y);
  expect_partition(folds, 12);
  for (const auto& [train, test] : folds) {
    EXPECT_EQ(test.size(), 4u);
    std::map<float, int> c;
    for (int64_t i : test) ++c[y[i]];
    for (const auto& [label, count] : c) EXPECT_TRUE(count == 1 || count == 2) << "class " << label;
  }
}

TEST(StratifiedKFold, Errors) {
  EXPECT_THROW(myelin::StratifiedKFold(5).split(Tensor({3}, {0, 1, 0})), myelin::ValueError);
  // Every class smaller than n_splits.
  EXPECT_THROW(myelin::StratifiedKFold(2).split(Tensor({4}, {0, 1, 2, 3})), myelin::ValueError);
  EXPECT_THROW(myelin::StratifiedKFold(2).split(Tensor({3}, {0, NAN, 1})), myelin::ValueError);
}

}  // namespace
