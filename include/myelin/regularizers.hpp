// Weight penalties added to the loss, as Keras's kernel_regularizer / bias_regularizer.
#pragma once
#include "myelin/tensor.hpp"

namespace myelin {

/// penalty(w) = l1 * sum(|w|) + l2 * sum(w^2), added to the reported loss (Keras's definition).
struct Regularizer {
  float l1 = 0.f;
  float l2 = 0.f;
  bool active() const { return l1 != 0.f || l2 != 0.f; }
  /// The penalty for `w`.
  double penalty(const Tensor& w) const;
  /// Adds d(penalty)/dw to `grad`.
  void add_gradient(const Tensor& w, Tensor& grad) const;
};

namespace regularizers {
/// Keras's defaults: L1(0.01), L2(0.01), L1L2(0, 0).
inline Regularizer L1(float l1 = 0.01f) { return {l1, 0.f}; }
inline Regularizer L2(float l2 = 0.01f) { return {0.f, l2}; }
inline Regularizer L1L2(float l1 = 0.f, float l2 = 0.f) { return {l1, l2}; }
}  // namespace regularizers

}  // namespace myelin
