// The users' two Fashion-MNIST models, as the benchmarks train them: one definition, so every
// benchmark measures the same networks.
#pragma once
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
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

/// Flatten (of `input`), Dense 32 relu, Dense 10 softmax; not compiled.
inline myelin::Sequential users_mlp(const myelin::Shape& input) {
  using namespace myelin;
  return Sequential({layers::Flatten(input), layers::Dense(32, "relu"), layers::Dense(10, "softmax")});
}

/// Seeds 42, builds `model` and compiles it as the users do: Adam(1e-3), sparse categorical cross-entropy, accuracy.
template <class Make>
myelin::Sequential seeded_and_compiled(Make make) {
  myelin::set_random_seed(42);  // every run starts from the same weights
  myelin::Sequential m = make();
  m.compile(myelin::optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

}  // namespace bench
