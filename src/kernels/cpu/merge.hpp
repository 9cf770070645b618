// Element-wise merges (Add, Multiply, Maximum...) of equally shaped tensors and of tensors that
// broadcast, and concatenation along an axis, with their backward passes. Every pointer covers n
// values unless stated.
#pragma once
#include <cstdint>
#include <vector>

namespace myelin::kernels {

enum class MergeOp { Add, Subtract, Multiply, Average, Maximum, Minimum };

/// y = a + b, then max(y, 0) with `relu`, on the threads; y may be a or b.
void add(const float* a, const float* b, float* y, int64_t n, bool relu = false);
/// The same with y written in bfloat16 (each value bf16_bits of the float32 above): an output
/// handed to bfloat16 convolutions, which would round it the same way.
void add(const float* a, const float* b, uint16_t* y_bf16, int64_t n, bool relu = false);
/// y = op(x[0], x[1], ...), then max(y, 0) with `relu`; Subtract takes exactly two inputs.
void merge_forward(MergeOp op, const std::vector<const float*>& x, float* y, int64_t n, bool relu = false);
/// dx[k] = d(loss)/d(x[k]) given dy (dx[k] null: not wanted). For Maximum/Minimum the gradient goes to
/// the first input holding the extreme value, as PyTorch's and TensorFlow's reductions do.
void merge_backward(MergeOp op, const std::vector<const float*>& x, const float* dy,
                    const std::vector<float*>& dx, int64_t n);

/// How the inputs of a broadcasting merge line up with its output, within one sample (the batch is
/// never broadcast). Each input's shape is taken as padded on the left with size-1 axes to the
/// output's rank (Keras inserts them after the batch axis). `dims` are the output's axes with size-1
/// axes dropped and neighbours merged where every input treats them alike; `strides[k][a]` is input
/// k's step along axis a, 0 where it repeats its values (broadcasts). The last axis's stride is 0 or 1.
/// Built once per set of shapes, so that the kernels below allocate nothing.
struct BroadcastPlan {
  std::vector<int64_t> dims;
  std::vector<int64_t> out_strides;
  std::vector<std::vector<int64_t>> strides;
  std::vector<int64_t> sizes;  // values per sample of each input
  int64_t out_size = 1;        // values per sample of the output
  bool broadcasts = false;     // some input has fewer values than the output
};
/// The plan for inputs of these per-sample shapes merged into per-sample shape `out`; the caller has
/// checked that each input broadcasts to `out` (every axis equal to out's or 1).
BroadcastPlan plan_broadcast(const std::vector<std::vector<int64_t>>& shapes, const std::vector<int64_t>& out);

/// merge_forward over `batch` samples of inputs laid out as `plan` says; y holds batch * out_size.
void merge_forward_broadcast(MergeOp op, const BroadcastPlan& plan, const std::vector<const float*>& x, float* y,
                             int64_t batch);
/// merge_backward for broadcast inputs: dx[k] (batch * sizes[k] values, null: not wanted) is the
/// gradient summed over the positions input k was repeated into. `scratch` holds batch * out_size
/// values for Multiply, Maximum and Minimum (unused, may be null, for the others).
void merge_backward_broadcast(MergeOp op, const BroadcastPlan& plan, const std::vector<const float*>& x,
                              const float* dy, const std::vector<float*>& dx, float* scratch, int64_t batch);

/// Concatenation of inputs viewed as [outer, width_k, inner] along their middle axis: y is
/// [outer, sum(width_k), inner].
void concat_forward(const std::vector<const float*>& x, const std::vector<int64_t>& widths, float* y, int64_t outer,
                    int64_t inner);
/// The inverse split of dy into each dx[k] (null: not wanted).
void concat_backward(const float* dy, const std::vector<int64_t>& widths, const std::vector<float*>& dx,
                     int64_t outer, int64_t inner);

/// y += x over n values (the graph sums the gradients of a tensor used by several layers).
void accumulate(const float* x, float* y, int64_t n);
/// y *= x over n values (the AND of two 0/1 masks).
void multiply_in_place(const float* x, float* y, int64_t n);

}  // namespace myelin::kernels
