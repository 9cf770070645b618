// Convolutional layers against PyTorch: the same inputs and weights give the same outputs and
// gradients as tests/pytorch/conv_reference.py computes with torch in float64 (NCHW there; the
// script permutes, so every tensor here is NHWC with Keras's kernel layout).
//
// Tolerance: tests/torch_reference.hpp's expect_close (1e-4 relative with a floor; Winograd's
// convolutions held to 1e-4 of the tensor's largest entry).
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

#include "myelin/layers/activation.hpp"
#include "myelin/layers/batch_normalization.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "reference_file.hpp"
#include "torch_reference.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using namespace myelin::layers;
using myelin::test::RefFile;

namespace {

using myelin::test::expect_close;

class PyTorchConv : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new test::TorchReference("conv_reference.py"); }
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
  static void check_layer(Layer& layer, const RefFile& ref, const std::string& what, bool of_largest = false) {
    const Tensor x = ref.at("x").to_tensor();
    const Tensor& y = layer.forward(x, true);
    expect_close(y, ref.at("y"), what + " forward", of_largest);
    expect_close(layer.backward(ref.at("w").to_tensor()), ref.at("dx"), what + " input gradient", of_largest);
  }

  static inline test::TorchReference* ref_ = nullptr;
};

struct ConvSpec {
  const char* file;
  int64_t filters;
  Size2 kernel;
  Conv2DOptions opts;
  const char* activation;
  bool winograd_shape = false;  // run twice: Winograd allowed, then forbidden
};

TEST_F(PyTorchConv, Conv2DForwardAndGradients) {
  const ConvSpec specs[] = {
      {"conv_valid_3x3", 5, {3, 3}, {}, "linear"},
      {"conv_same_even_stride2", 6, {2, 2}, {.strides = 2, .padding = "same"}, "relu"},
      {"conv_one_channel_same_dilated", 3, {3, 2}, {.padding = "same", .dilation_rate = 2}, "tanh"},
      {"conv_many_channels_stride21", 20, {3, 3}, {.strides = {2, 1}, .use_bias = false}, "linear"},
      {"conv_same_4x4_stride3", 4, {4, 4}, {.strides = 3, .padding = "same"}, "relu"},
      {"conv_winograd_valid_relu", 32, {3, 3}, {}, "relu", true},
      {"conv_winograd_same", 16, {3, 3}, {.padding = "same", .use_bias = false}, "linear", true},
  };
  for (const auto& s : specs) {
    for (const bool winograd : {true, false}) {
      if (!winograd && !s.winograd_shape) continue;
      const std::string what = std::string(s.file) + (s.winograd_shape ? (winograd ? " (Winograd)" : " (direct)") : "");
      SCOPED_TRACE(what);
      set_winograd_convolutions(winograd);
      const RefFile ref = load(s.file);
      const Shape x_shape = ref.at("x").shape;
      Conv2D layer(s.filters, s.kernel, s.activation, s.opts);
      Rng rng(0);
      layer.build({x_shape[1], x_shape[2], x_shape[3]}, rng);
      layer.kernel().copy_from(ref.at("kernel").to_tensor());
      if (s.opts.use_bias) layer.bias().copy_from(ref.at("bias").to_tensor());
      const bool of_largest = s.winograd_shape && winograd;
      check_layer(layer, ref, what, of_largest);
      auto p = layer.params();
      expect_close(*p[0].grad, ref.at("dkernel"), what + " kernel gradient", of_largest);
      if (s.opts.use_bias) expect_close(*p[1].grad, ref.at("dbias"), what + " bias gradient", of_largest);
    }
  }
  set_winograd_convolutions(true);
}

TEST_F(PyTorchConv, PoolingForwardAndGradients) {
  {
    const RefFile ref = load("max_valid_2x2");
    MaxPooling2D l({2, 2});
    Rng rng(0);
    l.build({7, 9, 3}, rng);
    check_layer(l, ref, "max valid");
  }
  {
    const RefFile ref = load("max_same_3x3_stride2");
    MaxPooling2D l(3, 2, "same");
    Rng rng(0);
    l.build({8, 7, 2}, rng);
    check_layer(l, ref, "max same");
  }
  {
    const RefFile ref = load("avg_same_2x2");
    AveragePooling2D l(2, 2, "same");
    Rng rng(0);
    l.build({5, 7, 3}, rng);
    check_layer(l, ref, "average same");
  }
  {
    const RefFile ref = load("avg_valid_3x2_stride1");
    AveragePooling2D l({3, 2}, Size2{1, 1});
    Rng rng(0);
    l.build({6, 5, 1}, rng);
    check_layer(l, ref, "average valid");
  }
  {
    const RefFile ref = load("global");
    const Tensor x = ref.at("x").to_tensor();
    Rng rng(0);
    GlobalAveragePooling2D ga;
    ga.build({5, 4, 6}, rng);
    expect_close(ga.forward(x, true), ref.at("ya"), "global average");
    expect_close(ga.backward(ref.at("wa").to_tensor()), ref.at("dxa"), "global average gradient");
    GlobalMaxPooling2D gm;
    gm.build({5, 4, 6}, rng);
    expect_close(gm.forward(x, true), ref.at("ym"), "global max");
    expect_close(gm.backward(ref.at("wm").to_tensor()), ref.at("dxm"), "global max gradient");
  }
}

TEST_F(PyTorchConv, BatchNormalizationTrainingAndInference) {
  struct Spec {
    const char* file;
    float momentum, epsilon;
  };
  for (const Spec s : {Spec{"bn_dense", 0.9f, 1e-3f}, Spec{"bn_image", 0.99f, 1e-5f}}) {
    SCOPED_TRACE(s.file);
    const RefFile ref = load(s.file);
    const Shape xs = ref.at("x").shape;
    BatchNormalization bn({.momentum = s.momentum, .epsilon = s.epsilon});
    Rng rng(0);
    bn.build(Shape(xs.begin() + 1, xs.end()), rng);
    bn.gamma().copy_from(ref.at("gamma").to_tensor());
    bn.beta().copy_from(ref.at("beta").to_tensor());
    bn.moving_mean().copy_from(ref.at("moving_mean").to_tensor());
    bn.moving_variance().copy_from(ref.at("moving_variance").to_tensor());
    // Inference first, while the moving statistics are the reference's.
    expect_close(bn.forward(ref.at("x").to_tensor(), false), ref.at("y_inference"), "inference");
    check_layer(bn, ref, s.file);
    auto p = bn.params();
    expect_close(*p[0].grad, ref.at("dgamma"), "gamma gradient");
    expect_close(*p[1].grad, ref.at("dbeta"), "beta gradient");
    expect_close(bn.moving_mean(), ref.at("new_moving_mean"), "moving mean");
    expect_close(bn.moving_variance(), ref.at("new_moving_variance"), "moving variance");
  }
}

// A whole model: convolution, pooling, strided 'same' convolution with an even kernel, batch
// normalisation, Flatten (NHWC order) and a softmax head with sparse cross-entropy.
TEST_F(PyTorchConv, SmallCnnPredictLossAndGradients) {
  const RefFile ref = load("cnn");
  Sequential model({
      Conv2D(4, {3, 3}, "relu", Shape{9, 8, 2}),
      MaxPooling2D({2, 2}),
      Conv2D(6, {2, 2}, "linear", {.strides = 2, .padding = "same"}),
      BatchNormalization(),
      Flatten(),
      Dense(3, "softmax"),
  });
  model.compile(optimizers::SGD(0.01), "sparse_categorical_crossentropy");
  model.build();
  std::vector<Tensor> weights = model.get_weights();
  auto all = model.weights();
  for (size_t i = 0; i < all.size(); ++i) {
    const auto it = ref.find("w0/" + all[i].name);
    if (it != ref.end()) weights[i] = it->second.to_tensor();  // moving statistics keep their 0 and 1
  }
  model.set_weights(weights);

  const Tensor x = ref.at("x").to_tensor(), y = ref.at("y").to_tensor();
  expect_close(model.predict(x, int(x.rows())), ref.at("pred_inference"), "predict");
  const double loss = model.train_on_batch(x, y);
  expect_close(Tensor({1}, {float(loss)}), ref.at("loss"), "training loss");
  for (const auto& p : model.parameters()) {
    if (p.name == "conv2d_1/bias") {
      // BatchNormalization subtracts the batch mean right after this bias, so its gradient is zero
      // in exact arithmetic (torch's float64 gives 1e-16); float32 leaves sums of dy cancelling to
      // a few units in the last place of its terms (about 1e-7).
      for (int64_t i = 0; i < p.grad->size(); ++i) EXPECT_NEAR((*p.grad)[i], 0.f, 1e-6) << p.name << "[" << i << "]";
      continue;
    }
    expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name);
  }
}

// A residual block with batch normalisation, built with the functional API: Conv2D -> BN -> relu ->
// Conv2D -> BN, added to the block's input, relu, then GlobalAveragePooling2D -> Dense softmax.
// Checked in both modes: predict with the given moving statistics; then one training step (loss,
// every weight's gradient, the batch statistics, which momentum 0 leaves as the moving ones), and
// predict again with the trainable weights put back, which is then the training-mode output.
TEST_F(PyTorchConv, ResidualBlockWithBatchNormalization) {
  const RefFile ref = load("residual");
  const Shape xs = ref.at("x").shape;
  for (const bool winograd : {false, true}) {
    SCOPED_TRACE(winograd ? "Winograd allowed" : "direct");
    set_winograd_convolutions(winograd);
    const Conv2DOptions conv{.padding = "same", .use_bias = false};
    const BatchNormalizationOptions bn{.momentum = 0.f, .epsilon = 1e-3f};
    auto inputs = Input({xs[1], xs[2], xs[3]});
    auto y = Conv2D(xs[3], {3, 3}, "linear", conv)(inputs);
    y = Activation("relu")(BatchNormalization(bn)(y));
    y = BatchNormalization(bn)(Conv2D(xs[3], {3, 3}, "linear", conv)(y));
    auto x = Activation("relu")(Add()({y, inputs}));
    x = GlobalAveragePooling2D()(x);
    Model model(inputs, Dense(ref.at("w0/dense/bias").shape[0], "softmax")(x));
    model.compile(optimizers::SGD(0.01), "sparse_categorical_crossentropy");
    model.build();

    // Every weight, the moving statistics included, from the reference.
    const auto all = model.weights();
    std::vector<Tensor> w0;
    for (const auto& p : all) w0.push_back(ref.at("w0/" + p.name).to_tensor());
    model.set_weights(w0);

    const Tensor images = ref.at("x").to_tensor(), labels = ref.at("y").to_tensor();
    const bool of_largest = winograd;  // Winograd's error scales with the sums' terms
    expect_close(model.predict(images, int(images.rows())), ref.at("pred_inference"), "inference predict", of_largest);
    const double loss = model.train_on_batch(images, labels);
    expect_close(Tensor({1}, {float(loss)}), ref.at("loss"), "training loss", of_largest);
    int checked = 0;
    for (const auto& p : model.parameters()) {
      expect_close(*p.grad, ref.at("grad/" + p.name), "gradient of " + p.name, of_largest);
      ++checked;
    }
    EXPECT_EQ(checked, 8);  // two kernels, two gammas, two betas, the dense kernel and bias

    std::vector<Tensor> after = model.get_weights();
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].trainable) {
        after[i] = w0[i];  // undo the step
      } else {
        expect_close(after[i], ref.at("batch/" + all[i].name), "batch statistic " + all[i].name, of_largest);
      }
    }
    model.set_weights(after);
    expect_close(model.predict(images, int(images.rows())), ref.at("pred_training"), "training-mode output",
                 of_largest);
  }
  set_winograd_convolutions(true);
}

}  // namespace
