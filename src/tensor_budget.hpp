// A cap on the tensor storage allocated in a scope, for building models from untrusted files: a
// hostile architecture (Dense with 4e9 units) then fails with a clear error before allocating.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace myelin {

class TensorBudget {
 public:
  /// Until destroyed, tensors allocated on this thread may take `bytes` in all; beyond that the
  /// allocation throws IOError("<what>: ...").
  TensorBudget(int64_t bytes, std::string what);
  ~TensorBudget();
  TensorBudget(const TensorBudget&) = delete;
  TensorBudget& operator=(const TensorBudget&) = delete;

  /// Called by Tensor before allocating; throws when the active budget (if any) is exceeded.
  static void charge(int64_t bytes);
  /// Called before building a model with what its layers will need (model_memory.hpp): throws
  /// IOError("<what>: <detail()>...") when the active budget (if any) cannot hold `bytes`, before
  /// any layer allocates.
  static void require(int64_t bytes, const std::function<std::string()>& detail);

 private:
  int64_t left_;
  std::string what_;
  TensorBudget* previous_;
};

}  // namespace myelin
