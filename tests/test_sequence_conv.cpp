// Sequence layers (Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
// GlobalAveragePooling1D, UpSampling1D): Keras's output lengths for every padding, forward cases
// worked by hand, gradients against central finite differences, outputs and gradients against
// PyTorch (tests/pytorch/sequence_reference.py) within 1e-4, configs and their round trip through
// the registry and a model file, and the errors bad arguments and shapes give.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "myelin/myelin.hpp"
#include "reference_file.hpp"
#include "torch_reference.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using namespace myelin::layers;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::RefFile;
using myelin::test::weighted_sum;

namespace {

Shape built(Layer&& layer, const Shape& in) {
  Rng rng(0);
  return layer.build(in, rng);
}

// Distinct values 0.05 apart in shuffled order: every max is unique by far more than the finite
// differences' step, so the winner stays put while one input moves.
Tensor distinct_tensor(const Shape& shape, Rng& rng) {
  Tensor t(shape);
  std::vector<int64_t> order(t.size());
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(order);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = 0.05f * float(order[i]) - 0.025f * float(t.size());
  return t;
}

// d(sum(y * w))/d(input) of a layer without weights, against finite differences.
void check_input_gradient(Layer& layer, const Shape& in, Rng& rng) {
  const Shape out = layer.build(in, rng);
  Tensor x = distinct_tensor(with_batch(2, in), rng);
  const Tensor w = random_tensor(with_batch(2, out), rng, -1, 1);
  auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };
  const Tensor num = numerical_gradient(loss, x, 1e-3);
  layer.forward(x, true);
  EXPECT_TRUE(gradients_close(layer.backward(w), num, 1e-3, 1e-2));
}

// A Conv1D's gradients for input, kernel and bias against finite differences, on a batch of 3.
void check_conv_gradients(Conv1D& layer, const Shape& in, Rng& rng) {
  const Shape out = layer.build(in, rng);
  Tensor x = random_tensor(with_batch(3, in), rng, -1, 1);
  const Tensor w = random_tensor(with_batch(3, out), rng, -1, 1);
  auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };
  const Tensor num_x = numerical_gradient(loss, x, 1e-2);
  const Tensor num_k = numerical_gradient(loss, layer.kernel(), 1e-2);
  Tensor num_b;
  if (layer.options().use_bias) num_b = numerical_gradient(loss, layer.bias(), 1e-2);
  layer.forward(x, true);
  EXPECT_TRUE(gradients_close(layer.backward(w), num_x, 2e-3, 1e-2)) << "input";
  const auto p = layer.params();
  EXPECT_TRUE(gradients_close(*p[0].grad, num_k, 2e-3, 1e-2)) << "kernel";
  if (layer.options().use_bias) {
    EXPECT_TRUE(gradients_close(*p[1].grad, num_b, 2e-3, 1e-2)) << "bias";
  }
}

// Conv1D with one input and one output channel, kernel values k and bias b.
Conv1D scalar_conv(std::vector<float> k, float b, Conv1DOptions o, int64_t steps) {
  Conv1D c(1, int64_t(k.size()), "linear", o);
  Rng rng(0);
  c.build({steps, 1}, rng);
  c.kernel().copy_from(Tensor({int64_t(k.size()), 1, 1}, k));
  c.bias().copy_from(Tensor({1}, {b}));
  return c;
}

}  // namespace

TEST(SequenceLayers, OutputShapesFollowKeras) {
  // valid: floor((steps - (k-1)*d - 1) / s) + 1
  EXPECT_EQ(built(Conv1D(8, 3), {10, 4}), (Shape{8, 8}));
  EXPECT_EQ(built(Conv1D(8, 3, "linear", {.strides = 2}), {10, 4}), (Shape{4, 8}));
  EXPECT_EQ(built(Conv1D(8, 3, "linear", {.dilation_rate = 3}), {10, 4}), (Shape{4, 8}));
  // same: ceil(steps / s)
  EXPECT_EQ(built(Conv1D(5, 4, "linear", {.padding = "same"}), {10, 2}), (Shape{10, 5}));
  EXPECT_EQ(built(Conv1D(5, 4, "linear", {.strides = 3, .padding = "same"}), {10, 2}), (Shape{4, 5}));
  // causal: (k-1)*d zeros in front, then valid: ceil(steps / s) as well
  EXPECT_EQ(built(Conv1D(5, 3, "linear", {.padding = "causal"}), {7, 2}), (Shape{7, 5}));
  EXPECT_EQ(built(Conv1D(5, 3, "linear", {.padding = "causal", .dilation_rate = 4}), {7, 2}), (Shape{7, 5}));
  EXPECT_EQ(built(Conv1D(5, 2, "linear", {.strides = 3, .padding = "causal"}), {11, 2}), (Shape{4, 5}));
  // A causal or same kernel longer than the sequence still gives an output.
  EXPECT_EQ(built(Conv1D(1, 9, "linear", {.padding = "causal"}), {3, 1}), (Shape{3, 1}));
  EXPECT_EQ(built(Conv1D(1, 9, "linear", {.padding = "same"}), {3, 1}), (Shape{3, 1}));

  EXPECT_EQ(built(MaxPooling1D(), {11, 3}), (Shape{5, 3}));
  EXPECT_EQ(built(MaxPooling1D(2, std::nullopt, "same"), {11, 3}), (Shape{6, 3}));
  EXPECT_EQ(built(AveragePooling1D(3, 1), {11, 3}), (Shape{9, 3}));
  EXPECT_EQ(built(AveragePooling1D(4, 3, "same"), {11, 3}), (Shape{4, 3}));
  EXPECT_EQ(built(GlobalAveragePooling1D(), {11, 3}), (Shape{3}));
  EXPECT_EQ(built(GlobalMaxPooling1D(true), {11, 3}), (Shape{1, 3}));
  EXPECT_EQ(built(UpSampling1D(), {11, 3}), (Shape{22, 3}));
  EXPECT_EQ(built(UpSampling1D(3), {4, 1}), (Shape{12, 1}));
}

// x = 1 2 3 4 (one channel), kernel (1, 10), bias 0.5: y_t = x_t + 10 x_{t+1} + 0.5 for 'valid';
// other paddings shift the same sums over zeros.
TEST(SequenceLayers, Conv1DForwardByHand) {
  const Tensor x({1, 4, 1}, {1, 2, 3, 4});
  EXPECT_EQ(scalar_conv({1, 10}, 0.5f, {}, 4).forward(x, false).to_vector(), (std::vector<float>{21.5f, 32.5f, 43.5f}));
  // causal: one zero in front, so y_0 = 0 * 1 + 1 * 10 + 0.5.
  EXPECT_EQ(scalar_conv({1, 10}, 0.5f, {.padding = "causal"}, 4).forward(x, false).to_vector(),
            (std::vector<float>{10.5f, 21.5f, 32.5f, 43.5f}));
  // same with an even kernel: Keras puts the one zero at the end, y_3 = 4 + 10 * 0 + 0.5.
  EXPECT_EQ(scalar_conv({1, 10}, 0.5f, {.padding = "same"}, 4).forward(x, false).to_vector(),
            (std::vector<float>{21.5f, 32.5f, 43.5f, 4.5f}));
  // causal with dilation 2: y_t = x_{t-2} + 10 x_t + 0.5, two zeros in front.
  EXPECT_EQ(scalar_conv({1, 10}, 0.5f, {.padding = "causal", .dilation_rate = 2}, 4).forward(x, false).to_vector(),
            (std::vector<float>{10.5f, 20.5f, 31.5f, 42.5f}));
  // stride 2, valid: windows (1, 2) and (3, 4).
  EXPECT_EQ(scalar_conv({1, 10}, 0.5f, {.strides = 2}, 4).forward(x, false).to_vector(),
            (std::vector<float>{21.5f, 43.5f}));
  // stride 2, causal: windows (0, 1) and (2, 3).
  EXPECT_EQ(scalar_conv({1, 10}, 0.5f, {.strides = 2, .padding = "causal"}, 4).forward(x, false).to_vector(),
            (std::vector<float>{10.5f, 32.5f}));

  // Keras's kernel layout {k, in, out}: with k = 1, y[t][f] = sum_c x[t][c] * kernel[0][c][f].
  // x = [[1, 2], [3, 4]], kernel [[1, 2], [3, 4]]: y[0] = [1 + 6, 2 + 8], y[1] = [3 + 12, 6 + 16].
  Conv1D c(2, 1, "linear", {.use_bias = false});
  Rng rng(0);
  c.build({2, 2}, rng);
  c.kernel().copy_from(Tensor({1, 2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(c.kernel().shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(c.forward(Tensor({1, 2, 2}, {1, 2, 3, 4}), false).to_vector(), (std::vector<float>{7, 10, 15, 22}));

  // relu applies after the bias: -x with kernel (1) and bias 2 gives max(2 - x, 0).
  Conv1D r(1, 1, "relu");
  r.build({4, 1}, rng);
  r.kernel().copy_from(Tensor({1, 1, 1}, {-1}));
  r.bias().copy_from(Tensor({1}, {2}));
  EXPECT_EQ(r.forward(x, false).to_vector(), (std::vector<float>{1, 0, 0, 0}));
}

// x = 1 3 2 5 4 (one channel).
TEST(SequenceLayers, PoolingAndUpSamplingForwardByHand) {
  Rng rng(0);
  const Tensor x({1, 5, 1}, {1, 3, 2, 5, 4});
  MaxPooling1D mp;
  mp.build({5, 1}, rng);
  EXPECT_EQ(mp.forward(x, false).to_vector(), (std::vector<float>{3, 5}));  // windows {1,3} {2,5}
  MaxPooling1D mps(2, std::nullopt, "same");
  mps.build({5, 1}, rng);
  EXPECT_EQ(mps.forward(x, false).to_vector(), (std::vector<float>{3, 5, 4}));  // and {4}, padding left out
  MaxPooling1D mp31(3, 1);
  mp31.build({5, 1}, rng);
  EXPECT_EQ(mp31.forward(x, false).to_vector(), (std::vector<float>{3, 5, 5}));
  // A negative sequence: the max of a padded window is still a value of the sequence, never a 0.
  EXPECT_EQ(mps.forward(x * -1.f, false).to_vector(), (std::vector<float>{-1, -2, -4}));
  AveragePooling1D ap;
  ap.build({5, 1}, rng);
  EXPECT_EQ(ap.forward(x, false).to_vector(), (std::vector<float>{2, 3.5f}));
  AveragePooling1D aps(2, 2, "same");
  aps.build({5, 1}, rng);
  EXPECT_EQ(aps.forward(x, false).to_vector(), (std::vector<float>{2, 3.5f, 4}));  // the last divides by 1

  // Two channels: channel 0 = 1 2 3, channel 1 = 6 9 3.
  const Tensor x2({1, 3, 2}, {1, 6, 2, 9, 3, 3});
  GlobalAveragePooling1D gap;
  gap.build({3, 2}, rng);
  EXPECT_EQ(gap.forward(x2, false).to_vector(), (std::vector<float>{2, 6}));
  GlobalMaxPooling1D gmp(true);
  gmp.build({3, 2}, rng);
  const Tensor& m = gmp.forward(x2, true);
  EXPECT_EQ(m.shape(), (Shape{1, 1, 2}));
  EXPECT_EQ(m.to_vector(), (std::vector<float>{3, 9}));
  EXPECT_EQ(gmp.backward(Tensor({1, 1, 2}, {5, 7})).to_vector(), (std::vector<float>{0, 0, 0, 7, 5, 0}));

  // UpSampling1D(2) repeats each step; its gradient sums the copies' gradients.
  UpSampling1D up;
  up.build({2, 2}, rng);
  EXPECT_EQ(up.forward(Tensor({1, 2, 2}, {1, 2, 3, 4}), true).to_vector(),
            (std::vector<float>{1, 2, 1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(up.backward(Tensor({1, 4, 2}, {1, 2, 3, 4, 5, 6, 7, 8})).to_vector(),
            (std::vector<float>{4, 6, 12, 14}));

  // Max pooling sends each gradient to its window's maximum; overlapping windows add up.
  mp31.forward(x, true);
  EXPECT_EQ(mp31.backward(Tensor({1, 3, 1}, {1, 2, 3})).to_vector(), (std::vector<float>{0, 1, 0, 5, 0}));
}

TEST(SequenceLayers, Conv1DGradientsMatchFiniteDifferences) {
  Rng rng(11);
  struct Case {
    const char* what;
    int64_t filters, kernel;
    const char* activation;
    Conv1DOptions options;
    Shape in;
  };
  const Case cases[] = {
      {"valid k3, 4 channels in, 5 out", 5, 3, "linear", {}, {9, 4}},
      {"same even kernel, stride 2, tanh", 3, 4, "tanh", {.strides = 2, .padding = "same"}, {10, 3}},
      {"causal, dilation 2, sigmoid", 4, 3, "sigmoid", {.padding = "causal", .dilation_rate = 2}, {8, 2}},
      {"causal, stride 3, no bias", 2, 2, "linear", {.strides = 3, .padding = "causal", .use_bias = false}, {11, 3}},
      {"same, dilation 3, one channel", 3, 3, "linear", {.padding = "same", .dilation_rate = 3}, {7, 1}},
      {"many channels (oneDNN's weight-gradient primitive)", 16, 3, "linear", {}, {12, 20}},
      // Windows mostly over padding: more padding than steps.
      {"same, kernel 5 over 3 steps", 2, 5, "linear", {.padding = "same"}, {3, 2}},
      {"causal, kernel 4 dilation 2 over 3 steps", 2, 4, "linear", {.padding = "causal", .dilation_rate = 2}, {3, 2}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Conv1D layer(c.filters, c.kernel, c.activation, c.options);
    check_conv_gradients(layer, c.in, rng);
  }
}

TEST(SequenceLayers, PoolingAndUpSamplingGradientsMatchFiniteDifferences) {
  Rng rng(9);
  const std::vector<std::pair<const char*, std::function<std::shared_ptr<Layer>()>>> cases = {
      {"max 2 valid", [] { return std::make_shared<MaxPooling1D>(); }},
      {"max 3 stride 2 same", [] { return std::make_shared<MaxPooling1D>(3, 2, "same"); }},
      {"average 2 same", [] { return std::make_shared<AveragePooling1D>(2, 2, "same"); }},
      {"average 4 stride 3 same", [] { return std::make_shared<AveragePooling1D>(4, 3, "same"); }},
      {"average 3 stride 1 valid", [] { return std::make_shared<AveragePooling1D>(3, 1); }},
      {"global average", [] { return std::make_shared<GlobalAveragePooling1D>(); }},
      {"global max, keepdims", [] { return std::make_shared<GlobalMaxPooling1D>(true); }},
      {"up-sampling 3", [] { return std::make_shared<UpSampling1D>(3); }},
  };
  for (const auto& [what, make] : cases) {
    SCOPED_TRACE(what);
    for (const Shape& in : {Shape{9, 3}, Shape{8, 1}, Shape{7, 16}}) {
      auto layer = make();
      check_input_gradient(*layer, in, rng);
    }
  }
}

TEST(SequenceLayers, ConfigsHaveKerasKeysAndRoundTripThroughTheRegistry) {
  const auto conv = Conv1D(8, 5, "relu", {.padding = "causal", .dilation_rate = 2, .use_bias = false,
                                           .kernel_regularizer = regularizers::L2(1e-3)})
                        .get_config();
  EXPECT_EQ(conv["filters"], 8);
  EXPECT_EQ(conv["kernel_size"], nlohmann::json::array({5}));  // Keras 3's 1-tuples
  EXPECT_EQ(conv["strides"], nlohmann::json::array({1}));
  EXPECT_EQ(conv["dilation_rate"], nlohmann::json::array({2}));
  EXPECT_EQ(conv["padding"], "causal");
  EXPECT_EQ(conv["data_format"], "channels_last");
  EXPECT_EQ(conv["activation"], "relu");
  EXPECT_EQ(conv["use_bias"], false);
  const auto pool = MaxPooling1D(3).get_config();
  EXPECT_EQ(pool["pool_size"], nlohmann::json::array({3}));
  EXPECT_EQ(pool["strides"], nlohmann::json::array({3}));  // default: the pool size
  EXPECT_EQ(pool["padding"], "valid");
  EXPECT_EQ(GlobalAveragePooling1D(true).get_config()["keepdims"], true);
  EXPECT_EQ(UpSampling1D(4).get_config()["size"], 4);

  std::vector<std::shared_ptr<Layer>> all = {
      std::make_shared<Conv1D>(8, 5, "relu", Conv1DOptions{.padding = "causal", .dilation_rate = 2, .use_bias = false,
                                                           .kernel_regularizer = regularizers::L2(1e-3)}),
      std::make_shared<Conv1D>(3, 2, "tanh", Conv1DOptions{.input_shape = Shape{7, 2}, .strides = 2, .padding = "same"}),
      std::make_shared<MaxPooling1D>(3, 1, "same"),
      std::make_shared<AveragePooling1D>(4),
      std::make_shared<GlobalAveragePooling1D>(),
      std::make_shared<GlobalMaxPooling1D>(true),
      std::make_shared<UpSampling1D>(3),
  };
  for (const auto& layer : all) {
    SCOPED_TRACE(layer->class_name());
    layer->set_name("seq");
    const auto config = layer->get_config();
    const auto again = from_config(layer->class_name(), config);
    EXPECT_EQ(again->class_name(), layer->class_name());
    EXPECT_EQ(again->get_config(), config);
  }

  // Sizes written as plain numbers (Keras 2, hand-written configs) read the same.
  const auto c = from_config("Conv1D", {{"filters", 4}, {"kernel_size", 3}, {"strides", 2}, {"padding", "same"}});
  EXPECT_EQ(c->get_config()["kernel_size"], nlohmann::json::array({3}));
  EXPECT_EQ(c->get_config()["strides"], nlohmann::json::array({2}));
  const auto p = from_config("AveragePooling1D", {{"pool_size", 3}, {"strides", nullptr}});
  EXPECT_EQ(p->get_config()["strides"], nlohmann::json::array({3}));
}

TEST(SequenceLayers, BadArgumentsAreRefusedNamingTheLayer) {
  expect_error<ValueError>([] { Conv1D(0, 3); }, {"Conv1D", "filters", "0"});
  expect_error<ValueError>([] { Conv1D(4, 0); }, {"Conv1D", "kernel_size"});
  expect_error<ValueError>([] { Conv1D(4, 3, "linear", {.strides = -1}); }, {"Conv1D", "strides", "-1"});
  expect_error<ValueError>([] { Conv1D(4, 3, "linear", {.dilation_rate = 0}); }, {"Conv1D", "dilation_rate"});
  expect_error<ValueError>([] { Conv1D(4, 3, "linear", {.padding = "full", .name = "c1"}); },
                           {"Conv1D 'c1'", "padding", "'full'", "causal"});
  expect_error<ValueError>([] { Conv1D(4, 3, "linear", {.strides = 2, .dilation_rate = 2}); },
                           {"Conv1D", "strides", "dilation_rate"});
  expect_error<ValueError>([] { Conv1D(4, 3, "no_such_activation"); }, {"no_such_activation"});
  expect_error<ValueError>([] { MaxPooling1D(0); }, {"MaxPooling1D", "pool_size"});
  expect_error<ValueError>([] { AveragePooling1D(2, 0); }, {"AveragePooling1D", "strides"});
  expect_error<ValueError>([] { MaxPooling1D(2, 2, "causal"); }, {"MaxPooling1D", "padding", "'causal'"});
  expect_error<ValueError>([] { UpSampling1D(0); }, {"UpSampling1D", "size"});

  // Configs Keras could write but myelin does not compute, and malformed ones.
  expect_error<ValueError>([] { from_config("Conv1D", {{"filters", 4}, {"kernel_size", {3, 3}}, {"name", "c"}}); },
                           {"Conv1D 'c'", "kernel_size", "[3,3]"});
  expect_error<ValueError>(
      [] { from_config("Conv1D", {{"filters", 4}, {"kernel_size", 3}, {"data_format", "channels_first"}}); },
      {"Conv1D", "channels_first"});
  expect_error<ValueError>([] { from_config("Conv1D", {{"filters", 4}, {"kernel_size", 3}, {"groups", 2}}); },
                           {"Conv1D", "groups"});
  expect_error<ValueError>([] { from_config("Conv1D", {{"filters", 4}}); }, {"Conv1D", "kernel_size"});
  expect_error<ValueError>([] { from_config("MaxPooling1D", {{"pool_size", "two"}}); }, {"MaxPooling1D", "pool_size"});
}

TEST(SequenceLayers, BadShapesAreRefusedNamingTheLayerAndTheShape) {
  Rng rng(0);
  Conv1D conv(4, 3, "linear", {.name = "conv"});
  expect_error<ShapeError>([&] { conv.build({8, 8, 3}, rng); }, {"Conv1D 'conv'", "(steps, channels)", "(8, 8, 3)"});
  expect_error<ShapeError>([&] { conv.build({8}, rng); }, {"Conv1D 'conv'", "(8,)"});
  // 'valid' with a kernel longer than the (dilated) sequence.
  Conv1D wide(4, 3, "linear", {.dilation_rate = 3, .name = "wide"});
  expect_error<ShapeError>([&] { wide.build({6, 2}, rng); }, {"Conv1D 'wide'", "(6, 2)", "7 steps"});
  MaxPooling1D mp(4, std::nullopt, "valid");
  mp.set_name("pool");
  expect_error<ShapeError>([&] { mp.build({3, 2}, rng); }, {"MaxPooling1D 'pool'", "(3, 2)"});
  expect_error<ShapeError>([&] { mp.build({3, 2, 1}, rng); }, {"MaxPooling1D 'pool'", "(3, 2, 1)"});
  GlobalAveragePooling1D gap;
  expect_error<ShapeError>([&] { gap.build({28, 28, 1}, rng); }, {"GlobalAveragePooling1D", "(28, 28, 1)"});
  UpSampling1D up;
  expect_error<ShapeError>([&] { up.build({5}, rng); }, {"UpSampling1D needs", "(5,)"});

  // Sizes from a hostile file: refused, never wrapped around into a small allocation.
  const auto huge = from_config("Conv1D", {{"filters", 4}, {"kernel_size", 3}, {"padding", "causal"},
                                           {"dilation_rate", int64_t(1) << 62}});
  expect_error<ShapeError>([&] { huge->build({8, 2}, rng); }, {"Conv1D", "too large"});
  const auto wide_filters = from_config("Conv1D", {{"filters", int64_t(1) << 40}, {"kernel_size", int64_t(1) << 30}, {"padding", "same"}});
  expect_error<ShapeError>([&] { wide_filters->plan({8, 2}); }, {"more elements"});
  const auto tall = from_config("UpSampling1D", {{"size", int64_t(1) << 62}});
  expect_error<ShapeError>([&] { tall->plan({8, 2}); }, {"more elements"});

  // In a model: the third layer's input (None, 2, 4) is too short for its kernel of 3.
  Sequential model({Conv1D(4, 3, "relu", Shape{7, 2}), MaxPooling1D(), Conv1D(4, 3)});
  expect_error<ShapeError>([&] { model.build(); }, {"conv1d_1", "(None, 2, 4)"});
  // Images where sequences belong.
  Sequential images({Conv1D(4, 3, "relu", Shape{8, 8, 1})});
  expect_error<ShapeError>([&] { images.build(); }, {"conv1d", "(None, 8, 8, 1)"});
  // Data of the wrong shape for a built model.
  Sequential seq({Conv1D(4, 3, "relu", Shape{8, 2}), GlobalMaxPooling1D(), Dense(1)});
  seq.compile("adam", "mse");
  expect_error<ShapeError>([&] { seq.fit(Tensor({4, 8, 3}), Tensor({4, 1}), {.epochs = 1, .verbose = 0}); },
                           {"(4, 8, 3)", "(None, 8, 2)"});
}

// A whole sequence model in a file and back: the same JSON, weights in Keras's layout under Keras's
// names, the same predictions, bit for bit; and the summary's rows.
TEST(SequenceLayers, ModelSavesLoadsAndSummarises) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_seq_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  set_random_seed(5);
  Sequential m({Conv1D(6, 3, "relu", {.input_shape = Shape{12, 2}, .padding = "causal", .dilation_rate = 2}),
                MaxPooling1D(), Conv1D(5, 4, "tanh", {.strides = 2, .padding = "same"}), UpSampling1D(2),
                AveragePooling1D(3, 1, "same"), GlobalMaxPooling1D(), Dense(3, "softmax")});
  m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  Tensor x({8, 12, 2}), y({8, 1});
  Rng r(3);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
  for (int64_t i = 0; i < 8; ++i) y[i] = float(i % 3);
  m.fit(x, y, {.epochs = 2, .batch_size = 4, .verbose = 0});

  const std::string file = (dir / "seq.safetensors").string();
  m.save(file);
  Sequential loaded = load_model(file);
  EXPECT_EQ(loaded.to_json(), m.to_json());
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());
  bool found = false;
  for (const auto& p : loaded.weights())
    if (p.name == "conv1d/kernel") {
      EXPECT_EQ(p.value->shape(), (Shape{3, 2, 6}));  // {kernel_size, in_channels, filters}
      found = true;
    }
  EXPECT_TRUE(found);
  // Training goes on from the file as it would have from the model.
  m.fit(x, y, {.epochs = 1, .batch_size = 4, .verbose = 0, .seed = 2});
  loaded.fit(x, y, {.epochs = 1, .batch_size = 4, .verbose = 0, .seed = 2});
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());

  const std::string summary = m.summary_string();
  for (const char* row : {"conv1d (Conv1D)", "(None, 12, 6)", "max_pooling1d (MaxPooling1D)", "(None, 6, 6)",
                          "conv1d_1 (Conv1D)", "(None, 3, 5)", "up_sampling1d (UpSampling1D)", "(None, 6, 5)",
                          "average_pooling1d (AveragePooling1D)", "global_max_pooling1d (GlobalMaxPooling1D)",
                          "(None, 5)"})
    EXPECT_NE(summary.find(row), std::string::npos) << row << " missing from:\n" << summary;
  // Parameters: 3*2*6 + 6 = 42 and 4*6*5 + 5 = 125 and 5*3 + 3 = 18.
  EXPECT_NE(summary.find("Total params: 185"), std::string::npos) << summary;
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Against PyTorch: tests/pytorch/sequence_reference.py writes the reference in float64 from the
// same float32 inputs and weights. Tolerance as tests/test_pytorch_conv.cpp: |myelin - torch| <=
// 1e-4 * max(|torch|, 1e-2 * max|torch tensor|).

namespace {

using myelin::test::expect_close;

class SequencePyTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new test::TorchReference("sequence_reference.py"); }
  static void TearDownTestSuite() {
    delete ref_;
    ref_ = nullptr;
  }
  void SetUp() override {
    if (!ref_->skip_reason().empty()) GTEST_SKIP() << ref_->skip_reason();
    ASSERT_EQ(ref_->error(), "");
  }
  static RefFile load(const std::string& name) { return ref_->load(name); }
  // Forward with training=true, then backward of the upstream gradient w.
  static void check_layer(Layer& layer, const RefFile& ref, const std::string& what) {
    const Shape xs = ref.at("x").shape;
    Rng rng(0);
    if (!layer.built()) layer.build(Shape(xs.begin() + 1, xs.end()), rng);
    expect_close(layer.forward(ref.at("x").to_tensor(), true), ref.at("y"), what + " forward");
    expect_close(layer.backward(ref.at("w").to_tensor()), ref.at("dx"), what + " input gradient");
  }

  static inline test::TorchReference* ref_ = nullptr;
};

}  // namespace

TEST_F(SequencePyTorch, Conv1DForwardAndGradients) {
  struct Spec {
    const char* file;
    const char* activation;
    Conv1DOptions options;
  };
  const Spec specs[] = {
      {"conv1d_valid_k3", "linear", {}},
      {"conv1d_same_even_stride2", "relu", {.strides = 2, .padding = "same"}},
      {"conv1d_causal_dilated", "tanh", {.padding = "causal", .dilation_rate = 2}},
      {"conv1d_causal_stride3", "linear", {.strides = 3, .padding = "causal", .use_bias = false}},
      {"conv1d_same_dilated_one_channel", "relu", {.padding = "same", .dilation_rate = 3}},
      {"conv1d_many_channels", "linear", {}},
  };
  for (const auto& s : specs) {
    SCOPED_TRACE(s.file);
    const RefFile ref = load(s.file);
    const Shape ks = ref.at("kernel").shape;  // {k, in, out}
    Conv1D layer(ks[2], ks[0], s.activation, s.options);
    Rng rng(0);
    const Shape xs = ref.at("x").shape;
    layer.build({xs[1], xs[2]}, rng);
    layer.kernel().copy_from(ref.at("kernel").to_tensor());
    if (s.options.use_bias) layer.bias().copy_from(ref.at("bias").to_tensor());
    check_layer(layer, ref, s.file);
    const auto p = layer.params();
    expect_close(*p[0].grad, ref.at("dkernel"), std::string(s.file) + " kernel gradient");
    if (s.options.use_bias) expect_close(*p[1].grad, ref.at("dbias"), std::string(s.file) + " bias gradient");
  }
}

TEST_F(SequencePyTorch, PoolingAndUpSamplingForwardAndGradients) {
  {
    MaxPooling1D l;
    check_layer(l, load("max1d_valid_2"), "max valid");
  }
  {
    MaxPooling1D l(3, 2, "same");
    check_layer(l, load("max1d_same_3_stride2"), "max same");
  }
  {
    AveragePooling1D l(2, 2, "same");
    check_layer(l, load("avg1d_same_2"), "average same");
  }
  {
    AveragePooling1D l(3, 1);
    check_layer(l, load("avg1d_valid_3_stride1"), "average valid");
  }
  {
    AveragePooling1D l(4, 3, "same");
    check_layer(l, load("avg1d_same_4_stride3"), "average same stride 3");
  }
  {
    UpSampling1D l(3);
    check_layer(l, load("upsampling1d_3"), "up-sampling");
  }
  {
    const RefFile ref = load("global1d");
    const Tensor x = ref.at("x").to_tensor();
    Rng rng(0);
    GlobalAveragePooling1D ga;
    ga.build({x.dim(1), x.dim(2)}, rng);
    expect_close(ga.forward(x, true), ref.at("ya"), "global average");
    expect_close(ga.backward(ref.at("wa").to_tensor()), ref.at("dxa"), "global average gradient");
    GlobalMaxPooling1D gm;
    gm.build({x.dim(1), x.dim(2)}, rng);
    expect_close(gm.forward(x, true), ref.at("ym"), "global max");
    expect_close(gm.backward(ref.at("wm").to_tensor()), ref.at("dxm"), "global max gradient");
  }
}

// A whole model through fit's machinery: causal dilated Conv1D with relu (whose backward the max
// pooling above it takes over), a strided 'same' Conv1D with an even kernel, global average
// pooling and a softmax head with sparse cross-entropy.
TEST_F(SequencePyTorch, SmallSequenceModelPredictLossAndGradients) {
  const RefFile ref = load("sequence_model");
  const Shape xs = ref.at("x").shape;
  Sequential model({
      Conv1D(6, 3, "relu", {.input_shape = Shape{xs[1], xs[2]}, .padding = "causal", .dilation_rate = 2}),
      MaxPooling1D(),
      Conv1D(5, 4, "linear", {.strides = 2, .padding = "same"}),
      GlobalAveragePooling1D(),
      Dense(3, "softmax"),
  });
  model.compile(optimizers::SGD(0.01), "sparse_categorical_crossentropy");
  model.build();
  std::vector<Tensor> weights;
  for (const auto& p : model.weights()) weights.push_back(ref.at("w0/" + p.name).to_tensor());
  model.set_weights(weights);

  const Tensor x = ref.at("x").to_tensor(), y = ref.at("y").to_tensor();
  expect_close(model.predict(x, int(x.rows())), ref.at("pred"), "predict");
  const double loss = model.train_on_batch(x, y);
  expect_close(Tensor({1}, {float(loss)}), ref.at("loss"), "training loss");
  int checked = 0;
  for (const auto& p : model.parameters()) {
    expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name);
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

// A model's inference pass tells a max pooling no backward follows, so it keeps no winners; a
// backward then is refused naming the layer, rather than reading stale positions.
TEST(SequenceLayers, MaxPoolingBackwardAfterAnInferenceOnlyPassIsRefused) {
  Rng rng(2);
  MaxPooling1D layer(2);
  layer.set_name("pool");
  layer.build({6, 3}, rng);
  const Tensor x = distinct_tensor({2, 6, 3}, rng);
  const Tensor trained = layer.forward(x, true).clone();
  layer.set_backward_follows(false);
  EXPECT_EQ(layer.forward(x, false).to_vector(), trained.to_vector());
  expect_error<Error>([&] { layer.backward(trained); }, {"MaxPooling1D 'pool'", "backward"});
}

// The architecture as Keras 3's model.to_json() writes it (1-tuples, initializer objects with their
// module, dtype policies, an InputLayer with batch_shape) reads into the same layers.
TEST(SequenceLayers, KerasThreeJsonReadsIntoTheSameLayers) {
  const std::string keras = R"({"module": "keras", "class_name": "Sequential", "config": {"name": "sequential",
    "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
    "registered_name": null}, "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 20, 3],
      "dtype": "float32", "sparse": false, "name": "input_layer"}, "registered_name": null},
    {"module": "keras.layers", "class_name": "Conv1D", "config": {"name": "conv1d", "trainable": true,
      "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
      "filters": 8, "kernel_size": [3], "strides": [1], "padding": "causal", "data_format": "channels_last",
      "dilation_rate": [2], "groups": 1, "activation": "relu", "use_bias": true,
      "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null},
        "registered_name": null},
      "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
      "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null,
      "bias_constraint": null}, "registered_name": null, "build_config": {"input_shape": [null, 20, 3]}},
    {"module": "keras.layers", "class_name": "MaxPooling1D", "config": {"name": "max_pooling1d", "trainable": true,
      "dtype": "float32", "pool_size": [2], "padding": "valid", "strides": [2], "data_format": "channels_last"},
      "registered_name": null},
    {"module": "keras.layers", "class_name": "UpSampling1D", "config": {"name": "up_sampling1d", "trainable": true,
      "dtype": "float32", "size": 3}, "registered_name": null},
    {"module": "keras.layers", "class_name": "AveragePooling1D", "config": {"name": "average_pooling1d",
      "trainable": true, "dtype": "float32", "pool_size": [4], "padding": "same", "strides": [3],
      "data_format": "channels_last"}, "registered_name": null},
    {"module": "keras.layers", "class_name": "GlobalMaxPooling1D", "config": {"name": "global_max_pooling1d",
      "trainable": true, "dtype": "float32", "data_format": "channels_last", "keepdims": false},
      "registered_name": null},
    {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable": true,
      "dtype": "float32", "units": 2, "activation": "softmax", "use_bias": true}, "registered_name": null}
  ], "build_input_shape": [null, 20, 3]}})";
  Model m = model_from_json(keras);
  ASSERT_EQ(m.layers().size(), 7u);  // the InputLayer and six layers
  auto* conv = dynamic_cast<Conv1D*>(m.get_layer("conv1d").get());
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->options().padding, "causal");
  EXPECT_EQ(conv->options().dilation_rate, 2);
  EXPECT_EQ(conv->kernel().shape(), (Shape{3, 3, 8}));
  // 20 steps -> causal 20 -> pool 10 -> up 30 -> average 'same' stride 3: 10 -> global 8 -> 2.
  EXPECT_EQ(m.get_layer("average_pooling1d")->output_shape(), (Shape{10, 8}));
  EXPECT_EQ(m.predict(Tensor::full({2, 20, 3}, 0.5f)).shape(), (Shape{2, 2}));
}

// Built with the functional API, a frozen Conv1D keeps its weights bit for bit through fit, while the
// Conv1D below it trains on the input gradient the frozen one still passes down.
TEST(SequenceLayers, FrozenConv1DKeepsItsWeightsInAFunctionalModel) {
  set_random_seed(4);
  auto frozen = std::make_shared<Conv1D>(4, 3, "tanh", Conv1DOptions{.padding = "causal"});
  auto in = Input({10, 3});
  auto h = Conv1D(5, 2, "relu", {.padding = "same"})(in);
  h = call_layer(frozen, {h});
  Model m(in, Dense(1)(GlobalAveragePooling1D()(h)));
  frozen->set_trainable(false);
  m.compile("adam", "mse");
  Tensor x({16, 10, 3}), y({16, 1});
  Rng r(1);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
  for (int64_t i = 0; i < y.size(); ++i) y[i] = r.normal(0, 1);
  m.build();
  const Tensor before = frozen->kernel().clone();
  const Tensor below_before = m.get_layer("conv1d")->params()[0].value->clone();
  m.fit(x, y, {.epochs = 2, .batch_size = 4, .verbose = 0});
  EXPECT_EQ(frozen->kernel().to_vector(), before.to_vector());
  EXPECT_NE(m.get_layer("conv1d")->params()[0].value->to_vector(), below_before.to_vector());
  EXPECT_EQ(frozen->count_params(true), 0);
  EXPECT_EQ(frozen->count_params(), 5 * 3 * 4 + 4);  // {k, in, out} plus the bias
}
