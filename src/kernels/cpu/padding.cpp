#include "kernels/cpu/padding.hpp"

#include <cstring>

namespace myelin::kernels {

void zero_pad2d_forward(const Padding2D& p, const float* x, float* y) {
  const int64_t oh = p.out_h(), ow = p.out_w(), C = p.channels, row = p.in_w * C;
  std::memset(y, 0, size_t(p.batch * oh * ow * C) * sizeof(float));
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t i = 0; i < p.in_h; ++i)
      std::memcpy(y + ((n * oh + i + p.top) * ow + p.left) * C, x + (n * p.in_h + i) * row, row * sizeof(float));
}

void zero_pad2d_backward(const Padding2D& p, const float* dy, float* dx) {
  const int64_t oh = p.out_h(), ow = p.out_w(), C = p.channels, row = p.in_w * C;
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t i = 0; i < p.in_h; ++i)
      std::memcpy(dx + (n * p.in_h + i) * row, dy + ((n * oh + i + p.top) * ow + p.left) * C, row * sizeof(float));
}

}  // namespace myelin::kernels
