// Frozen layers (Layer::set_trainable(false)): weights unchanged bit for bit by fit, reported as
// non-trainable, backward stopping at a frozen prefix but passing through a frozen middle layer,
// BatchNormalization in inference mode, changes after compile taken up by the next fit, and the
// flag saved with the model. (The optimizer's state across such changes: test_optimizers.cpp.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "myelin/myelin.hpp"

using namespace myelin;

namespace {

// A Dense layer that records how its backward was used.
class SpyDense : public layers::Dense {
 public:
  using layers::Dense::Dense;
  const Tensor& backward(const Tensor& dy) override {
    ++backward_calls;
    const Tensor& dx = layers::Dense::backward(dy);
    returned_input_grad = dx.size() > 0;
    return dx;
  }
  int backward_calls = 0;
  bool returned_input_grad = false;
};

struct Data {
  Tensor x{Shape{48, 5}}, y{Shape{48, 2}};
  Data() {
    Rng r(3);
    for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
    for (int64_t i = 0; i < 48; ++i) {
      y.at(i, 0) = x.at(i, 0) - x.at(i, 3);
      y.at(i, 1) = x.at(i, 1) * x.at(i, 2);
    }
  }
};

Sequential seeded_model() {
  set_random_seed(11);  // before the model draws its own seed: every Mlp starts from the same weights
  return Sequential();
}

// A 3-layer MLP of spies: 5 -> 8 -> 6 -> 2.
struct Mlp {
  std::shared_ptr<SpyDense> l0 = std::make_shared<SpyDense>(8, "relu", Shape{5});
  std::shared_ptr<SpyDense> l1 = std::make_shared<SpyDense>(6, "tanh");
  std::shared_ptr<SpyDense> l2 = std::make_shared<SpyDense>(2);
  Sequential model = seeded_model();
  Mlp() {
    model.add(l0);
    model.add(l1);
    model.add(l2);
    model.build();
  }
};

std::vector<std::vector<float>> values(Layer& l) {
  std::vector<std::vector<float>> v;
  for (const auto& p : l.params()) v.push_back(p.value->to_vector());
  return v;
}

// The summary's "<label>: N" line as N.
int64_t summary_count(Sequential& m, const std::string& label) {
  const std::string s = m.summary_string();
  const size_t at = s.find("\n" + label + ": ");
  if (at == std::string::npos) return -1;
  std::string digits;
  for (size_t i = at + label.size() + 3; i < s.size() && s[i] != '\n'; ++i)
    if (s[i] != ',') digits += s[i];
  return std::stoll(digits);
}

}  // namespace

TEST(FrozenLayers, TrainableIsAFlagOfEveryLayerSavedInItsConfig) {
  layers::Dense d(3, "relu", Shape{4});
  EXPECT_TRUE(d.trainable());
  EXPECT_EQ(d.get_config()["trainable"], true);
  d.set_trainable(false);
  EXPECT_FALSE(d.trainable());
  EXPECT_EQ(d.get_config()["trainable"], false);
  auto back = layers::from_config("Dense", d.get_config());
  EXPECT_FALSE(back->trainable());
  auto flat = layers::from_config("Flatten", {{"trainable", false}});
  EXPECT_FALSE(flat->trainable());
  EXPECT_TRUE(layers::from_config("Flatten", nlohmann::json::object())->trainable());
  EXPECT_THROW(layers::from_config("Flatten", {{"trainable", "no"}}), ValueError);
}

TEST(FrozenLayers, AFrozenLayersWeightsAreNonTrainableWithoutGradients) {
  Mlp m;
  m.l1->set_trainable(false);
  for (const auto& p : m.l1->params()) {
    EXPECT_FALSE(p.trainable) << p.name;
    EXPECT_EQ(p.grad, nullptr) << p.name;
  }
  EXPECT_EQ(m.l1->count_params(/*trainable_only=*/true), 0);
  EXPECT_EQ(m.l1->count_params(), 8 * 6 + 6);
  // The model's lists and summary follow at once.
  const int64_t frozen = 8 * 6 + 6, trained = 5 * 8 + 8 + 6 * 2 + 2;
  EXPECT_EQ(m.model.parameters().size(), 4u);
  EXPECT_EQ(m.model.weights().size(), 6u);
  EXPECT_EQ(m.model.count_params(), frozen + trained);
  EXPECT_EQ(summary_count(m.model, "Total params"), frozen + trained);
  EXPECT_EQ(summary_count(m.model, "Trainable params"), trained);
  EXPECT_EQ(summary_count(m.model, "Non-trainable params"), frozen);
  m.l1->set_trainable(true);
  EXPECT_EQ(summary_count(m.model, "Non-trainable params"), 0);
  EXPECT_EQ(m.model.parameters().size(), 6u);
}

TEST(FrozenLayers, AFrozenFirstLayerIsUnchangedBitForBitAndBackwardNeverReachesIt) {
  Data d;
  Mlp m;
  m.l0->set_trainable(false);
  m.model.compile(optimizers::Adam(1e-2), "mse");
  const auto first = values(*m.l0), second = values(*m.l1), last = values(*m.l2);
  m.model.fit(d.x, d.y, {.epochs = 3, .batch_size = 16, .verbose = 0});
  EXPECT_EQ(values(*m.l0), first);
  EXPECT_NE(values(*m.l1), second);
  EXPECT_NE(values(*m.l2), last);
  // The frozen prefix is skipped: layer 0 never runs backward, and layer 1 computes no input gradient.
  EXPECT_EQ(m.l0->backward_calls, 0);
  EXPECT_EQ(m.l1->backward_calls, 9);
  EXPECT_FALSE(m.l1->returned_input_grad);
}

TEST(FrozenLayers, AFrozenMiddleLayerStillPassesGradientsToTheLayersBelow) {
  Data d;
  Mlp m;
  m.l1->set_trainable(false);
  m.model.compile(optimizers::SGD(0.05, 0.9), "mse");
  const auto first = values(*m.l0), second = values(*m.l1), last = values(*m.l2);
  m.model.fit(d.x, d.y, {.epochs = 3, .batch_size = 16, .verbose = 0});
  EXPECT_NE(values(*m.l0), first);
  EXPECT_EQ(values(*m.l1), second);
  EXPECT_NE(values(*m.l2), last);
  EXPECT_EQ(m.l1->backward_calls, 9);
  EXPECT_TRUE(m.l1->returned_input_grad);
  EXPECT_FALSE(m.l0->returned_input_grad);
}

TEST(FrozenLayers, AFrozenMiddleLayerGivesTheSameGradientsBelowAsATrainableOne) {
  // Freezing changes which weights move, not the gradients that reach the others: one step of
  // plain SGD moves layer 0 identically whether layer 1 is frozen or not.
  Data d;
  Mlp a, b;
  b.l1->set_trainable(false);
  a.model.compile(optimizers::SGD(0.1), "mse");
  b.model.compile(optimizers::SGD(0.1), "mse");
  a.model.train_on_batch(d.x, d.y);
  b.model.train_on_batch(d.x, d.y);
  EXPECT_EQ(values(*a.l0), values(*b.l0));
  EXPECT_EQ(values(*a.l2), values(*b.l2));
  EXPECT_NE(values(*a.l1), values(*b.l1));
}

TEST(FrozenLayers, FreezingAfterCompileTakesEffectAtTheNextFitAndUnfreezingToo) {
  Data d;
  Mlp m;
  m.model.compile(optimizers::Adam(1e-2), "mse");
  m.model.fit(d.x, d.y, {.epochs = 1, .batch_size = 16, .verbose = 0});
  m.l0->set_trainable(false);
  const auto frozen = values(*m.l0), other = values(*m.l2);
  m.model.fit(d.x, d.y, {.epochs = 2, .batch_size = 16, .verbose = 0});
  EXPECT_EQ(values(*m.l0), frozen);
  EXPECT_NE(values(*m.l2), other);
  EXPECT_EQ(m.l0->backward_calls, 3);  // the first fit's three steps only
  m.l0->set_trainable(true);
  m.model.train_on_batch(d.x, d.y);
  EXPECT_NE(values(*m.l0), frozen);
  EXPECT_EQ(m.l0->backward_calls, 4);
}

TEST(FrozenLayers, AFrozenConvolutionPassesTheSameInputGradientWithoutWeightGradients) {
  // Both of the kernel's backward paths: a 3x3x1 patch (by GEMM) and a 3x3x8 patch (oneDNN).
  for (int64_t channels : {1, 8}) {
    SCOPED_TRACE("channels " + std::to_string(channels));
    Rng rng(5);
    layers::Conv2D trained(4, {3, 3}, "relu", {.input_shape = Shape{7, 7, channels}});
    layers::Conv2D frozen(4, {3, 3}, "relu", {.input_shape = Shape{7, 7, channels}});
    trained.build({7, 7, channels}, rng);
    frozen.build({7, 7, channels}, rng);
    frozen.kernel().copy_from(trained.kernel());
    frozen.bias().copy_from(trained.bias());
    frozen.set_trainable(false);
    Tensor x({3, 7, 7, channels}), dy({3, 5, 5, 4});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal(0, 1);
    for (int64_t i = 0; i < dy.size(); ++i) dy[i] = rng.normal(0, 1);
    trained.forward(x, true);
    const std::vector<float> dx = trained.backward(dy).to_vector();
    frozen.forward(x, true);
    EXPECT_EQ(frozen.backward(dy).to_vector(), dx);
    EXPECT_NE(dx, std::vector<float>(dx.size(), 0.f));
  }
}

TEST(FrozenLayers, AFrozenConvolutionalBaseKeepsItsWeightsWhileTheHeadTrains) {
  set_random_seed(4);
  auto base = std::make_shared<layers::Conv2D>(4, layers::Size2{3, 3}, "relu", layers::Conv2DOptions{.input_shape = Shape{6, 6, 2}});
  auto middle = std::make_shared<layers::Conv2D>(3, layers::Size2{3, 3}, "relu");
  auto head = std::make_shared<layers::Dense>(1);
  Sequential m({base, middle, layers::Flatten(), head});
  m.build();
  middle->set_trainable(false);
  m.compile("adam", "mse");
  Tensor x({16, 6, 6, 2}), y({16, 1});
  Rng r(8);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
  for (int64_t i = 0; i < 16; ++i) y[i] = x[i * 72];
  const auto b = values(*base), mid = values(*middle), h = values(*head);
  m.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0});
  EXPECT_NE(values(*base), b);
  EXPECT_EQ(values(*middle), mid);
  EXPECT_NE(values(*head), h);
}

TEST(FrozenLayers, AFrozenBatchNormalizationRunsInInferenceModeAndKeepsItsStatistics) {
  Rng rng(2);
  layers::BatchNormalization bn;
  bn.build({3}, rng);
  for (int c = 0; c < 3; ++c) {
    bn.gamma()[c] = 1.f + 0.5f * float(c);
    bn.beta()[c] = 0.1f * float(c);
    bn.moving_mean()[c] = 0.3f * float(c);
    bn.moving_variance()[c] = 0.5f + float(c);
  }
  Tensor x({10, 3});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal(2, 3);
  const std::vector<float> trained = bn.forward(x, true).to_vector();  // the batch's statistics
  bn.set_trainable(false);
  const std::vector<float> mean = bn.moving_mean().to_vector(), var = bn.moving_variance().to_vector();
  const std::vector<float> inference = bn.forward(x, false).to_vector();
  EXPECT_NE(trained, inference);
  EXPECT_EQ(bn.forward(x, true).to_vector(), inference);
  // Its input gradient is then dy * gamma / sqrt(moving_variance + epsilon).
  Tensor dy = Tensor::full({10, 3}, 1.f);
  const Tensor& dx = bn.backward(dy);
  for (int c = 0; c < 3; ++c)
    EXPECT_FLOAT_EQ(dx.at(4, c), bn.gamma()[c] / std::sqrt(var[size_t(c)] + 1e-3f));
  EXPECT_EQ(bn.moving_mean().to_vector(), mean);
  EXPECT_EQ(bn.moving_variance().to_vector(), var);

  // In a model: fit leaves all four of its weights as they were.
  set_random_seed(6);
  auto frozen = std::make_shared<layers::BatchNormalization>();
  Sequential m({layers::Dense(3, "linear", Shape{4}), frozen, layers::Dense(1)});
  m.build();
  frozen->moving_mean().fill(0.5f);
  frozen->set_trainable(false);
  m.compile("adam", "mse");
  Tensor xs({32, 4}), ys({32, 1});
  for (int64_t i = 0; i < xs.size(); ++i) xs[i] = rng.normal(1, 2);
  for (int64_t i = 0; i < 32; ++i) ys[i] = xs[i * 4];
  const auto before = values(*frozen);
  m.fit(xs, ys, {.epochs = 2, .batch_size = 8, .verbose = 0});
  EXPECT_EQ(values(*frozen), before);
}

TEST(FrozenLayers, ASavedModelKeepsItsFrozenLayersAndTheirNonTrainableCounts) {
  const auto dir = std::filesystem::temp_directory_path() / ("myelin_frozen_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "frozen.safetensors").string();
  Data d;
  Mlp m;
  m.l0->set_trainable(false);
  m.model.compile("adam", "mse");
  m.model.fit(d.x, d.y, {.epochs = 1, .batch_size = 16, .verbose = 0});
  m.model.save(path);
  Sequential back = load_model(path);
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(back.layers()[0]->trainable());
  EXPECT_TRUE(back.layers()[1]->trainable());
  EXPECT_EQ(summary_count(back, "Non-trainable params"), 5 * 8 + 8);
  // The loaded model goes on training with the first layer frozen.
  const auto first = values(*back.layers()[0]);
  back.fit(d.x, d.y, {.epochs = 1, .batch_size = 16, .verbose = 0});
  EXPECT_EQ(values(*back.layers()[0]), first);
}
