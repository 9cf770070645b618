// tanh and the logistic function over a vector of lanes, without a library call per value
// (std::tanh and std::exp are calls), for the Dense activations and the recurrent cells.
#pragma once
#include <cstdint>

#include "kernels/cpu/exp.hpp"
#include "kernels/cpu/lanes.hpp"

namespace myelin::kernels {

/// tanh in every lane, as a rational function (Eigen's float approximation). Contract: within 4e-7
/// of tanh, absolutely and, for |x| >= 1e-35, relatively (checked in tests/test_activations.cpp;
/// smaller inputs may give 0); +-1 beyond |x| = 7.9; NaN for NaN. The clamp is a vector select:
/// GCC keeps a scalar clamp's selects as branches for AVX2, and a loop over values then runs one
/// value at a time.
static inline Floats tanh_lanes(Floats x) {
  constexpr float kClamp = 7.90531110763549805f;  // tanh is 1 to float precision beyond
  x = x < -kClamp ? -kClamp : x;
  x = x > kClamp ? kClamp : x;
  const Floats x2 = x * x;
  Floats p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  Floats q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

/// The logistic function 1 / (1 + e^-x) in every lane, from e^-|x| so that nothing overflows.
/// Contract: within 4 float ulps of the exact value for x in [-87.3, 88.7] (checked in
/// tests/test_activations.cpp); 0 below -87.34 (where the exact values are under 1.2e-38) and 1
/// above 17; NaN for NaN.
static inline Floats sigmoid_lanes(Floats x) {
  const Floats e = exp_lanes(x < 0.f ? x : -x);  // e^-|x|, in (0, 1]
  const Floats s = 1.f / (1.f + e);              // sigmoid(|x|)
  return x < 0.f ? e * s : s;                    // sigmoid(-|x|) = e^-|x| / (1 + e^-|x|)
}

/// The logistic function as (1 + tanh(x / 2)) / 2 in every lane: within 3e-7 of the exact value,
/// absolutely only (0 below -15.9, where the exact values are under 1.3e-7; checked in
/// tests/test_activations.cpp); NaN for NaN. For the recurrent cells' gates, whose outputs meet only
/// sums and products where an absolute error is what counts: it takes half sigmoid_lanes's time,
/// and the LSTM's forward at batch 64 took 7 % longer with sigmoid_lanes (bench/README.md, "Dense's
/// sigmoid, tanh and swish in vectors").
static inline Floats sigmoid_gate_lanes(Floats x) { return 0.5f * tanh_lanes(0.5f * x) + 0.5f; }

/// out[i] = f(in[i]) for i < n, a vector of lanes at a time (the last one partial); out may be in.
template <class F>
void map_lanes(const float* in, float* out, int64_t n, F f) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) store(out + j, f(load(in + j)));
  if (j < n) store_first(out + j, n - j, f(load_first(in + j, n - j, 0.f)));
}

/// out[i] = f(a[i], b[i]) for i < n, likewise; out may be a or b.
template <class F>
void map_lanes(const float* a, const float* b, float* out, int64_t n, F f) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) store(out + j, f(load(a + j), load(b + j)));
  if (j < n) store_first(out + j, n - j, f(load_first(a + j, n - j, 0.f), load_first(b + j, n - j, 0.f)));
}

}  // namespace myelin::kernels
