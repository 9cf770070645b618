// The users' Fashion-MNIST models, as the benchmarks train them: one definition, so every
// benchmark measures the same networks.
#pragma once
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

namespace bench {

/// Conv2D 32/64/64 3x3 relu with 2x2 max pooling, Flatten, Dense 64 relu, Dense 10 softmax; not compiled.
inline myelin::Sequential users_cnn() {
  using namespace myelin;
  return Sequential({
      layers::Conv2D(32, {3, 3}, "relu", Shape{28, 28, 1}),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu"),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu"),
      layers::Flatten(),
      layers::Dense(64, "relu"),
      layers::Dense(10, "softmax"),
  });
}

/// The residual network of examples/resnet_fashion_mnist: a Conv-BN-relu stem (32 filters) with 2x2
/// max pooling, a residual block of two 3x3 Conv-BN (32 filters), a downsampling block (the first
/// convolution strided 2x2, 64 filters, the shortcut a strided 1x1 Conv-BN projection), each
/// block ending in Add and relu, then GlobalAveragePooling2D and Dense 10 softmax; convolutions
/// without bias; not compiled.
inline myelin::Model users_resnet() {
  using namespace myelin;
  auto conv_bn = [](const SymbolicTensor& x, int64_t filters, layers::Size2 kernel, int64_t stride) {
    auto y = layers::Conv2D(filters, kernel, "linear", {.strides = stride, .padding = "same", .use_bias = false})(x);
    return layers::BatchNormalization()(y);
  };
  auto block = [&](const SymbolicTensor& x, int64_t filters, int64_t stride) {
    auto y = layers::Activation("relu")(conv_bn(x, filters, {3, 3}, stride));
    y = conv_bn(y, filters, {3, 3}, 1);
    const auto shortcut = stride == 1 ? x : conv_bn(x, filters, {1, 1}, stride);
    return layers::Activation("relu")(layers::Add()({y, shortcut}));
  };
  auto inputs = layers::Input({28, 28, 1});
  auto x = layers::MaxPooling2D({2, 2})(layers::Activation("relu")(conv_bn(inputs, 32, {3, 3}, 1)));
  x = layers::GlobalAveragePooling2D()(block(block(x, 32, 1), 64, 2));
  return Model(inputs, layers::Dense(10, "softmax")(x));
}

/// Flatten (of `input`), Dense 32 relu, Dense 10 softmax; not compiled.
inline myelin::Sequential users_mlp(const myelin::Shape& input) {
  using namespace myelin;
  return Sequential({layers::Flatten(input), layers::Dense(32, "relu"), layers::Dense(10, "softmax")});
}

/// Seeds 42, builds `model` and compiles it as the users do: Adam(1e-3), sparse categorical cross-entropy, accuracy.
template <class Make>
auto seeded_and_compiled(Make make) {
  myelin::set_random_seed(42);  // every run starts from the same weights
  auto m = make();
  m.compile(myelin::optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

}  // namespace bench
