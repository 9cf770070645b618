// Whether weights a kernel derived something from (converted them to another layout, transformed
// them) are the weights it derived it from last time, so that inference calls, which repeat the same
// weights, skip the work. Either the caller numbers each change of the weights it owns (a nonzero
// version, the same at the same address meaning the same values), or the weights are compared with a
// copy kept bit for bit: a comparison, not a flag set by whoever writes the weights, so no path that
// changes them is missed.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace myelin::kernels {

class WeightsSeen {
 public:
  /// Whether the n floats at p are the weights last remembered: the same nonzero `version` at the
  /// same address, or, with version 0, the same n values bit for bit.
  bool unchanged(const float* p, int64_t n, uint64_t version) const {
    if (version != 0) return version == version_ && p == from_;
    return int64_t(kept_.size()) == n && std::memcmp(kept_.data(), p, size_t(n) * sizeof(float)) == 0;
  }
  /// Remembers the n floats at p, with their version (version 0: a copy of the values).
  void remember(const float* p, int64_t n, uint64_t version) {
    from_ = p;
    version_ = version;
    if (version == 0)
      kept_.assign(p, p + n);
    else
      kept_.clear();
  }

 private:
  std::vector<float> kept_;  // version 0: the weights last remembered
  const float* from_ = nullptr;
  uint64_t version_ = 0;
};

}  // namespace myelin::kernels
