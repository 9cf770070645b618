// Numerics against PyTorch: the same MLPs, weights and batches give the same outputs, loss,
// gradients and optimizer steps as tests/pytorch/mlp_reference.py computes with torch (in float64).
//
// Tolerance: |myelin - torch| <= 1e-4 * max(|torch|, 1e-2 * max|torch tensor|). The relative part is
// the design's 1e-4; the floor, scaled to the largest entry of the same tensor, keeps entries that
// are sums cancelling to near zero (a gradient summed over a batch, a dead relu unit's exact 0)
// from demanding more than float32 can give: myelin computes in float32 (epsilon 6e-8), so such an
// entry carries an absolute error of a few units in the last place of the tensor's large entries,
// which the floor (1e-6 of the largest entry, about 16 such units) admits, while an error in any
// one term of a sum still shows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "reference_file.hpp"
#include "torch_reference.hpp"

namespace fs = std::filesystem;
using myelin::Sequential;
using myelin::Shape;
using myelin::Tensor;
namespace layers = myelin::layers;
namespace optimizers = myelin::optimizers;
using myelin::test::RefFile;
using myelin::test::RefTensor;

namespace {

// Checks every entry of `actual` against `ref` with the tolerance in the header comment, widened
// entry by entry by `extra` when given.
void expect_close(const std::vector<double>& actual, const RefTensor& ref, const std::string& what,
                  const std::vector<double>& extra = {}) {
  ASSERT_EQ(actual.size(), ref.values.size()) << what;
  double scale = 0;
  for (double r : ref.values) scale = std::max(scale, std::abs(r));
  int bad = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double tol = 1e-4 * std::max(std::abs(ref.values[i]), 1e-2 * scale) + (extra.empty() ? 0.0 : extra[i]);
    const double err = std::abs(actual[i] - ref.values[i]);
    if (!(err <= tol) && ++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: myelin " << actual[i] << ", torch " << ref.values[i] << ", error "
                    << err << " > " << tol;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << actual.size() << " entries out of tolerance";
}

// Tensors: the same tolerance, shared with the other PyTorch comparisons.
using myelin::test::expect_close;

class PyTorchReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new myelin::test::TorchReference("mlp_reference.py"); }
  static void TearDownTestSuite() {
    delete ref_;
    ref_ = nullptr;
  }
  void SetUp() override {
    if (!ref_->skip_reason().empty()) GTEST_SKIP() << ref_->skip_reason();
    ASSERT_EQ(ref_->error(), "");
  }
  static RefFile load(const std::string& name) { return ref_->load(name); }

  // Loads w0/*, checks predict() and evaluate(), then two train_on_batch steps: the gradients
  // (left in Param.grad by the first step, taken at the initial weights) and the weights after each
  // step. The updates (step - previous weights) are checked on their own too, since they are small
  // next to the weights and a weight-level tolerance alone would hide an error in them. A float32
  // weight holds its update only to its own resolution (half a unit in the last place, 6e-8 of the
  // weight), which the update's tolerance adds: with lr 0.01 and small gradients the update can be
  // 1e-5 of a weight near 0.3, where that resolution is 1e-3 of the update.
  static void check_model(Sequential& model, RefFile& ref) {
    const Tensor x = ref.at("x").to_tensor(), y = ref.at("y").to_tensor();
    auto params = model.parameters();
    std::vector<Tensor> w0;
    for (const auto& p : params) w0.push_back(ref.at("w0/" + p.name).to_tensor());
    model.set_weights(w0);

    expect_close(model.predict(x, int(x.rows())), ref.at("pred"), "predict");
    const double loss = model.evaluate(x, y, {.batch_size = int(x.rows())}).at("loss");
    expect_close(std::vector<double>{loss}, ref.at("loss"), "evaluate loss");

    std::vector<Tensor> before = w0;
    for (int step = 1; step <= 2; ++step) {
      const double batch_loss = model.train_on_batch(x, y);
      if (step == 1) {
        expect_close(std::vector<double>{batch_loss}, ref.at("loss"), "train_on_batch loss");
        for (const auto& p : params) expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name);
      }
      const std::string tag = "step" + std::to_string(step) + "/";
      for (size_t i = 0; i < params.size(); ++i) {
        const RefTensor& want = ref.at(tag + params[i].name);
        expect_close(*params[i].value, want, "weights " + tag + params[i].name);
        RefTensor want_delta = want;
        const RefTensor& prev = ref.at((step == 1 ? std::string("w0/") : std::string("step1/")) + params[i].name);
        std::vector<double> got_delta(want.values.size()), resolution(want.values.size());
        for (size_t k = 0; k < want.values.size(); ++k) {
          want_delta.values[k] = want.values[k] - prev.values[k];
          got_delta[k] = double((*params[i].value)[int64_t(k)]) - double(before[i][int64_t(k)]);
          resolution[k] = 0x1p-24 * (std::abs(want.values[k]) + std::abs(prev.values[k]));
        }
        // The update is held to 1e-4 for the first step, the one Adam step compared (the bar).
        // The second step's update also carries the first step's float32 rounding of the weights and
        // moments (measured: 3e-4 of an update of 1e-4), so only its weights are held to 1e-4.
        if (step == 1) expect_close(got_delta, want_delta, "update " + tag + params[i].name, resolution);
        before[i] = params[i].value->clone();
      }
    }
  }

  static inline myelin::test::TorchReference* ref_ = nullptr;
};

// 6 -> Dense 5 relu -> Dense 4 tanh -> Dense 3 softmax on 7 samples; sparse categorical
// cross-entropy (myelin fuses softmax into it, torch takes cross_entropy of the logits); Keras's Adam.
TEST_F(PyTorchReference, ClassifierAdam) {
  RefFile ref = load("classifier");
  ASSERT_FALSE(ref.empty());
  Sequential model({layers::Dense(5, "relu", Shape{6}), layers::Dense(4, "tanh"), layers::Dense(3, "softmax")});
  model.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy");
  check_model(model, ref);
}

// 13 -> Dense 10 relu -> Dense 1 on 9 samples; mean squared error; SGD with momentum 0.9.
TEST_F(PyTorchReference, RegressionSgdMomentum) {
  RefFile ref = load("regression");
  ASSERT_FALSE(ref.empty());
  Sequential model({layers::Dense(10, "relu", Shape{13}), layers::Dense(1)});
  model.compile(optimizers::SGD(0.01, 0.9), "mse");
  check_model(model, ref);
}

// Two inputs and two outputs (see two_by_two in the script): outputs, the loss of each output and
// their total under loss weights and sample weights, every gradient and one SGD step.
TEST_F(PyTorchReference, TwoInputsTwoOutputsWithLossAndSampleWeights) {
  RefFile ref = load("two_by_two");
  ASSERT_FALSE(ref.empty());
  auto a = layers::Input({4}, "a");
  auto b = layers::Input({3}, "b");
  auto h = layers::Dense(5, "tanh", {.name = "dense"})(layers::Concatenate()({a, b}));
  auto cls = layers::Dense(3, "softmax", {.name = "class"})(h);
  auto box = layers::Dense(2, "linear", {.name = "box"})(layers::Concatenate()({h, b}));
  myelin::Model model({a, b}, {cls, box});
  model.compile(optimizers::SGD(0.1), {{"class", "sparse_categorical_crossentropy"}, {"box", "mse"}},
                {.loss_weights = {{"class", 1.0}, {"box", 0.5}}});
  auto params = model.parameters();
  std::vector<Tensor> w0;
  for (const auto& p : params) w0.push_back(ref.at("w0/" + p.name).to_tensor());
  model.set_weights(w0);
  const Tensor xa = ref.at("a").to_tensor(), xb = ref.at("b").to_tensor();
  const Tensor y_class = ref.at("y_class").to_tensor(), y_box = ref.at("y_box").to_tensor(), sw = ref.at("sw").to_tensor();

  const auto pred = model.predict(std::vector<Tensor>{xa, xb});
  ASSERT_EQ(pred.size(), 2u);
  expect_close(pred[0], ref.at("pred_class"), "predict class");
  expect_close(pred[1], ref.at("pred_box"), "predict box");
  const auto logs = model.evaluate({xa, xb}, {y_class, y_box}, {.batch_size = 6, .sample_weight = sw});
  expect_close(std::vector<double>{logs.at("class_loss")}, ref.at("class_loss"), "class_loss");
  expect_close(std::vector<double>{logs.at("box_loss")}, ref.at("box_loss"), "box_loss");
  expect_close(std::vector<double>{logs.at("loss")}, ref.at("loss"), "loss");

  const double batch_loss = model.train_on_batch({{"b", xb}, {"a", xa}}, {y_class, y_box}, sw);
  expect_close(std::vector<double>{batch_loss}, ref.at("loss"), "train_on_batch loss");
  for (const auto& p : params) {
    expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name);
    expect_close(*p.value, ref.at("step1/" + p.name), "weights after one step, " + p.name);
  }
}

// A Multiply of a (None, 4, 3) tensor and a (None, 3) one, broadcast over the 4 rows (see
// broadcast_multiply in the script): outputs, loss, every gradient (the gate's summed over the rows)
// and one SGD step.
TEST_F(PyTorchReference, BroadcastMultiply) {
  RefFile ref = load("broadcast_multiply");
  ASSERT_FALSE(ref.empty());
  auto a = layers::Input({4, 3}, "a");
  auto g = layers::Input({2}, "g");
  auto u = layers::Dense(3, "tanh", {.name = "rows"})(a);
  auto v = layers::Dense(3, "linear", {.name = "gate"})(g);
  auto out = layers::Dense(2, "linear", {.name = "out"})(layers::Flatten()(layers::Multiply()({u, v})));
  myelin::Model model({a, g}, {out});
  model.compile(optimizers::SGD(0.1), "mse");
  auto params = model.parameters();
  std::vector<Tensor> w0;
  for (const auto& p : params) w0.push_back(ref.at("w0/" + p.name).to_tensor());
  model.set_weights(w0);
  const Tensor xa = ref.at("a").to_tensor(), xg = ref.at("g").to_tensor(), y = ref.at("y").to_tensor();

  const auto pred = model.predict(std::vector<Tensor>{xa, xg});
  ASSERT_EQ(pred.size(), 1u);
  expect_close(pred[0], ref.at("pred"), "predict");
  const double batch_loss = model.train_on_batch({xa, xg}, {y});
  expect_close(std::vector<double>{batch_loss}, ref.at("loss"), "train_on_batch loss");
  for (const auto& p : params) {
    expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name);
    expect_close(*p.value, ref.at("step1/" + p.name), "weights after one step, " + p.name);
  }
}

}  // namespace
