// Element-wise merges of equally shaped tensors (Add, Multiply, Maximum...) and concatenation along
// an axis, with their backward passes. Every pointer covers n values unless stated.
#pragma once
#include <cstdint>
#include <vector>

namespace myelin::kernels {

enum class MergeOp { Add, Subtract, Multiply, Average, Maximum, Minimum };

/// y = op(x[0], x[1], ...); Subtract takes exactly two inputs.
void merge_forward(MergeOp op, const std::vector<const float*>& x, float* y, int64_t n);
/// dx[k] = d(loss)/d(x[k]) given dy (dx[k] null: not wanted). For Maximum/Minimum the gradient goes to
/// the first input holding the extreme value, as PyTorch's and TensorFlow's reductions do.
void merge_backward(MergeOp op, const std::vector<const float*>& x, const float* dy,
                    const std::vector<float*>& dx, int64_t n);

/// Concatenation of inputs viewed as [outer, width_k, inner] along their middle axis: y is
/// [outer, sum(width_k), inner].
void concat_forward(const std::vector<const float*>& x, const std::vector<int64_t>& widths, float* y, int64_t outer,
                    int64_t inner);
/// The inverse split of dy into each dx[k] (null: not wanted).
void concat_backward(const float* dy, const std::vector<int64_t>& widths, const std::vector<float*>& dx,
                     int64_t outer, int64_t inner);

/// y += x over n values (the graph sums the gradients of a tensor used by several layers).
void accumulate(const float* x, float* y, int64_t n);

}  // namespace myelin::kernels
