#include "tensor_budget.hpp"

#include "myelin/error.hpp"

namespace myelin {

namespace {
thread_local TensorBudget* g_active = nullptr;
}

TensorBudget::TensorBudget(int64_t bytes, std::string what) : left_(bytes), what_(std::move(what)), previous_(g_active) {
  g_active = this;
}

TensorBudget::~TensorBudget() { g_active = previous_; }

void TensorBudget::charge(int64_t bytes) {
  TensorBudget* b = g_active;
  if (!b) return;
  if (bytes > b->left_)
    throw IOError(b->what_ + ": the model would need more memory than its file can describe (a tensor of " +
                  std::to_string(bytes) + " bytes); the architecture does not match the weights");
  b->left_ -= bytes;
}

void TensorBudget::require(int64_t bytes, const std::function<std::string()>& detail) {
  const TensorBudget* b = g_active;
  if (b && bytes > b->left_)
    throw IOError(b->what_ + ": " + detail() + ", more than its file can describe; the architecture does not match " +
                  "the weights");
}

}  // namespace myelin
