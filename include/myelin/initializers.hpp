// Weight initializers by Keras's names and formulas.
#pragma once
#include <cstdint>
#include <string>

#include "myelin/random.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

/// An initializer: a Keras name ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
/// "lecun_normal", "lecun_uniform", "orthogonal", "zeros", "ones", "constant", "random_uniform" or its Keras alias
/// "uniform") and, for "constant", its value; for "random_uniform", its range (Keras's
/// RandomUniform defaults, [-0.05, 0.05]). Converts from a string, so layers take `"he_normal"` directly.
struct Initializer {
  std::string name = "glorot_uniform";
  float value = 0.f;
  float minval = -0.05f;
  float maxval = 0.05f;
  Initializer() = default;
  Initializer(const char* n) : name(n) {}
  Initializer(std::string n) : name(std::move(n)) {}
  Initializer(std::string n, float v) : name(std::move(n)), value(v) {}
};

namespace initializers {
inline Initializer GlorotUniform() { return {"glorot_uniform"}; }
inline Initializer GlorotNormal() { return {"glorot_normal"}; }
inline Initializer HeUniform() { return {"he_uniform"}; }
inline Initializer HeNormal() { return {"he_normal"}; }
inline Initializer LecunNormal() { return {"lecun_normal"}; }
/// Keras's Orthogonal with gain 1 (the recurrent layers' recurrent_initializer).
inline Initializer Orthogonal() { return {"orthogonal"}; }
inline Initializer Zeros() { return {"zeros"}; }
inline Initializer Ones() { return {"ones"}; }
inline Initializer Constant(float value) { return {"constant", value}; }
/// Keras's RandomUniform: values drawn uniformly from [minval, maxval).
inline Initializer RandomUniform(float minval = -0.05f, float maxval = 0.05f) {
  Initializer i("random_uniform");
  i.minval = minval;
  i.maxval = maxval;
  return i;
}

/// Fills `w` following Keras: fan_in/fan_out are the kernel's input and output sizes (times the
/// receptive field for convolutions). The *_normal variants draw from a normal truncated at two
/// standard deviations, scaled as Keras does so the variance is the intended one. "orthogonal" reads
/// w as (all axes but the last, the last) and makes its shorter side orthonormal, as Keras.
/// Throws ValueError for an unknown name.
void fill(const Initializer& init, Tensor& w, int64_t fan_in, int64_t fan_out, Rng& rng);
}  // namespace initializers

}  // namespace myelin
