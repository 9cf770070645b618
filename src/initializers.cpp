#include "myelin/initializers.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "myelin/error.hpp"

namespace myelin::initializers {

namespace {
// Standard deviation of a unit normal truncated to [-2, 2]; Keras divides by it so that the
// truncated draws keep the variance the scheme asks for.
constexpr double kTruncatedStd = 0.87962566103423978;

void uniform(Tensor& w, double limit, Rng& rng) {
  for (int64_t i = 0; i < w.size(); ++i) w[i] = rng.uniform(float(-limit), float(limit));
}
void truncated(Tensor& w, double stddev, Rng& rng) {
  const float s = float(stddev / kTruncatedStd);
  for (int64_t i = 0; i < w.size(); ++i) w[i] = rng.truncated_normal(0.f, s);
}

// Keras's Orthogonal (gain 1): w viewed as (rows, cols) = (all axes but the last, the last) is the Q
// of a QR factorisation of a (max, min) normal matrix, transposed when rows < cols, so that its
// shorter side is orthonormal. Keras flips Q's columns to make R's diagonal positive, which is the
// factorisation Gram-Schmidt gives; it runs in double, twice per column, to stay orthogonal to
// float precision.
void orthogonal(Tensor& w, Rng& rng) {
  if (w.size() == 0) return;
  const int64_t cols = w.dim(w.ndim() - 1), rows = w.size() / cols;
  const int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  std::vector<double> q(size_t(m * n));  // column j at q[j*m]
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) q[size_t(j * m + i)] = rng.normal(0.f, 1.f);
  for (int64_t j = 0; j < n; ++j) {
    double* v = &q[size_t(j * m)];
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t k = 0; k < j; ++k) {
        const double* u = &q[size_t(k * m)];
        double d = 0;
        for (int64_t i = 0; i < m; ++i) d += u[i] * v[i];
        for (int64_t i = 0; i < m; ++i) v[i] -= d * u[i];
      }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += v[i] * v[i];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i) v[i] /= norm;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float value = float(q[size_t(j * m + i)]);
      if (rows >= cols) w[i * cols + j] = value;  // Q itself, (rows, cols)
      else w[j * cols + i] = value;               // its transpose
    }
}
}  // namespace

void fill(const Initializer& init, Tensor& w, int64_t fan_in, int64_t fan_out, Rng& rng) {
  const double fi = double(std::max<int64_t>(fan_in, 1)), fo = double(std::max<int64_t>(fan_out, 1));
  const std::string& n = init.name;
  if (n == "glorot_uniform") uniform(w, std::sqrt(6.0 / (fi + fo)), rng);
  else if (n == "glorot_normal") truncated(w, std::sqrt(2.0 / (fi + fo)), rng);
  else if (n == "he_uniform") uniform(w, std::sqrt(6.0 / fi), rng);
  else if (n == "he_normal") truncated(w, std::sqrt(2.0 / fi), rng);
  else if (n == "lecun_uniform") uniform(w, std::sqrt(3.0 / fi), rng);
  else if (n == "lecun_normal") truncated(w, std::sqrt(1.0 / fi), rng);
  else if (n == "zeros") w.fill(0.f);
  else if (n == "ones") w.fill(1.f);
  else if (n == "constant") w.fill(init.value);
  else if (n == "orthogonal") orthogonal(w, rng);
  else if (n == "random_uniform" || n == "uniform") {
    if (!(init.minval <= init.maxval))
      throw ValueError("RandomUniform: minval must not exceed maxval, got [" + std::to_string(init.minval) + ", " +
                       std::to_string(init.maxval) + "]");
    for (int64_t i = 0; i < w.size(); ++i) w[i] = rng.uniform(init.minval, init.maxval);
  } else
    throw ValueError("unknown initializer '" + n +
                     "' (known: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, "
                     "lecun_normal, orthogonal, zeros, ones, constant, random_uniform)");
}

}  // namespace myelin::initializers
