// Fused bias + activation kernels over row-major [rows, cols] blocks.
//
// Shapes: rows = batch (times any leading dimensions), cols = features; softmax runs along cols.
// Constants follow Keras: leaky_relu slope 0.2, elu alpha 1, gelu exact (erf), swish = x*sigmoid(x).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/activation_lanes.hpp"
#include "myelin/activations.hpp"

namespace myelin::kernels {

/// True when the backward pass needs the pre-activation z (not just the output y).
bool activation_needs_preactivation(ActivationKind kind);

/// z = x + bias (bias may be null, broadcast over rows), y = act(z). z may be null when
/// !activation_needs_preactivation(kind); y may alias x (in place).
void bias_activation_forward(ActivationKind kind, const float* x, const float* bias, float* z, float* y,
                             int64_t rows, int64_t cols);

/// dz = dy * act'(z), computed from y (and z where needed). dz may alias dy.
void activation_backward(ActivationKind kind, const float* dy, const float* y, const float* z, float* dz,
                         int64_t rows, int64_t cols);

/// The relu's gradient from its output written in bfloat16 (as `add` writes it for bfloat16
/// readers): dx = dy where y > 0, else 0, over n values; the float32 output's mask, but where a
/// positive value below bfloat16's smallest subnormal rounded to 0.
void relu_backward(const float* dy, const uint16_t* y_bf16, float* dx, int64_t n);

/// The logistic function of one value: sigmoid_lanes (activation_lanes.hpp) in one lane, so that a
/// value is the same wherever it is computed. The one sigmoid of the library: the activations and
/// the binary cross-entropy from logits (the recurrent cells' gates take sigmoid_gate_lanes). Loops
/// over many values call sigmoid_lanes: a value alone takes about as long as a vector of them.
/// Static: a file built for other vectors (tests without -march=native) keeps its own copy rather
/// than lending it to the library at link time.
static inline float sigmoid(float z) { return sigmoid_lanes(Floats{} + z)[0]; }

/// y = softmax(z) over one row of n values, and the row's log-sum-exp log(sum(exp(z))) as the
/// result (cross-entropy from logits). y may be null: then only the log-sum-exp is computed, with
/// the same value. The one softmax of the library: the activation and the fused losses both use it.
double softmax_row(const float* z, float* y, int64_t n);

/// Column sums of a [rows, cols] block into out[cols] (the bias gradient).
void column_sums(const float* x, float* out, int64_t rows, int64_t cols);

}  // namespace myelin::kernels
