// Element-wise arithmetic over flat arrays of n values, and row gathering: the loops behind Tensor's
// fill, its arithmetic operators and gather_rows.
#pragma once
#include <cstdint>

namespace myelin::kernels {

enum class BinaryOp { Add, Subtract, Multiply, Divide };

/// x[i] = value.
void fill(float* x, int64_t n, float value);
/// out[i] = a[i] op b (out may alias a).
void binary_scalar(BinaryOp op, const float* a, float b, float* out, int64_t n);
/// out[i] = a[i] op b[i] (out may alias a or b).
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n);

/// Row i of dst (row_size values) = row indices[i] of src, for i in [0, count). Indices are not
/// checked here. With `use_threads`, a large gather runs on the OpenMP threads: scattered rows come
/// from main memory, and two threads fetch them faster than one (bench/README.md).
void gather_rows(const float* src, int64_t row_size, const int64_t* indices, int64_t count, float* dst,
                 bool use_threads);
/// Asks the memory for the rows src[indices[i]] (i < count) without waiting for them: what
/// gather_rows then copies arrives sooner.
void prefetch_rows(const float* src, int64_t row_size, const int64_t* indices, int64_t count);

}  // namespace myelin::kernels
