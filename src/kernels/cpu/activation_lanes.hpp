// tanh, the logistic function, the normal distribution's CDF (for GELU) and ln(1 + e^x) over a vector
// of lanes, without a library call per value (std::tanh, std::exp, std::erf and std::log1p are calls),
// for the Dense activations and the recurrent cells. The erf and log polynomials are least-squares
// fits of this project's own (Chebyshev, in double, then rounded to float).
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

/// erf(x) for |x| <= 1 as x * P(x^2): within 1.7e-7 relatively.
static inline Floats erf_near_zero(Floats x) {
  const Floats s = x * x;
  Floats p = s * 7.971048762556165e-05f + -8.043373818509281e-04f;
  p = p * s + 5.1918332464993e-03f;
  p = p * s + -2.6855509728193283e-02f;
  p = p * s + 1.1283621937036514e-01f;
  p = p * s + -3.761262893676758e-01f;
  p = p * s + 1.1283791065216064f;
  return x * p;
}

/// erfc(u) for u >= 1/2 as e^(-u^2) * Q(1 / (1 + u / 2)), whose Q varies slowly (it tends to
/// 1 / (u sqrt(pi))), given u and u^2: within 3e-7 relatively, plus e^(-u^2)'s error from u^2's
/// rounding (about u^2 * 6e-8 relatively); 0 beyond u = 9.35, where erfc is under 1.2e-38.
static inline Floats erfc_tail(Floats u, Floats u_squared) {
  const Floats t = 1.f / (1.f + 0.5f * u);
  Floats q = t * 4.644249007105827e-02f + -7.161949574947357e-02f;
  q = q * t + -1.3384245336055756e-01f;
  q = q * t + 2.2888505458831787e-01f;
  q = q * t + 9.981546550989151e-02f;
  q = q * t + 2.6998606324195862e-01f;
  q = q * t + 2.7797970175743103e-01f;
  q = q * t + 2.824942171573639e-01f;
  q = q * t + -1.633881765883416e-05f;
  return exp_lanes(-u_squared) * q;
}

/// The standard normal distribution's CDF, Phi(x) = erfc(-x / sqrt 2) / 2, in every lane: its left
/// tail from erfc_tail, so that it keeps its relative digits where 1 + erf(x / sqrt 2) would cancel.
/// Contract: within 4e-7 * (1 + x^2) relatively (the x^2 from e^(-x^2/2)'s rounded x^2) for
/// x >= -13, 0 below (checked in tests/test_activations.cpp); NaN for NaN.
static inline Floats normal_cdf_lanes(Floats x) {
  const Floats u = x * -0.70710678118654752f;  // Phi(x) = erfc(u) / 2
  const Floats magnitude = u < 0.f ? -u : u;
  // The tail from |u| = 1/2 on, where 1/2 - erf(u) / 2 would lose a bit on the left; u^2 as x^2 / 2,
  // one rounding where u * u would add u's own.
  const Floats tail = 0.5f * erfc_tail(magnitude < 0.5f ? 0.5f : magnitude, 0.5f * (x * x));  // erfc(|u|) / 2
  const Floats outer = u > 0.f ? tail : 1.f - tail;
  return magnitude <= 0.5f ? 0.5f - 0.5f * erf_near_zero(u) : (x != x ? x : outer);
}

/// GELU, x * Phi(x) (Keras's exact form, not the tanh approximation), in every lane: within
/// 5e-7 * (1 + x^2) relatively where the result is a normal float (checked in
/// tests/test_activations.cpp).
static inline Floats gelu_lanes(Floats x) { return x * normal_cdf_lanes(x); }

/// ln(1 + u) for u in [0, 1]: 1 + u rounded to w, ln w from its mantissa m in [sqrt(1/2), sqrt 2]
/// (ln m = f - f^2/2 + f^3 P(f), f = m - 1), and what the rounding dropped, u - (w - 1), added as
/// its derivative's share, (u - (w - 1)) / w. Within 1e-7 relatively.
static inline Floats log1p_unit(Floats u) {
  constexpr float kLn2 = 0.69314718055994531f;
  const Floats w = 1.f + u;
  const Floats dropped = u - (w - 1.f);  // exact
  const auto halved = w > 1.41421356f;  // w past sqrt 2: ln w = ln(w / 2) + ln 2
  const Floats f = (halved ? 0.5f * w : w) - 1.f;  // exact
  Floats p = f * 7.055027037858963e-02f + -1.1420084536075592e-01f;
  p = p * f + 1.1628491431474686e-01f;
  p = p * f + -1.2429869174957275e-01f;
  p = p * f + 1.4254888892173767e-01f;
  p = p * f + -1.6667813062667847e-01f;
  p = p * f + 2.0000556111335754e-01f;
  p = p * f + -2.4999995529651642e-01f;
  p = p * f + 3.333333134651184e-01f;
  const Floats f2 = f * f;
  const Floats log_m = f + (f2 * f * p - 0.5f * f2);
  return (halved ? log_m + kLn2 : log_m) + dropped / w;
}

/// softplus, ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), in every lane. Contract: within 4 float ulps
/// of the exact value for x >= -87.3 (checked in tests/test_activations.cpp); 0 below; NaN for NaN.
static inline Floats softplus_lanes(Floats x) {
  const Floats e = exp_lanes(x < 0.f ? x : -x);  // e^-|x|, in (0, 1]
  const Floats positive_part = x > 0.f ? x : 0.f;
  return x != x ? x : positive_part + log1p_unit(e);
}

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
