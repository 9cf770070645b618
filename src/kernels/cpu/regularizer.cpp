#include "kernels/cpu/regularizer.hpp"

#include <cmath>

namespace myelin::kernels {

double l1_l2_penalty(const float* w, int64_t n, float l1, float l2) {
  double a = 0, s = 0;
  for (int64_t i = 0; i < n; ++i) {
    a += std::fabs(w[i]);
    s += double(w[i]) * w[i];
  }
  return l1 * a + l2 * s;
}

void add_l1_l2_gradient(const float* w, float* grad, int64_t n, float l1, float l2) {
  const float two_l2 = 2.f * l2;
  for (int64_t i = 0; i < n; ++i) {
    const float x = w[i];
    grad[i] += two_l2 * x + (l1 != 0.f ? l1 * float((x > 0) - (x < 0)) : 0.f);
  }
}

}  // namespace myelin::kernels
