// 2-D convolution over NHWC batches, through oneDNN's convolution primitives.
//
// Shapes: x {N, H, W, C} (input), y {N, OH, OW, F} (output), kernel {KH, KW, C, F} (Keras's layout,
// oneDNN's "hwio"), bias {F}. Padding is given per side, so Keras's 'same' padding with an even
// kernel (one more row at the bottom than at the top) is expressed exactly.
//
// With Conv2DLayout::Blocked the primitives choose their layouts (channels in blocks of 16) and the
// kernel converts the NHWC tensors at its edges; with Conv2DLayout::Nhwc, the default, the data
// stay NHWC and only the weights are reordered, except where Winograd applies (3x3, stride 1,
// 16-channel blocks, batch >= 16), which runs on the blocked layout with conversions at its edges.
// In float32 the forward of a 3x3 convolution of stride 1 runs our own Winograd on NHWC data instead
// (winograd.hpp), at any batch size, where its shape suits; the primitives still serve the backward.
// A float32 forward with few output positions in its batch runs as im2col and register blocks
// (conv_few_positions.hpp) on builds where that was measured faster.
// On this project's machines the direct blocked primitives gained less than the conversions cost
// (the CNN's second convolution 8.8 ms blocked against 8.1 NHWC), while Winograd gained more
// (6.4 ms with the conversions); bench/README.md, "Winograd". Primitives are created on the first
// call for a batch size and kept (an epoch's last batch is smaller, inference batches differ), so
// the steady state only executes them; converted weights are kept while they are unchanged.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace myelin::kernels {

struct Conv2DGeometry {
  int64_t batch = 0;
  int64_t in_h = 0, in_w = 0, in_c = 0;
  int64_t out_h = 0, out_w = 0, out_c = 0;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
};

/// Output size and padding along one axis, by Keras's rules: 'valid' keeps only windows inside the
/// input, out = floor((in - effective_kernel) / stride) + 1 (0 when the window does not fit);
/// 'same' gives out = ceil(in / stride), padding the total needed with the odd pixel at the end.
/// effective_kernel = (kernel - 1) * dilation + 1.
struct AxisGeometry {
  int64_t out = 0, pad_begin = 0, pad_end = 0;
};
AxisGeometry conv_axis(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same_padding);

enum class Conv2DLayout { Nhwc, Blocked };

/// Allows or forbids Winograd for the primitives made from now on (layers::set_winograd_convolutions).
void set_winograd_allowed(bool allowed);
bool winograd_allowed();

/// How a bfloat16 convolution's weight gradient is computed.
enum class Bf16WeightGradient {
  Primitive,   // oneDNN's weight-gradient primitive
  Matmul,      // im2col of the forward's bfloat16 x and one bfloat16 matmul
  ImagePairs,  // bf16_weight_gradient_by_image_pairs (conv_weight_gradient_bf16.hpp)
};

/// Forces the bfloat16 weight gradient's way for the primitives made from now on. std::nullopt
/// restores the rule: where oneDNN runs AMX, the matmul if im2col copies the input at most 4 times
/// on average (strided or 1x1 convolutions, few output positions), else the primitive; without
/// AMX, image pairs where the build has that kernel and it takes the shape, else the matmul where
/// the output has few positions, else the primitive. A forced way that cannot run (image pairs on a
/// build without AVX512_BF16 or with out_c not a multiple of 16, the matmul on a forward that did
/// not take plain NHWC bfloat16 x) gives the primitive. For tests and benchmarks.
void force_bf16_weight_gradient(std::optional<Bf16WeightGradient> way);

class Conv2DKernel {
 public:
  explicit Conv2DKernel(Conv2DLayout layout = Conv2DLayout::Nhwc);
  ~Conv2DKernel();
  Conv2DKernel(Conv2DKernel&&) noexcept;
  Conv2DKernel& operator=(Conv2DKernel&&) noexcept;

  /// Multiply in bfloat16 (src, weights and dy rounded; outputs and gradients float32) for the
  /// primitives made from now on; Winograd stays float32, the weight gradient is computed as the CPU
  /// and the shape suit (force_bf16_weight_gradient), and a shape oneDNN serves only with
  /// its reference kernel in bfloat16 (one input channel) computes in float32.
  void set_bf16(bool bf16);

  /// y = conv(x, kernel) + bias + addend (bias and addend may be null; the addend has y's shape and
  /// does not overlap it), then relu when `relu`. g.batch may change between calls.
  /// `kernel_version` 0: the kernel's values are compared with those last converted into oneDNN's
  /// layout. Otherwise the caller promises that the kernel at this address holds the same values
  /// whenever it passes the same nonzero version (a buffer it owns, numbered anew at each change).
  /// x and y are float32 NHWC, or bfloat16 NHWC (uint16_t bits) with `x_bf16` / `y_bf16`: a
  /// convolution's output handed to the next layer in half the bytes, whatever the kernel's own
  /// precision (set_bf16). y is written in bfloat16 exactly when the call returns true: with
  /// `y_bf16`, unless the addend is added in a pass after the primitive (y then holds float32).
  /// A backward follows either (it reads no y; it reads x in the precision the forward took it).
  bool forward(const Conv2DGeometry& g, const void* x, const float* kernel, const float* bias, bool relu, void* y,
               const float* addend = nullptr, uint64_t kernel_version = 0, bool x_bf16 = false, bool y_bf16 = false);
  /// Gradients for the last forward batch (same x, in the forward's precision, and kernel), given
  /// dy = d(loss)/d(conv output before any relu): overwrites dkernel and dbias (when the forward had a
  /// bias; both skipped when dkernel is null) and dx (float32; skipped when null). dy is float32 NHWC,
  /// or bfloat16 NHWC (uint16_t bits) with `dy_bf16`; a bfloat16 kernel rounds a float32 dy (and x)
  /// to bfloat16 as to_bf16 does, so the two give the same gradients for dy and its rounding.
  void backward(const Conv2DGeometry& g, const void* x, const void* dy, const float* kernel, float* dkernel,
                float* dbias, float* dx, bool dy_bf16 = false);
  /// Whether the backward after the last forward reads a bfloat16 dy as it is (the kernel multiplies
  /// in bfloat16 by primitives or the matmul), rather than converting it to float32 first. Either
  /// dy is taken; this says which costs less. False before any forward.
  bool reads_bf16_dy() const;

  /// oneDNN's implementations for the last forward's batch size ("forward=brgconv:avx512_core, ..."),
  /// backward ones once made; empty before any forward. For tests and benchmarks.
  std::string implementations() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace myelin::kernels
