// --bf16-weight-gradient rule|matmul|primitive|pairs, shared by the CNN benchmarks: forces the way a
// bfloat16 convolution computes its weight gradient (kernels::force_bf16_weight_gradient), so
// the ways can be timed against each other in whole training runs. "rule" is the library's choice.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "kernels/cpu/conv.hpp"

namespace bench {

/// Applies the option's value; throws std::invalid_argument naming it when it is none of the four.
inline void force_bf16_weight_gradient(const std::string& way) {
  using W = myelin::kernels::Bf16WeightGradient;
  std::optional<W> forced;
  if (way == "matmul") forced = W::Matmul;
  else if (way == "primitive") forced = W::Primitive;
  else if (way == "pairs") forced = W::ImagePairs;
  else if (way != "rule")
    throw std::invalid_argument("--bf16-weight-gradient must be rule, matmul, primitive or pairs, not '" + way + "'");
  myelin::kernels::force_bf16_weight_gradient(forced);
}

}  // namespace bench
