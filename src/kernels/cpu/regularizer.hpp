// Weight penalties (Keras's L1/L2 kernel and bias regularizers) over a flat array of n weights.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// l1 * sum(|w|) + l2 * sum(w^2), both sums in double and in index order.
double l1_l2_penalty(const float* w, int64_t n, float l1, float l2);
/// grad += 2 l2 w + l1 sign(w): the penalty's gradient added to the loss's.
void add_l1_l2_gradient(const float* w, float* grad, int64_t n, float l1, float l2);

}  // namespace myelin::kernels
