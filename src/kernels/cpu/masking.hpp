// Masks of padded steps (Keras's masking): making them from ids or feature vectors, and applying
// them. A mask is [rows, steps], 1 where a step holds data and 0 where it is padding.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// mask[i] = 1 where ids[i] != 0, else 0 (Embedding's mask_zero), over n ids.
void mask_nonzero_ids(const float* ids, int64_t n, float* mask);

/// Masking: over `steps` steps of `features` values each, mask[s] = 1 where any of step s's values
/// differs from mask_value, and y = x with the masked steps zeroed.
void masking_forward(int64_t steps, int64_t features, float mask_value, const float* x, float* y, float* mask);

/// dx = dy with the masked steps zeroed.
void masking_backward(int64_t steps, int64_t features, const float* mask, const float* dy, float* dx);

}  // namespace myelin::kernels
