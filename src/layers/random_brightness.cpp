#include "myelin/layers/random_brightness.hpp"

#include "kernels/cpu/image_adjust.hpp"

namespace myelin::layers {

RandomBrightness::RandomBrightness(Factor factor, std::pair<float, float> value_range, std::optional<int64_t> seed,
                                   std::optional<Shape> input_shape)
    : RandomColor("RandomBrightness", factor_range(factor, -1.0, 1.0, "RandomBrightness"), value_range, seed,
                  std::move(input_shape)) {}

float RandomBrightness::draw(Rng& rng) const {
  const double d = range_.first + (range_.second - range_.first) * rng.uniform01();
  return float(d * (double(value_range_.second) - double(value_range_.first)));
}

void RandomBrightness::apply(int64_t batch, const float* draws, const float* x, float* y, float* pass) const {
  kernels::brightness_forward(batch, height_ * width_ * channels_, draws, value_range_.first, value_range_.second, x, y,
                              pass);
}

void RandomBrightness::apply_backward(int64_t batch, const float*, const float* pass, const float* dy,
                                      float* dx) const {
  kernels::masked_gradient(batch * height_ * width_ * channels_, pass, dy, dx);
}

}  // namespace myelin::layers
