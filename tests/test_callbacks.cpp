// Callbacks inside real fit() runs on tiny data. Where a test needs the monitored value to follow an exact
// script (to count patience), a ScriptedMetric reports a chosen value per epoch.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "myelin/callbacks.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/model.hpp"

using namespace myelin;
using callbacks::EarlyStopping;
using callbacks::LambdaCallback;

namespace {

// Reports values[e] at the end of epoch e: fit() resets metrics once at the start of every epoch
// (and nothing else resets them when there is no validation data).
class ScriptedMetric : public Metric {
 public:
  ScriptedMetric(std::string name, std::vector<double> values) : name_(std::move(name)), values_(std::move(values)) {}
  std::string name() const override { return name_; }
  void reset() override { ++resets_; }
  void update(const Tensor&, const Tensor&) override {}
  double result() const override {
    const size_t i = resets_ == 0 ? 0 : size_t(resets_ - 1);
    return values_[std::min(i, values_.size() - 1)];
  }

 private:
  std::string name_;
  std::vector<double> values_;
  int resets_ = 0;
};

// MSE whose value becomes NaN from the `nan_from`-th call on (0-based); gradients stay finite.
class NaNAfterLoss : public losses::MeanSquaredError {
 public:
  explicit NaNAfterLoss(int nan_from) : nan_from_(nan_from) {}
  double compute(const Tensor& t, const Tensor& p, Tensor* g) const override {
    const double v = losses::MeanSquaredError::compute(t, p, g);
    return calls_++ >= nan_from_ ? std::numeric_limits<double>::quiet_NaN() : v;
  }

 private:
  int nan_from_;
  mutable int calls_ = 0;
};

// 16 rows, y = 2 x0 - x1 + 0.5: a linear problem a Dense(1) learns.
struct Data {
  Tensor x{Shape{16, 2}}, y{Shape{16, 1}};
  Data() {
    for (int i = 0; i < 16; ++i) {
      x.at(i, 0) = float(i % 4) * 0.5f - 0.7f;
      x.at(i, 1) = float(i / 4) * 0.3f - 0.4f;
      y.at(i, 0) = 2.f * x.at(i, 0) - x.at(i, 1) + 0.5f;
    }
  }
};

Sequential linear_model(double lr, std::vector<MetricArg> metrics = {}, LossArg loss = "mse") {
  set_random_seed(7);
  Sequential m({layers::Dense(1, "linear", Shape{2})});
  m.compile(optimizers::SGD(lr), std::move(loss), std::move(metrics));
  return m;
}

std::shared_ptr<Metric> scripted(std::string name, std::vector<double> v) {
  return std::make_shared<ScriptedMetric>(std::move(name), std::move(v));
}

}  // namespace

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  // monitor (min): epoch 0 1.0 best, 1 0.8 best, 2 0.9 (wait 1), 3 0.85 (wait 2 = patience) -> stop at 3.
  Data d;
  auto m = linear_model(0.01, {scripted("score", {1.0, 0.8, 0.9, 0.85, 0.1, 0.1, 0.1})});
  auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.monitor = "score", .patience = 2, .mode = "min"});
  History h = m.fit(d.x, d.y, {.epochs = 7, .batch_size = 4, .callbacks = {es}, .verbose = 0});
  EXPECT_EQ(es->stopped_epoch(), 3);
  EXPECT_EQ(es->best_epoch(), 1);
  ASSERT_EQ(h.epochs.size(), 4u);
  EXPECT_EQ(h["loss"].size(), 4u);
  EXPECT_EQ(h.epochs.back(), 3);
}

TEST(EarlyStopping, LargerPatienceWaitsForTheLaterImprovement) {
  // Same script, patience 3: epoch 4 (0.1) improves before the wait reaches 3, so all 7 epochs run.
  Data d;
  auto m = linear_model(0.01, {scripted("score", {1.0, 0.8, 0.9, 0.85, 0.1, 0.1, 0.1})});
  auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.monitor = "score", .patience = 3, .mode = "min"});
  History h = m.fit(d.x, d.y, {.epochs = 7, .batch_size = 4, .callbacks = {es}, .verbose = 0});
  // Epochs 5 and 6 do not improve on 0.1 but the wait is only 2 when training ends.
  EXPECT_EQ(es->stopped_epoch(), -1);
  EXPECT_EQ(es->best_epoch(), 4);
  EXPECT_EQ(h.epochs.size(), 7u);
}

TEST(EarlyStopping, MinDeltaSetsWhatCountsAsImprovement) {
  // [1.0, 0.95, 0.92, 0.91, 0.905], patience 1.
  // min_delta 0.04: 0.95 < 1.0 - 0.04 improves; 0.92 < 0.95 - 0.04 = 0.91 fails -> stop at epoch 2.
  // min_delta 0: every epoch improves -> 5 epochs.
  const std::vector<double> script = {1.0, 0.95, 0.92, 0.91, 0.905};
  Data d;
  {
    auto m = linear_model(0.01, {scripted("score", script)});
    auto es = std::make_shared<EarlyStopping>(
        EarlyStopping::Options{.monitor = "score", .min_delta = 0.04, .patience = 1, .mode = "min"});
    History h = m.fit(d.x, d.y, {.epochs = 5, .batch_size = 4, .callbacks = {es}, .verbose = 0});
    EXPECT_EQ(es->stopped_epoch(), 2);
    EXPECT_EQ(h.epochs.size(), 3u);
  }
  {
    auto m = linear_model(0.01, {scripted("score", script)});
    auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.monitor = "score", .patience = 1, .mode = "min"});
    History h = m.fit(d.x, d.y, {.epochs = 5, .batch_size = 4, .callbacks = {es}, .verbose = 0});
    EXPECT_EQ(es->stopped_epoch(), -1);
    EXPECT_EQ(h.epochs.size(), 5u);
  }
}

TEST(EarlyStopping, AccuracyIsMaximisedInAutoMode) {
  // "accuracy" rises when better: [0.5, 0.6, 0.55, 0.58, 0.9], patience 2: best at 1, waits at 2 and 3 -> stop at 3.
  // (Minimising it would stop at epoch 2, since 0.6 and 0.55 are both above 0.5.)
  Data d;
  auto m = linear_model(0.01, {scripted("accuracy", {0.5, 0.6, 0.55, 0.58, 0.9})});
  auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.monitor = "accuracy", .patience = 2});
  History h = m.fit(d.x, d.y, {.epochs = 5, .batch_size = 4, .callbacks = {es}, .verbose = 0});
  EXPECT_EQ(es->best_epoch(), 1);
  EXPECT_EQ(es->stopped_epoch(), 3);
  EXPECT_EQ(h.epochs.size(), 4u);
}

TEST(EarlyStopping, BaselineMustBeBeaten) {
  // min mode, baseline 0.5, patience 2, [0.9, 0.95, 0.95]: epoch 0 is a best but does not beat the
  // baseline, so its wait (1) is not reset; epoch 1 brings it to 2 -> stop at 1. Without a baseline: stop at 2.
  Data d;
  {
    auto m = linear_model(0.01, {scripted("score", {0.9, 0.95, 0.95, 0.95})});
    auto es = std::make_shared<EarlyStopping>(
        EarlyStopping::Options{.monitor = "score", .patience = 2, .mode = "min", .baseline = 0.5});
    m.fit(d.x, d.y, {.epochs = 4, .batch_size = 4, .callbacks = {es}, .verbose = 0});
    EXPECT_EQ(es->stopped_epoch(), 1);
  }
  {
    auto m = linear_model(0.01, {scripted("score", {0.9, 0.95, 0.95, 0.95})});
    auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.monitor = "score", .patience = 2, .mode = "min"});
    m.fit(d.x, d.y, {.epochs = 4, .batch_size = 4, .callbacks = {es}, .verbose = 0});
    EXPECT_EQ(es->stopped_epoch(), 2);
  }
}

TEST(EarlyStopping, RestoreBestWeightsPutsBackTheBestEpoch) {
  // Best at epoch 1 (0.5), then no improvement for 2 epochs -> stop at 3; the model must end with the
  // weights it had at the end of epoch 1, which a LambdaCallback snapshots independently.
  Data d;
  auto m = linear_model(0.05, {scripted("score", {1.0, 0.5, 0.9, 0.9, 0.9, 0.9})});
  std::vector<std::vector<Tensor>> snaps;
  auto snap = std::make_shared<LambdaCallback>();
  snap->epoch_end = [&](int, const Logs&) { snaps.push_back(snap->model().get_weights()); };
  auto es = std::make_shared<EarlyStopping>(
      EarlyStopping::Options{.monitor = "score", .patience = 2, .mode = "min", .restore_best_weights = true});
  m.fit(d.x, d.y, {.epochs = 6, .batch_size = 4, .callbacks = {snap, es}, .verbose = 0});
  ASSERT_EQ(es->stopped_epoch(), 3);
  ASSERT_EQ(snaps.size(), 4u);
  const auto w = m.get_weights();
  ASSERT_EQ(w.size(), snaps[1].size());
  bool differs_from_last = false;
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i].to_vector(), snaps[1][i].to_vector()) << "weight " << i;
    differs_from_last |= w[i].to_vector() != snaps[3][i].to_vector();
  }
  // Training kept moving the weights after epoch 1, so restoring was not a no-op.
  EXPECT_TRUE(differs_from_last);
}

TEST(EarlyStopping, WithoutRestoreKeepsTheLastWeights) {
  Data d;
  auto m = linear_model(0.05, {scripted("score", {1.0, 0.5, 0.9, 0.9, 0.9, 0.9})});
  std::vector<std::vector<Tensor>> snaps;
  auto snap = std::make_shared<LambdaCallback>();
  snap->epoch_end = [&](int, const Logs&) { snaps.push_back(snap->model().get_weights()); };
  auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.monitor = "score", .patience = 2, .mode = "min"});
  m.fit(d.x, d.y, {.epochs = 6, .batch_size = 4, .callbacks = {snap, es}, .verbose = 0});
  ASSERT_EQ(snaps.size(), 4u);
  const auto w = m.get_weights();
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i].to_vector(), snaps[3][i].to_vector());
}

TEST(EarlyStopping, RealValLossOnALearnableProblem) {
  // With validation data the default monitor val_loss is present; on a learnable problem val_loss keeps
  // falling, so no stop happens and the best epoch is the last.
  Data d;
  auto m = linear_model(0.1);
  auto es = std::make_shared<EarlyStopping>(EarlyStopping::Options{.patience = 1});
  History h = m.fit(d.x, d.y,
                    {.epochs = 5, .batch_size = 4, .validation_data = ValidationData{d.x, d.y}, .callbacks = {es},
                     .verbose = 0});
  EXPECT_EQ(h.epochs.size(), 5u);
  EXPECT_EQ(es->best_epoch(), 4);
  EXPECT_LT(h["val_loss"].back(), h["val_loss"].front());
}

TEST(EarlyStopping, MissingMonitorIsNamed) {
  // Without validation there is no val_loss: the error names it and lists what is available.
  Data d;
  auto m = linear_model(0.01);
  try {
    m.fit(d.x, d.y, {.epochs = 2, .batch_size = 4, .callbacks = {EarlyStopping()}, .verbose = 0});
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("val_loss"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("loss"), std::string::npos) << e.what();
  }
}

TEST(Callbacks, MonitorDirection) {
  using callbacks::monitor_maximizes;
  EXPECT_TRUE(monitor_maximizes("val_accuracy", "auto"));
  EXPECT_TRUE(monitor_maximizes("auc", "auto"));
  EXPECT_TRUE(monitor_maximizes("val_precision", "auto"));
  EXPECT_FALSE(monitor_maximizes("val_loss", "auto"));
  EXPECT_FALSE(monitor_maximizes("mae", "auto"));
  EXPECT_TRUE(monitor_maximizes("loss", "max"));
  EXPECT_FALSE(monitor_maximizes("accuracy", "min"));
  EXPECT_THROW(monitor_maximizes("loss", "sideways"), ValueError);
}

TEST(TerminateOnNaN, HugeLearningRateStopsTraining) {
  // SGD with lr 1e30 blows the weights up within a few steps; the loss turns inf/NaN and training
  // stops in that epoch instead of running all 50.
  Data d;
  auto m = linear_model(1e30);
  auto t = std::make_shared<callbacks::TerminateOnNaN>();
  History h = m.fit(d.x, d.y, {.epochs = 50, .batch_size = 4, .callbacks = {t}, .verbose = 0});
  EXPECT_TRUE(t->terminated());
  EXPECT_LT(h.epochs.size(), 50u);
  EXPECT_FALSE(std::isfinite(h.last("loss")));
}

TEST(TerminateOnNaN, StopsAtTheBatchWhereTheLossBecomesNaN) {
  // 16 rows / batch 4 = 4 steps per epoch. The loss is NaN from its 6th call (epoch 1, batch 1), so
  // batches 0..3 of epoch 0 and 0..1 of epoch 1 run: 6 batch ends, 2 epochs in the history.
  Data d;
  auto m = linear_model(0.01, {}, std::shared_ptr<Loss>(std::make_shared<NaNAfterLoss>(5)));
  auto t = std::make_shared<callbacks::TerminateOnNaN>();
  int batches = 0;
  auto count = std::make_shared<LambdaCallback>();
  count->batch_end = [&](int, const Logs&) { ++batches; };
  History h = m.fit(d.x, d.y, {.epochs = 10, .batch_size = 4, .shuffle = false, .callbacks = {count, t}, .verbose = 0});
  EXPECT_TRUE(t->terminated());
  EXPECT_EQ(batches, 6);
  ASSERT_EQ(h.epochs.size(), 2u);
  EXPECT_TRUE(std::isfinite(h["loss"][0]));
  EXPECT_TRUE(std::isnan(h["loss"][1]));
}

TEST(TerminateOnNaN, FiniteLossRunsEveryEpoch) {
  Data d;
  auto m = linear_model(0.01);
  auto t = std::make_shared<callbacks::TerminateOnNaN>();
  History h = m.fit(d.x, d.y, {.epochs = 3, .batch_size = 4, .callbacks = {t}, .verbose = 0});
  EXPECT_FALSE(t->terminated());
  EXPECT_EQ(h.epochs.size(), 3u);
}

namespace {
// Learning rate seen after each epoch's callbacks, for a constant-plateau script.
std::vector<double> lr_trace(callbacks::ReduceLROnPlateau::Options o, std::vector<double> script, int epochs) {
  Data d;
  auto m = linear_model(0.1, {scripted("plateau", std::move(script))});
  std::vector<double> lrs;
  auto rec = std::make_shared<LambdaCallback>();
  rec->epoch_end = [&](int, const Logs&) { lrs.push_back(rec->model().optimizer().learning_rate()); };
  m.fit(d.x, d.y,
        {.epochs = epochs, .batch_size = 4,
         .callbacks = {std::make_shared<callbacks::ReduceLROnPlateau>(o), rec}, .verbose = 0});
  return lrs;
}
}  // namespace

TEST(ReduceLROnPlateau, HalvesAfterPatienceEpochs) {
  // Constant monitor, patience 2, factor 0.5, lr 0.1: epoch 0 sets the best; epochs 1, 2 wait 1, 2 ->
  // reduce to 0.05 at epoch 2; epochs 3, 4 -> 0.025 at epoch 4.
  auto lrs = lr_trace({.monitor = "plateau", .factor = 0.5, .patience = 2}, {1.0}, 6);
  const std::vector<double> expected = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025};
  ASSERT_EQ(lrs.size(), expected.size());
  for (size_t i = 0; i < lrs.size(); ++i) EXPECT_NEAR(lrs[i], expected[i], 1e-12) << "epoch " << i;
}

TEST(ReduceLROnPlateau, RespectsMinLr) {
  // As above with min_lr 0.03: 0.05 * 0.5 = 0.025 is raised to 0.03, and 0.03 is never reduced again.
  auto lrs = lr_trace({.monitor = "plateau", .factor = 0.5, .patience = 2, .min_lr = 0.03}, {1.0}, 7);
  const std::vector<double> expected = {0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03};
  ASSERT_EQ(lrs.size(), expected.size());
  for (size_t i = 0; i < lrs.size(); ++i) EXPECT_NEAR(lrs[i], expected[i], 1e-12) << "epoch " << i;
}

TEST(ReduceLROnPlateau, ImprovementResetsTheWait) {
  // [1, 1, 0.5, 0.5, 0.5], patience 2: epoch 2 improves (wait 0), epochs 3, 4 wait -> first reduction at 4.
  auto lrs = lr_trace({.monitor = "plateau", .factor = 0.5, .patience = 2}, {1.0, 1.0, 0.5, 0.5, 0.5}, 5);
  const std::vector<double> expected = {0.1, 0.1, 0.1, 0.1, 0.05};
  ASSERT_EQ(lrs.size(), expected.size());
  for (size_t i = 0; i < lrs.size(); ++i) EXPECT_NEAR(lrs[i], expected[i], 1e-12) << "epoch " << i;
}

TEST(ReduceLROnPlateau, RejectsFactorOutsideZeroOne) {
  EXPECT_THROW(callbacks::ReduceLROnPlateau({.factor = 1.0}), ValueError);
  EXPECT_THROW(callbacks::ReduceLROnPlateau({.factor = 0.0}), ValueError);
}

TEST(LambdaCallback, CallOrderAndCounts) {
  // 10 rows, batch 4 -> 3 steps (4, 4, 2) per epoch, 2 epochs.
  Data d;
  Tensor x = d.x.rows(0, 10), y = d.y.rows(0, 10);
  auto m = linear_model(0.01, {"mae"});
  std::vector<std::string> events;
  std::vector<double> last_batch_loss, epoch_loss;
  auto cb = std::make_shared<LambdaCallback>();
  cb->train_begin = [&](const Logs&) { events.push_back("train_begin"); };
  cb->train_end = [&](const Logs&) { events.push_back("train_end"); };
  cb->epoch_begin = [&](int e, const Logs&) { events.push_back("epoch_begin " + std::to_string(e)); };
  cb->epoch_end = [&](int e, const Logs& l) {
    events.push_back("epoch_end " + std::to_string(e));
    EXPECT_TRUE(l.contains("loss") && l.contains("mae"));
    epoch_loss.push_back(l["loss"]);
  };
  cb->batch_begin = [&](int b, const Logs&) { events.push_back("batch_begin " + std::to_string(b)); };
  cb->batch_end = [&](int b, const Logs& l) {
    events.push_back("batch_end " + std::to_string(b));
    EXPECT_TRUE(l.contains("loss") && l.contains("mae"));
    if (b == 2) last_batch_loss.push_back(l["loss"]);
  };
  History h = m.fit(x, y, {.epochs = 2, .batch_size = 4, .callbacks = {cb}, .verbose = 0});
  std::vector<std::string> expected = {"train_begin"};
  for (int e = 0; e < 2; ++e) {
    expected.push_back("epoch_begin " + std::to_string(e));
    for (int b = 0; b < 3; ++b) {
      expected.push_back("batch_begin " + std::to_string(b));
      expected.push_back("batch_end " + std::to_string(b));
    }
    expected.push_back("epoch_end " + std::to_string(e));
  }
  expected.push_back("train_end");
  EXPECT_EQ(events, expected);
  // The last batch's running loss is the epoch's loss, and the history holds the same values.
  ASSERT_EQ(epoch_loss.size(), 2u);
  ASSERT_EQ(last_batch_loss.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    EXPECT_DOUBLE_EQ(last_batch_loss[e], epoch_loss[e]);
    EXPECT_DOUBLE_EQ(h["loss"][e], epoch_loss[e]);
  }
}

TEST(LambdaCallback, StopTrainingFromACallbackEndsAfterTheEpoch) {
  // Setting model().stop_training at the end of epoch 1 ends fit there.
  Data d;
  auto m = linear_model(0.01);
  auto cb = std::make_shared<LambdaCallback>();
  cb->epoch_end = [&](int e, const Logs&) {
    if (e == 1) cb->model().stop_training = true;
  };
  History h = m.fit(d.x, d.y, {.epochs = 10, .batch_size = 4, .callbacks = {cb}, .verbose = 0});
  EXPECT_EQ(h.epochs.size(), 2u);
}
