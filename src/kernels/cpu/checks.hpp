// Input validation over large arrays, fast enough to run on every fit() call.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Index of the first NaN or infinite value in x[0, n), or -1 when all are finite.
int64_t first_non_finite(const float* x, int64_t n);

/// Index of the first value outside [lo, hi] (NaN counts as outside), or -1.
int64_t first_outside(const float* x, int64_t n, float lo, float hi);

/// Index of the first value that is not a class index: a whole number in [0, classes). NaN counts
/// as not one. -1 when all are.
int64_t first_non_class_index(const float* x, int64_t n, int64_t classes);

/// Index of the first label that, truncated toward zero, falls outside [0, classes) (NaN counts as
/// outside), or -1: the rule a sparse cross-entropy applies when called directly, where 2.5 reads as 2.
int64_t first_label_outside(const float* labels, int64_t n, int64_t classes);

}  // namespace myelin::kernels
