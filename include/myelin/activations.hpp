// Activation functions by Keras's names. Layers fuse them into their own kernels.
#pragma once
#include <string>

#include "myelin/tensor.hpp"

namespace myelin {

enum class ActivationKind { Linear, ReLU, Sigmoid, Tanh, Softmax, LeakyReLU, ELU, GELU, Softplus, Swish };

/// "relu" -> ActivationKind::ReLU. Accepts Keras's names ("linear", "relu", "sigmoid", "tanh",
/// "softmax", "leaky_relu", "elu", "gelu", "softplus", "swish" or "silu"); "" means linear.
/// Throws ValueError naming the unknown activation.
ActivationKind activation_from_name(const std::string& name);
/// Keras's name of an activation.
std::string activation_name(ActivationKind kind);

namespace activations {
/// Applies an activation to every row of x (softmax over the last axis) and returns the result.
Tensor apply(ActivationKind kind, const Tensor& x);
inline Tensor apply(const std::string& name, const Tensor& x) { return apply(activation_from_name(name), x); }
}  // namespace activations

}  // namespace myelin
