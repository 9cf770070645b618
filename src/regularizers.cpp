#include "myelin/regularizers.hpp"

#include <cmath>

namespace myelin {

double Regularizer::penalty(const Tensor& w) const {
  double a = 0, s = 0;
  for (int64_t i = 0; i < w.size(); ++i) {
    a += std::fabs(w[i]);
    s += double(w[i]) * w[i];
  }
  return l1 * a + l2 * s;
}

void Regularizer::add_gradient(const Tensor& w, Tensor& grad) const {
  const float two_l2 = 2.f * l2;
  for (int64_t i = 0; i < w.size(); ++i) {
    const float x = w[i];
    grad[i] += two_l2 * x + (l1 != 0.f ? l1 * float((x > 0) - (x < 0)) : 0.f);
  }
}

}  // namespace myelin
