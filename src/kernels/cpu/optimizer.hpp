// Optimizer updates and gradient clipping over flat parameter arrays.
//
// Every pointer covers n values: w the weights, g their gradient, and the rule's state (velocity,
// moments, accumulator) of the same size, updated in place. Hyper-parameters arrive as the floats
// the rules compute in (Keras's update rules; see myelin/optimizers.hpp). The rules that take a
// square root and a division a value (Adam, RMSprop, Adagrad) share a large array with the side core
// lent to the calling thread, if any (side_core.hpp), in the caller's subnormal mode: the values are
// the same bits either way.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// w -= lr * g.
void sgd_update(float* w, const float* g, int64_t n, float lr);
/// velocity = momentum * velocity - lr * g, then w += velocity (nesterov: w += momentum * velocity - lr * g).
void sgd_momentum_update(float* w, const float* g, float* velocity, int64_t n, float lr, float momentum,
                         bool nesterov);
/// m = beta_1 m + (1 - beta_1) g; v = beta_2 v + (1 - beta_2) g^2; w -= alpha m / (sqrt(v) + epsilon),
/// where alpha is the rate with both bias corrections already folded in.
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, float alpha, float beta_1, float beta_2,
                 float epsilon);
/// v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + epsilon).
void rmsprop_update(float* w, const float* g, float* v, int64_t n, float lr, float rho, float epsilon);
/// accumulator += g^2; w -= lr g / sqrt(accumulator + epsilon).
void adagrad_update(float* w, const float* g, float* accumulator, int64_t n, float lr, float epsilon);
/// w *= factor (decoupled weight decay: factor = 1 - lr * weight_decay).
void scale_weights(float* w, int64_t n, float factor);

/// g clipped element-wise to [-limit, limit].
void clip_by_value(float* g, int64_t n, float limit);
/// sum of g^2, accumulated in double in index order (clipnorm and global_clipnorm compare its root).
double squared_norm(const float* g, int64_t n);
/// g = float(g * factor), the product taken in double (rescaling to a clipped norm).
void scale_gradient(float* g, int64_t n, double factor);

}  // namespace myelin::kernels
