#include "myelin/activations.hpp"

#include "kernels/cpu/activation.hpp"
#include "myelin/error.hpp"

namespace myelin {

namespace {
struct Named {
  const char* name;
  ActivationKind kind;
};
constexpr Named kNames[] = {
    {"linear", ActivationKind::Linear},       {"relu", ActivationKind::ReLU},
    {"sigmoid", ActivationKind::Sigmoid},     {"tanh", ActivationKind::Tanh},
    {"softmax", ActivationKind::Softmax},     {"leaky_relu", ActivationKind::LeakyReLU},
    {"elu", ActivationKind::ELU},             {"gelu", ActivationKind::GELU},
    {"softplus", ActivationKind::Softplus},   {"swish", ActivationKind::Swish},
    {"silu", ActivationKind::Swish},
};
}  // namespace

ActivationKind activation_from_name(const std::string& name) {
  if (name.empty() || name == "None") return ActivationKind::Linear;
  for (const auto& n : kNames)
    if (name == n.name) return n.kind;
  std::string known;
  for (const auto& n : kNames) known += std::string(known.empty() ? "" : ", ") + n.name;
  throw ValueError("unknown activation '" + name + "' (known: " + known + ")");
}

std::string activation_name(ActivationKind kind) {
  for (const auto& n : kNames)
    if (n.kind == kind) return n.name;
  return "linear";
}

namespace activations {
Tensor apply(ActivationKind kind, const Tensor& x) {
  Tensor y(x.shape());
  const int64_t cols = x.ndim() >= 2 ? x.dim(-1) : x.size();
  const int64_t rows = cols ? x.size() / cols : 0;
  kernels::bias_activation_forward(kind, x.data(), nullptr, nullptr, y.data(), rows, cols);
  return y;
}
}  // namespace activations

}  // namespace myelin
