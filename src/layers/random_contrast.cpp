#include "myelin/layers/random_contrast.hpp"

#include "kernels/cpu/image_adjust.hpp"

namespace myelin::layers {

RandomContrast::RandomContrast(Factor factor, std::pair<float, float> value_range, std::optional<int64_t> seed,
                               std::optional<Shape> input_shape)
    : RandomColor("RandomContrast", factor_range(factor, 0.0, 1.0, "RandomContrast"), value_range, seed,
                  std::move(input_shape)) {}

float RandomContrast::draw(Rng& rng) const {
  const double lo = 1.0 - range_.first, hi = 1.0 + range_.second;
  return float(lo + (hi - lo) * rng.uniform01());
}

void RandomContrast::apply(int64_t batch, const float* draws, const float* x, float* y, float* pass) const {
  kernels::contrast_forward(batch, height_ * width_, channels_, draws, value_range_.first, value_range_.second, x, y,
                            pass);
}

void RandomContrast::apply_backward(int64_t batch, const float* draws, const float* pass, const float* dy,
                                    float* dx) const {
  kernels::contrast_backward(batch, height_ * width_, channels_, draws, pass, dy, dx);
}

}  // namespace myelin::layers
