// The softmax of a row that fits one vector of lanes, for the kernels that keep the row in a
// register from its load to their own store (the activation and the fused cross-entropies): a row
// stored by one pass and reloaded by the next waits for the store to reach the cache.
#pragma once
#include "kernels/cpu/exp.hpp"
#include "kernels/cpu/lanes.hpp"

namespace myelin::kernels {

/// softmax(v) with the parts a log-sum-exp needs: log(sum(exp(v))) = max + log(sum). Lanes past the
/// row's end must hold -inf (their probability is 0). The sum is kept in double so that a
/// cross-entropy's log-sum-exp keeps its digits; a NaN lane makes every probability NaN.
struct SoftmaxLanes {
  Floats probabilities;
  float max;
  double sum;
};
static inline SoftmaxLanes softmax_lanes(Floats v) {
  const float m = max_lanes(v);
  const Floats e = exp_lanes(v - m);
  const double s = sum_lanes(e);
  return {e * float(1.0 / s), m, s};
}

}  // namespace myelin::kernels
