// The bfloat16 convolution's weight-gradient ways against each other and against float32, per shape:
// the residual CNN's and the seed CNN's convolutions at batch 128 (the one-channel first layers
// aside: they compute in float32). Prints one line per shape and way: forward, weight gradient
// alone, and a backward with both gradients (what a training step runs), in ms.
//
//   conv_backward_benchmark [--threads N] [--rounds R]
//
// Each way has its own kernel, made under kernels::force_bf16_weight_gradient; the ways run in turn
// within each round, so a drift of the machine reaches all of them; medians of R rounds (default 30).
// A way the shape cannot take (image pairs without AVX512_BF16 in the build) runs the primitive,
// and its line says so through the implementation it names.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "aligned_floats.hpp"
#include "kernels/cpu/conv.hpp"
#include "myelin/threading.hpp"
#include "timing.hpp"

using myelin::kernels::Bf16WeightGradient;
using myelin::kernels::Conv2DGeometry;
using myelin::kernels::Conv2DKernel;

namespace {

struct Shape {
  const char* name;
  Conv2DGeometry g;
};

struct Way {
  const char* name;
  bool bf16;
  std::optional<Bf16WeightGradient> forced;
};

// 3x3 'same' padding at stride 1, or Keras's 'same' at stride 2 (the extra pixel at the end).
Conv2DGeometry conv(int64_t hw, int64_t in_c, int64_t out_c, int64_t k, int64_t stride, bool same) {
  Conv2DGeometry g{.batch = 128, .in_h = hw, .in_w = hw, .in_c = in_c, .out_c = out_c, .kernel_h = k, .kernel_w = k,
                   .stride_h = stride, .stride_w = stride};
  const auto axis = myelin::kernels::conv_axis(hw, k, stride, 1, same);
  g.out_h = g.out_w = axis.out;
  g.pad_top = g.pad_left = axis.pad_begin;
  g.pad_bottom = g.pad_right = axis.pad_end;
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: conv_backward_benchmark [--threads N] [--rounds R]\n");
      return 2;
    }
  }
  myelin::set_num_threads(threads);
  const std::vector<Shape> shapes = {
      {"residual 14x14x32->32 3x3", conv(14, 32, 32, 3, 1, true)},
      {"residual 14x14x32->7x7x64 3x3/2", conv(14, 32, 64, 3, 2, true)},
      {"residual 7x7x64->64 3x3", conv(7, 64, 64, 3, 1, true)},
      {"residual 14x14x32->7x7x64 1x1/2", conv(14, 32, 64, 1, 2, true)},
      {"seed 13x13x32->11x11x64 3x3", conv(13, 32, 64, 3, 1, false)},
      {"seed 5x5x64->3x3x64 3x3", conv(5, 64, 64, 3, 1, false)},
  };
  const std::vector<Way> ways = {{"fp32", false, std::nullopt},
                                 {"bf16 rule", true, std::nullopt},
                                 {"bf16 matmul", true, Bf16WeightGradient::Matmul},
                                 {"bf16 primitive", true, Bf16WeightGradient::Primitive},
                                 {"bf16 pairs", true, Bf16WeightGradient::ImagePairs}};
  uint32_t seed = 1;
  auto fill = [&seed](bench::Floats& v, float scale) {
    for (auto& x : v) x = scale * (float((seed = seed * 1664525u + 1013904223u) >> 8) / 8388608.f - 1.f);
  };
  std::printf("threads=%d rounds=%d\n", myelin::num_threads(), rounds);
  for (const Shape& s : shapes) {
    const Conv2DGeometry& g = s.g;
    bench::Floats x(size_t(g.batch * g.in_h * g.in_w * g.in_c)), w(size_t(g.kernel_h * g.kernel_w * g.in_c * g.out_c)),
        y(size_t(g.batch * g.out_h * g.out_w * g.out_c)), dw(w.size()), dx(x.size());
    fill(x, 1.f);
    fill(w, 0.1f);
    bench::Floats dy(y.size());
    fill(dy, 1.f);
    std::vector<Conv2DKernel> kernels(ways.size());
    for (size_t i = 0; i < ways.size(); ++i) {  // primitives made under the way's setting, then kept
      myelin::kernels::force_bf16_weight_gradient(ways[i].forced);
      kernels[i].set_bf16(ways[i].bf16);
      kernels[i].forward(g, x.data(), w.data(), nullptr, false, y.data());
      kernels[i].backward(g, x.data(), dy.data(), w.data(), dw.data(), nullptr, dx.data());
    }
    myelin::kernels::force_bf16_weight_gradient(std::nullopt);
    std::vector<std::vector<double>> fwd(ways.size()), grad(ways.size()), both(ways.size());
    for (int r = 0; r < rounds; ++r)
      for (size_t i = 0; i < ways.size(); ++i) {
        Conv2DKernel& k = kernels[i];
        auto t = bench::Clock::now();
        k.forward(g, x.data(), w.data(), nullptr, false, y.data());
        fwd[i].push_back(bench::seconds_since(t));
        t = bench::Clock::now();
        k.backward(g, x.data(), dy.data(), w.data(), dw.data(), nullptr, nullptr);
        grad[i].push_back(bench::seconds_since(t));
        t = bench::Clock::now();
        k.backward(g, x.data(), dy.data(), w.data(), dw.data(), nullptr, dx.data());
        both[i].push_back(bench::seconds_since(t));
      }
    for (size_t i = 0; i < ways.size(); ++i)
      std::printf("%-34s %-15s forward %.3f  weight_gradient %.3f  backward %.3f ms  %s\n", s.name, ways[i].name,
                  1e3 * bench::median(fwd[i]), 1e3 * bench::median(grad[i]), 1e3 * bench::median(both[i]),
                  kernels[i].implementations().c_str());
  }
}
