// Input validation over large arrays, fast enough to run on every fit() call.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Index of the first NaN or infinite value in x[0, n), or -1 when all are finite.
int64_t first_non_finite(const float* x, int64_t n);

}  // namespace myelin::kernels
