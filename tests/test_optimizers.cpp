// Optimizer update rules stepped by hand on one- or two-element tensors, against values worked out
// in the comments (Keras's formulas), plus clipping, Keras's defaults and schedules.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "myelin/error.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/schedules.hpp"

using namespace myelin;

namespace {

// Parameters are kept as float32: hand values computed in double match to about 1e-7 relative.
constexpr double kTol = 2e-6;

// One parameter tensor with its gradient, owned by the test.
struct Slot {
  Tensor w, g;
  Slot(std::vector<float> w0, std::vector<float> g0)
      : w(Shape{int64_t(w0.size())}, w0), g(Shape{int64_t(g0.size())}, g0) {}
  void set_grad(std::vector<float> g0) { g = Tensor(Shape{int64_t(g0.size())}, g0); }
};

std::vector<Param> params_of(std::vector<Slot*> slots) {
  std::vector<Param> out;
  for (Slot* s : slots) out.push_back({"p", &s->w, &s->g, nullptr});
  return out;
}

// Runs `opt` on a single scalar weight starting at w0 with the given gradient per step; returns w after each step.
std::vector<double> trajectory(Optimizer& opt, float w0, const std::vector<float>& grads) {
  Slot s({w0}, {0.f});
  std::vector<double> out;
  for (float g : grads) {
    s.set_grad({g});
    opt.apply(params_of({&s}));
    out.push_back(s.w[0]);
  }
  return out;
}

}  // namespace

TEST(SGD, PlainStep) {
  // w -= lr*g with lr = 0.1: [1, -2] - 0.1*[0.5, -1] = [0.95, -1.9]; a second step: [0.9, -1.8].
  optimizers::SGD opt(0.1);
  Slot s({1.f, -2.f}, {0.5f, -1.f});
  opt.apply(params_of({&s}));
  EXPECT_NEAR(s.w[0], 0.95, kTol);
  EXPECT_NEAR(s.w[1], -1.9, kTol);
  opt.apply(params_of({&s}));
  EXPECT_NEAR(s.w[0], 0.9, kTol);
  EXPECT_NEAR(s.w[1], -1.8, kTol);
  EXPECT_EQ(opt.iterations(), 2);
}

TEST(SGD, Momentum) {
  // lr 0.1, momentum 0.9, g = 1 every step, w0 = 1; m = 0.9 m - 0.1 g, w += m:
  // step 1: m = -0.1,                 w = 0.9
  // step 2: m = -0.09 - 0.1 = -0.19,  w = 0.71
  // step 3: m = -0.171 - 0.1 = -0.271, w = 0.439
  optimizers::SGD opt(0.1, 0.9);
  auto w = trajectory(opt, 1.f, {1.f, 1.f, 1.f});
  EXPECT_NEAR(w[0], 0.9, kTol);
  EXPECT_NEAR(w[1], 0.71, kTol);
  EXPECT_NEAR(w[2], 0.439, kTol);
}

TEST(SGD, Nesterov) {
  // Keras's Nesterov: m = 0.9 m - 0.1 g; w += 0.9 m - 0.1 g (with the new m). g = 1, w0 = 1:
  // step 1: m = -0.1,  w += -0.09 - 0.1 = -0.19   -> 0.81
  // step 2: m = -0.19, w += -0.171 - 0.1 = -0.271 -> 0.539
  optimizers::SGD opt(0.1, 0.9, true);
  auto w = trajectory(opt, 1.f, {1.f, 1.f});
  EXPECT_NEAR(w[0], 0.81, kTol);
  EXPECT_NEAR(w[1], 0.539, kTol);
}

TEST(SGD, RejectsBadArguments) {
  EXPECT_THROW(optimizers::SGD(0.1, 1.5), ValueError);
  EXPECT_THROW(optimizers::SGD(-0.1), ValueError);
}

TEST(Adam, TwoStepsKerasFormula) {
  // lr 0.1, b1 0.9, b2 0.999, eps 1e-7, w0 = 1, g = 0.5 then -1.
  // Keras: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); w -= lr_t * m / (sqrt(v) + eps).
  // t=1: m = 0.05, v = 0.001*0.25 = 2.5e-4, sqrt(v) = 0.0158113883,
  //      lr_t = 0.1*sqrt(0.001)/0.1 = 0.0316227766,
  //      step = 0.0316227766 * 0.05 / (0.0158113883 + 1e-7) = 0.0999993675 -> w = 0.9000006325
  // t=2: m = 0.045 - 0.1 = -0.055, v = 0.999*2.5e-4 + 0.001 = 1.24975e-3, sqrt(v) = 0.0353518033,
  //      lr_t = 0.1*sqrt(1-0.998001)/(1-0.81) = 0.0235316725,
  //      step = 0.0235316725 * -0.055 / (0.0353518033 + 1e-7) = -0.0366102491 -> w = 0.9366108816
  optimizers::Adam opt(0.1);
  auto w = trajectory(opt, 1.f, {0.5f, -1.f});
  EXPECT_NEAR(w[0], 0.9000006325, kTol);
  EXPECT_NEAR(w[1], 0.9366108816, kTol);
}

TEST(Adam, EpsilonIsAddedToSqrtVBeforeTheRate) {
  // A tiny gradient makes epsilon matter: g = 1e-6, lr 0.001, t = 1:
  // m = 1e-7, sqrt(v) = sqrt(0.001)*1e-6 = 3.16227766e-8, lr_t = 0.001*sqrt(0.001)/0.1 = 3.16227766e-4,
  // step = 3.16227766e-4 * 1e-7 / (3.16227766e-8 + 1e-7) = 2.40253073e-4.
  // (PyTorch's placement, eps added to the bias-corrected sqrt(v), would give 0.01 * 1e-7 / (1e-6 + 1e-7) = 9.09e-4.)
  optimizers::Adam opt(0.001);
  auto w = trajectory(opt, 0.f, {1e-6f});
  EXPECT_NEAR(w[0], -2.40253073e-4, 1e-8);  // float32 betas (1 - 0.999f = 0.99998713e-3) move it by ~5e-6 relative
}

TEST(Adam, MomentsDecayingPastTheNormalRangeBecomeZero) {
  // One step with g = 1e-30 gives m = 0.1 * 1e-30 = 1e-31 (v = 0.001 * 1e-60 underflows at once); then g = 0,
  // and m shrinks by 0.9 a step. Past FLT_MIN (1.18e-38, about 150 steps on) it must be exactly 0, never a
  // subnormal: x86 computes on those through a microcode assist (bench/README.md, "Subnormal moments in
  // the optimizer").
  optimizers::Adam opt(1e-3);
  Slot s({0.5f}, {1e-30f});
  opt.apply(params_of({&s}));
  const auto slots = opt.slots();
  ASSERT_EQ(slots.size(), 2u);
  ASSERT_EQ(slots[0].first, "0/m");
  const Tensor& m = *slots[0].second;
  EXPECT_NEAR(m[0], 1e-31, 1e-37);
  s.set_grad({0.f});
  bool reached_zero = false;
  for (int step = 0; step < 300; ++step) {
    opt.apply(params_of({&s}));
    ASSERT_NE(std::fpclassify(m[0]), FP_SUBNORMAL) << "step " << step << ": m = " << m[0];
    reached_zero = reached_zero || m[0] == 0.f;
  }
  EXPECT_TRUE(reached_zero);
  EXPECT_NEAR(s.w[0], 0.5, 1e-6);  // with v = 0 each step is alpha * m / epsilon, at most 1e-27
  // The caller's own arithmetic keeps its subnormals: the flush lasts only while the optimizer runs.
  volatile float tiny = 1e-30f, scale = 1e-10f;
  EXPECT_EQ(std::fpclassify(tiny * scale), FP_SUBNORMAL);
}

TEST(AdamW, DecoupledDecayBeforeAdam) {
  // lr 0.1, weight_decay 0.5, w0 = 1, g = 0.5 then -1. Each step first w -= lr*wd*w, then Adam's step
  // (the Adam steps are those of Adam.TwoStepsKerasFormula: 0.0999993675 and -0.0366102491).
  // t=1: w = 1 - 0.05 = 0.95;                   w = 0.95 - 0.0999993675 = 0.8500006325
  // t=2: w = 0.8500006325 * 0.95 = 0.8075006008; w = 0.8075006008 + 0.0366102491 = 0.8441108500
  optimizers::AdamW opt(0.1, 0.5);
  auto w = trajectory(opt, 1.f, {0.5f, -1.f});
  EXPECT_NEAR(w[0], 0.8500006325, kTol);
  EXPECT_NEAR(w[1], 0.8441108500, kTol);
}

TEST(AdamW, ZeroGradientOnlyDecays) {
  // g = 0: Adam's step is 0/(0 + eps) = 0, so only the decay acts: 2 * (1 - 0.01*0.1)^3.
  optimizers::AdamW opt(0.01, 0.1);
  auto w = trajectory(opt, 2.f, {0.f, 0.f, 0.f});
  EXPECT_NEAR(w[2], 2.0 * std::pow(0.999, 3), kTol);
}

TEST(RMSprop, KerasFormula) {
  // Keras 3: v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps). lr 0.01, rho 0.9, g = 2 twice, w0 = 1:
  // t=1: v = 0.4,               w = 1 - 0.02/sqrt(0.4000001) = 1 - 0.0316227727 = 0.9683772274
  // t=2: v = 0.36 + 0.4 = 0.76, w = 0.9683772274 - 0.02/sqrt(0.7600001) = 0.9683772274 - 0.0229415719 = 0.9454356555
  optimizers::RMSprop opt(0.01);
  auto w = trajectory(opt, 1.f, {2.f, 2.f});
  EXPECT_NEAR(w[0], 0.9683772274, kTol);
  EXPECT_NEAR(w[1], 0.9454356555, kTol);
}

TEST(Adagrad, AccumulatorStartsAtPointOne) {
  // a starts at 0.1; a += g^2; w -= lr g / sqrt(a + eps). lr 0.1, g = 1 twice, w0 = 1:
  // t=1: a = 1.1, w = 1 - 0.1/sqrt(1.1) = 1 - 0.0953462546 = 0.9046537454
  // t=2: a = 2.1, w = 0.9046537454 - 0.1/sqrt(2.1) = 0.9046537454 - 0.0690065543 = 0.8356471911
  // (an accumulator starting at 0 would give 1 - 0.1/1 = 0.9 after the first step.)
  optimizers::Adagrad opt(0.1);
  auto w = trajectory(opt, 1.f, {1.f, 1.f});
  EXPECT_NEAR(w[0], 0.9046537454, kTol);
  EXPECT_NEAR(w[1], 0.8356471911, kTol);
}

TEST(Clipping, ClipnormRescalesEachTensorOnItsOwn) {
  // clipnorm 1: g1 = [3, 4] (norm 5) becomes [0.6, 0.8]; g2 = [0.3] (norm 0.3 < 1) stays.
  // SGD lr 1 from zeros: w1 = [-0.6, -0.8], w2 = [-0.3].
  optimizers::SGD opt(1.0, 0.0, false, {.clipnorm = 1.0});
  Slot a({0.f, 0.f}, {3.f, 4.f}), b({0.f}, {0.3f});
  opt.apply(params_of({&a, &b}));
  EXPECT_NEAR(a.w[0], -0.6, kTol);
  EXPECT_NEAR(a.w[1], -0.8, kTol);
  EXPECT_NEAR(b.w[0], -0.3, kTol);
}

TEST(Clipping, ClipvalueClampsEachElement) {
  // clipvalue 0.5: [3, -4, 0.2] -> [0.5, -0.5, 0.2]; SGD lr 1 from zeros gives the negation.
  optimizers::SGD opt(1.0, 0.0, false, {.clipvalue = 0.5});
  Slot a({0.f, 0.f, 0.f}, {3.f, -4.f, 0.2f});
  opt.apply(params_of({&a}));
  EXPECT_NEAR(a.w[0], -0.5, kTol);
  EXPECT_NEAR(a.w[1], 0.5, kTol);
  EXPECT_NEAR(a.w[2], -0.2, kTol);
}

TEST(Clipping, GlobalClipnormScalesAllTensorsTogether) {
  // global_clipnorm 1: g1 = [3, 4], g2 = [12]; global norm sqrt(9 + 16 + 144) = 13, so every
  // gradient is divided by 13: w1 = -[3/13, 4/13], w2 = -[12/13].
  optimizers::SGD opt(1.0, 0.0, false, {.global_clipnorm = 1.0});
  Slot a({0.f, 0.f}, {3.f, 4.f}), b({0.f}, {12.f});
  opt.apply(params_of({&a, &b}));
  EXPECT_NEAR(a.w[0], -3.0 / 13, kTol);
  EXPECT_NEAR(a.w[1], -4.0 / 13, kTol);
  EXPECT_NEAR(b.w[0], -12.0 / 13, kTol);
}

TEST(Clipping, NormBelowThresholdIsUntouched) {
  optimizers::SGD opt(1.0, 0.0, false, {.clipnorm = 10.0, .global_clipnorm = 10.0});
  Slot a({0.f, 0.f}, {3.f, 4.f});
  opt.apply(params_of({&a}));
  EXPECT_NEAR(a.w[0], -3.0, kTol);
  EXPECT_NEAR(a.w[1], -4.0, kTol);
}

TEST(Optimizer, StateFollowsEachWeightWhenTheParameterListChanges) {
  // As when a layer is frozen and unfrozen: Adam over (a, b), then b alone, then (a, b) again. b's
  // moments carry on as if it had been trained alone all along; a starts again from fresh moments.
  Slot a({1.f, 1.f, 1.f}, {0.5f, 0.5f, 0.5f}), b({-1.f, -1.f}, {0.2f, -0.4f}), b_alone({-1.f, -1.f}, {0.2f, -0.4f});
  optimizers::Adam opt(0.1), reference(0.1);
  opt.apply(params_of({&a, &b}));
  reference.apply(params_of({&b_alone}));
  const std::vector<float> a_after_one = a.w.to_vector();
  opt.apply(params_of({&b}));
  reference.apply(params_of({&b_alone}));
  EXPECT_EQ(a.w.to_vector(), a_after_one);
  opt.apply(params_of({&a, &b}));
  reference.apply(params_of({&b_alone}));
  EXPECT_EQ(b.w.to_vector(), b_alone.w.to_vector());
  // a's first moment is one step's worth, (1 - beta_1) g = 0.05, not two steps' (0.095).
  const auto slots = opt.slots();
  ASSERT_EQ(slots.size(), 4u);
  EXPECT_EQ(slots[0].first, "0/m");
  EXPECT_FLOAT_EQ((*slots[0].second)[0], 0.1f * 0.5f);
  EXPECT_EQ(slots[1].first, "1/m");
  EXPECT_EQ(slots[1].second->to_vector(), reference.slots()[0].second->to_vector());
}

TEST(Optimizer, KerasDefaultsByName) {
  // Keras's default learning rates: SGD 0.01, the others 0.001.
  struct Case {
    const char* name;
    const char* keras_name;
    double lr;
  };
  for (const Case& c : {Case{"sgd", "SGD", 0.01}, Case{"adam", "Adam", 0.001}, Case{"adamw", "AdamW", 0.001},
                        Case{"rmsprop", "RMSprop", 0.001}, Case{"adagrad", "Adagrad", 0.001}}) {
    auto opt = optimizers::get(c.name);
    ASSERT_TRUE(opt) << c.name;
    EXPECT_EQ(opt->name(), c.keras_name);
    EXPECT_DOUBLE_EQ(opt->learning_rate(), c.lr) << c.name;
  }
  EXPECT_EQ(optimizers::get("Adam")->name(), "Adam");  // case-insensitive, as Keras
  EXPECT_THROW(optimizers::get("adamax_typo"), ValueError);
}

TEST(Optimizer, DefaultsMatchKerasHyperParameters) {
  // The optimizer by name must step exactly as one built with Keras's documented defaults spelled out:
  // Adam(1e-3, 0.9, 0.999, 1e-7), AdamW(1e-3, wd 0.004, ...), RMSprop(1e-3, rho 0.9, 1e-7),
  // Adagrad(1e-3, 0.1, 1e-7), SGD(0.01, momentum 0). Small and large gradients exercise epsilon and the betas.
  const std::vector<float> grads = {1e-6f, 0.5f, -2.f, 3e-5f, 1.f};
  std::vector<std::pair<std::shared_ptr<Optimizer>, std::shared_ptr<Optimizer>>> pairs = {
      {optimizers::get("adam"), std::make_shared<optimizers::Adam>(0.001, 0.9, 0.999, 1e-7)},
      {optimizers::get("adamw"), std::make_shared<optimizers::AdamW>(0.001, 0.004, 0.9, 0.999, 1e-7)},
      {optimizers::get("rmsprop"), std::make_shared<optimizers::RMSprop>(0.001, 0.9, 1e-7)},
      {optimizers::get("adagrad"), std::make_shared<optimizers::Adagrad>(0.001, 0.1, 1e-7)},
      {optimizers::get("sgd"), std::make_shared<optimizers::SGD>(0.01, 0.0, false)},
  };
  for (auto& [by_name, explicit_opt] : pairs) {
    auto a = trajectory(*by_name, 0.5f, grads);
    auto b = trajectory(*explicit_opt, 0.5f, grads);
    for (size_t i = 0; i < grads.size(); ++i) EXPECT_EQ(a[i], b[i]) << by_name->name() << " step " << i;
  }
}

TEST(Optimizer, ScheduleGivesTheRateOfEachStep) {
  // PiecewiseConstantDecay({1}, {1.0, 0.5}): steps 0 and 1 use 1.0, step 2 uses 0.5.
  // SGD with g = 1 from 0: w = -1, -2, -2.5.
  optimizers::SGD opt(123.0);  // the constant rate is ignored once a schedule is set
  opt.set_schedule(std::make_shared<schedules::PiecewiseConstantDecay>(std::vector<int64_t>{1},
                                                                      std::vector<double>{1.0, 0.5}));
  EXPECT_DOUBLE_EQ(opt.learning_rate(), 1.0);
  auto w = trajectory(opt, 0.f, {1.f, 1.f, 1.f});
  EXPECT_NEAR(w[0], -1.0, kTol);
  EXPECT_NEAR(w[1], -2.0, kTol);
  EXPECT_NEAR(w[2], -2.5, kTol);
  EXPECT_DOUBLE_EQ(opt.learning_rate(), 0.5);  // the rate of step 3
}

TEST(Optimizer, ExponentialScheduleInSGD) {
  // ExponentialDecay(1, 1, 0.5): rates 1, 0.5, 0.25 at steps 0, 1, 2; g = 1: w = -1, -1.5, -1.75.
  optimizers::SGD opt(0.01);
  opt.set_schedule(std::make_shared<schedules::ExponentialDecay>(1.0, 1, 0.5));
  auto w = trajectory(opt, 0.f, {1.f, 1.f, 1.f});
  EXPECT_NEAR(w[0], -1.0, kTol);
  EXPECT_NEAR(w[1], -1.5, kTol);
  EXPECT_NEAR(w[2], -1.75, kTol);
  EXPECT_DOUBLE_EQ(opt.learning_rate(), 0.125);
  // A constant rate replaces the schedule (as ReduceLROnPlateau does).
  opt.set_learning_rate(0.2);
  EXPECT_DOUBLE_EQ(opt.learning_rate(), 0.2);
}

TEST(Optimizer, ScheduleStepCountsInAdamBiasCorrection) {
  // Adam with a constant schedule equal to lr must step exactly as plain Adam: the schedule changes
  // the rate only, not the step count t used in bias correction.
  optimizers::Adam plain(0.05), scheduled(0.9);
  scheduled.set_schedule(std::make_shared<schedules::PiecewiseConstantDecay>(std::vector<int64_t>{},
                                                                            std::vector<double>{0.05}));
  auto a = trajectory(plain, 1.f, {0.3f, -0.2f, 0.7f});
  auto b = trajectory(scheduled, 1.f, {0.3f, -0.2f, 0.7f});
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
}

TEST(OptimizerArg, SharedDerivedOptimizerIsKeptNotCopied) {
  // compile(std::make_shared<Adam>(...)) hands over that very object, so a schedule set on it
  // afterwards (or its state) is what the model uses.
  auto adam = std::make_shared<myelin::optimizers::Adam>(0.01);
  const myelin::OptimizerArg arg(adam);
  EXPECT_EQ(arg.get().get(), adam.get());
  adam->set_schedule(std::make_shared<myelin::schedules::CosineDecay>(0.01, 10));
  EXPECT_TRUE(arg.get()->has_schedule());
}
