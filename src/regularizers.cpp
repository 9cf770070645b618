#include "myelin/regularizers.hpp"

#include "kernels/cpu/regularizer.hpp"

namespace myelin {

double Regularizer::penalty(const Tensor& w) const { return kernels::l1_l2_penalty(w.data(), w.size(), l1, l2); }

void Regularizer::add_gradient(const Tensor& w, Tensor& grad) const {
  kernels::add_l1_l2_gradient(w.data(), grad.data(), w.size(), l1, l2);
}

}  // namespace myelin
