#include "myelin/initializers.hpp"

#include <cmath>

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
  else if (n == "random_uniform" || n == "uniform") {
    if (!(init.minval <= init.maxval))
      throw ValueError("RandomUniform: minval must not exceed maxval, got [" + std::to_string(init.minval) + ", " +
                       std::to_string(init.maxval) + "]");
    for (int64_t i = 0; i < w.size(); ++i) w[i] = rng.uniform(init.minval, init.maxval);
  } else
    throw ValueError("unknown initializer '" + n +
                     "' (known: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, "
                     "lecun_normal, zeros, ones, constant, random_uniform)");
}

}  // namespace myelin::initializers
