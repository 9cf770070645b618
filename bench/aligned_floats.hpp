// Float arrays for the benchmarks' operands, 64-byte aligned as the library's tensors are.
//
// With std::vector the alignment of a large array depends on what the process allocated before it,
// and oneDNN's sgemm runs a product whose B operand straddles cache lines up to 1.6x slower (an
// LSTM's 1 x 128 x 512 step; bench/README.md, "GEMM: the matmul primitive for plain products"): a
// benchmark's figure would then move with unrelated changes to the program.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace bench {

template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  template <class U>
  bool operator==(const Aligned64<U>&) const {
    return true;
  }
};

using Floats = std::vector<float, Aligned64<float>>;

}  // namespace bench
