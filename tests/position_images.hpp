// Test images whose pixels say where they came from, for checking crops, flips and resamplings.
#pragma once
#include <cstdint>

#include "myelin/tensor.hpp"

namespace myelin::test {

/// x[n, r, c, k] = 100 n + 10 r + c + k / 10.
inline Tensor positions(int64_t n, int64_t h, int64_t w, int64_t c) {
  Tensor x({n, h, w, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t q = 0; q < w; ++q)
        for (int64_t k = 0; k < c; ++k) x[((b * h + r) * w + q) * c + k] = float(100 * b + 10 * r + q) + float(k) / 10;
  return x;
}

}  // namespace myelin::test
