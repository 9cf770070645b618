#include "kernels/cpu/conv.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/conv_few_positions.hpp"
#include "kernels/cpu/conv_weight_gradient_bf16.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/im2col.hpp"
#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/merge.hpp"
#include "kernels/cpu/onednn_engine.hpp"
#include "kernels/cpu/weights_seen.hpp"
#include "kernels/cpu/winograd.hpp"
#include "myelin/error.hpp"

namespace myelin::kernels {

using dnnl::memory;
using tag = memory::format_tag;

AxisGeometry conv_axis(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same_padding) {
  const int64_t eff = (kernel - 1) * dilation + 1;
  AxisGeometry a;
  if (same_padding) {
    a.out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((a.out - 1) * stride + eff - in, 0);
    a.pad_begin = total / 2;
    a.pad_end = total - a.pad_begin;
  } else {
    a.out = in >= eff ? (in - eff) / stride + 1 : 0;
  }
  return a;
}

namespace {

dnnl::stream& stream() {
  static dnnl::stream s(onednn_engine());
  return s;
}

// oneDNN's Winograd kernel computes 4x4 output tiles of 3x3 windows (stride 1, no dilation) on
// channels in blocks of 16. On the CNN's second convolution (13x13x32 -> 11x11x64, batch 128) it
// ran forward and backward in 6.4 ms against 8.1-8.7 ms for the direct kernel, conversions to and
// from its layout included; with few output positions (the third convolution's 3x3) the tiles are
// mostly padding and the direct kernel wins, and below batch 16 the per-call transforms of the
// weights cost more than the tiles save (1 image: 79 us against 33 us for the direct kernel;
// bench/README.md, "Winograd"). Forward and backward were made for all 480 shapes of a probe
// (16-128 channels in, 16-96 out, 'valid' and 'same', batches 16, 17, 128). Should oneDNN refuse a
// forward, the direct kernel takes its place (Impl::entry); a refused backward would be an Error.
std::atomic<bool> g_winograd_allowed{true};
constexpr int64_t kWinogradMinOutput = 64;
constexpr int64_t kWinogradMinBatch = 16;
// Our own Winograd (winograd.hpp) on fewer tiles lost to the direct kernel: the seed CNN's third
// convolution at batch 1 (5x5x64 -> 3x3x64, one 4x4 tile) took 11.2 us against 7.4-8.9; from 4 tiles
// on (a 7x7 output, or that convolution at batch 4) it won by 1.3-1.7 times (bench/README.md,
// "Our own Winograd forward").
constexpr int64_t kOwnWinogradMinTiles = 4;
bool winograd_suits(const Conv2DGeometry& g) {
  return g.batch >= kWinogradMinBatch && g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 &&
         g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 && g.in_c % 16 == 0 && g.out_c % 16 == 0 &&
         g.out_h * g.out_w >= kWinogradMinOutput;
}

// Patches this small (a first layer on one-channel images: 3x3x1) make oneDNN's weight-gradient
// primitive slow: 2.9 ms for the CNN's first layer at batch 128, against 0.4 ms as im2col + one
// GEMM (bench/README.md, "First convolution's weight gradient").
constexpr int64_t kSmallPatch = 16;
// Few output positions (the CNN's third convolution: 3x3 of them) make it slow too: 1.97 -> 1.36 ms
// for that layer's backward at batch 128 as im2col + GEMM; with 11x11 positions the primitive wins.
constexpr int64_t kSmallOutput = 16;

// -1: the rule below; otherwise a forced Bf16WeightGradient (force_bf16_weight_gradient).
std::atomic<int> g_forced_bww_way{-1};
// How many times im2col copies the input, on average: each output position takes a whole patch.
double im2col_copies(const Conv2DGeometry& g) {
  return double(g.out_h * g.out_w * g.kernel_h * g.kernel_w) / double(g.in_h * g.in_w);
}
// With AMX the matmul pays where im2col copies the input at most this many times (strided or 1x1
// convolutions, few output positions), the primitive elsewhere. Measured at batch 128, backward
// with both gradients, ms (bench/README.md, "The bfloat16 weight gradient's way with AMX"):
// 14x14x32 -> 32, 3x3 (9 copies): matmul 3.33, primitive 1.23; 13x13x32 -> 11x11x64 (6.4): 2.72,
// 2.26; 5x5x64 -> 3x3x64 (3.2): 0.51, 0.73; 14x14x32 -> 7x7x64, 1x1 stride 2 (0.25): 0.37, 0.59.
constexpr double kAmxMatmulMaxCopies = 4;
// The bfloat16 weight gradient's way. With AVX512_BF16 alone the primitive took 2.9 ms for the seed
// CNN's second convolution, the matmul 4.1 and image pairs 1.8 (bench/README.md, "The weight
// gradient without AMX", "The bfloat16 weight gradient by pairs of images").
Bf16WeightGradient bf16_weight_gradient_way(const Conv2DGeometry& g) {
  const int forced = g_forced_bww_way;
  if (forced >= 0) return static_cast<Bf16WeightGradient>(forced);
  if (amx_supported())
    return im2col_copies(g) <= kAmxMatmulMaxCopies ? Bf16WeightGradient::Matmul : Bf16WeightGradient::Primitive;
  if (image_pairs_weight_gradient_fits(g)) return Bf16WeightGradient::ImagePairs;
  return g.out_h * g.out_w <= kSmallOutput ? Bf16WeightGradient::Matmul : Bf16WeightGradient::Primitive;
}

// One argument of a primitive: the caller's memory (NHWC data or hwio weights, pointer set on each
// call) and, when the primitive wants another layout, a buffer of its own with the reorder between them.
struct Port {
  memory user, prim;
  dnnl::reorder convert;  // user -> prim for inputs, prim -> user for outputs
  bool same = true;

  Port() = default;
  Port(const memory::desc& user_md, const memory::desc& prim_md, bool input) {
    user = memory(user_md, onednn_engine(), DNNL_MEMORY_NONE);
    same = user_md == prim_md;
    if (same) {
      prim = user;
    } else {
      prim = memory(prim_md, onednn_engine());  // owned: allocated once, when the batch size is first seen
      convert = input ? dnnl::reorder(user, prim) : dnnl::reorder(prim, user);
    }
  }
  // Points the port at the caller's buffer; an input is converted into the primitive's layout.
  // p: float32, or bfloat16 where the caller's memory is (Conv2DKernel::forward's x_bf16).
  void bind_input(const void* p) {
    user.set_data_handle(const_cast<void*>(p));
    if (!same) convert.execute(stream(), user, prim);
  }
  void bind_output(void* p) { user.set_data_handle(p); }
  void finish_output() {
    if (!same) convert.execute(stream(), prim, user);
  }
};

// The weights' port: converted only when the weights changed since the last call (weights_seen.hpp).
// Inference calls repeat the same weights; comparing them with a kept copy costs less than converting
// them again (the batch-1 latency of the CNN, three convolutions: 9 us of reorders; bench/README.md).
struct WeightsPort : Port {
  WeightsSeen seen;

  using Port::Port;
  void bind_input(const float* p, uint64_t version = 0) {
    user.set_data_handle(const_cast<float*>(p));
    if (same) return;
    const int64_t n = int64_t(user.get_desc().get_size() / sizeof(float));
    if (seen.unchanged(p, n, version)) return;
    convert.execute(stream(), user, prim);
    seen.remember(p, n, version);
  }
};

}  // namespace

// Everything made for one batch size (and relu flag).
struct Entry {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  Port x, y;
  WeightsPort w;
  memory b;
  bool has_bias = false;
  // Winograd F(4x4, 3x3) on oneDNN's blocked layout, the data converted at the edges; otherwise
  // the direct algorithm on the kernel's layout.
  bool winograd = false;
  // The forward by our own Winograd (winograd.hpp, Impl::own_winograd_suits); the primitive above
  // is made for the backward all the same.
  bool own_winograd = false;
  // The forward by im2col and register blocks (conv_few_positions.hpp, Impl::few_positions_fit); the
  // primitive is made for the backward all the same.
  bool few_positions = false;
  bool own_forward() const { return own_winograd || few_positions; }
  bool x_bound = false;  // the last forward's x bound to (and converted into) the port x
  // Multiplying in bfloat16: the kernel's setting, unless oneDNN has only its reference
  // implementation for this shape in bfloat16 (see Impl::is_reference).
  bool bf16 = false;
  // The bfloat16 inputs (x, dy) as plain NHWC rather than a layout oneDNN chooses: on a CPU with
  // AVX512_BF16 and no AMX, oneDNN 2.6 has only its reference kernel for a chosen-layout bfloat16 x
  // with the float32 NHWC y, and an optimised one for NHWC x (brgconv:avx512_core_bf16).
  bool bf16_plain = false;
  bool relu = false;  // fused into the forward
  // The caller's x, and y, in bfloat16 NHWC rather than float32 (Conv2DKernel::forward): y only
  // where no pass after the primitive reads it (add_after), see writes_y_bf16.
  bool x_bf16 = false, y_bf16 = false;
  bool writes_y_bf16() const { return y_bf16 && !add_after; }
  // An addend (Conv2DKernel::forward): added by the primitive as a binary post-op before its relu,
  // or, where the primitive takes no such post-op (Winograd, a chosen layout), in a pass after it.
  // add_by_sum: copied into y first and added by a sum post-op instead (see sum_addend_pays).
  bool addend = false, add_after = false, add_by_sum = false;
  bool adds_in_primitive() const { return addend && !add_after && !add_by_sum; }  // the binary post-op
  memory add_src;

  bool backward_made = false;
  dnnl::convolution_backward_weights::primitive_desc bww_pd;
  dnnl::convolution_backward_weights bww;
  dnnl::convolution_backward_data::primitive_desc bwd_pd;
  dnnl::convolution_backward_data bwd;
  Port bww_x, bww_dy, bww_dw, bwd_dy, bwd_dx;
  WeightsPort bwd_w;
  memory db;
  // Argument lists, made once: the memory objects persist and only their data pointers change.
  std::unordered_map<int, memory> fwd_args, bww_args, bwd_args;
  bool bww_x_is_fwd_x = false, bwd_dy_is_bww_dy = false;
  // The weight gradient's way in bfloat16 (Impl::make_backward). By matmul, im2col of the forward's
  // bfloat16 x: dy16 then points at the kernel's bfloat16 dy, which backward-data reads too when it
  // wants NHWC.
  Bf16WeightGradient bww_way = Bf16WeightGradient::Primitive;
  bool bwd_dy_is_dy16 = false;
  memory dy16;
  // The caller's dy in bfloat16 NHWC rather than float32 (Conv2DKernel::backward's dy_bf16): the
  // ports reading it were made for that.
  bool dy_bf16 = false;
  Conv2DGeometry geometry;  // the forward's
  // One image in float32 split by output rows, one part per thread (Impl::make_row_parts): each part
  // a primitive of its own over the input rows its outputs read, run on its thread alone. Empty:
  // the one primitive above, threaded by oneDNN.
  struct RowPart {
    dnnl::convolution_forward fwd;
    dnnl::stream stream;
    memory x, y, add_src, scratchpad;
    int64_t x_offset = 0, y_offset = 0;  // values from the image's start to the part's first row
    std::unordered_map<int, memory> args;
    std::exception_ptr failed;  // what its call threw on its thread, rethrown on the caller's
  };
  std::vector<RowPart> row_parts;
};

struct Conv2DKernel::Impl {
  Conv2DLayout layout;
  bool bf16 = false;
  // By batch size, relu, bias (an inference pass may fold a bias in: Layer::can_fold_next), addend,
  // Winograd allowed, and x and y in bfloat16.
  std::map<std::tuple<int64_t, bool, bool, bool, bool, bool, bool>, Entry> entries;
  std::vector<const float*> add_inputs = std::vector<const float*>(2);  // the pass after: y, addend
  std::vector<float> cols;   // im2col buffer for the weight gradient by GEMM
  std::vector<float> few_positions_cols;  // the im2col buffer of a forward of few positions
  std::vector<float> grads;  // that GEMM's output: the kernel's gradient, then the bias's
  std::vector<double> sums;  // the one-channel weight gradient's per-thread sums
  std::vector<uint16_t> cols16, dy16;  // the bfloat16 im2col buffer and dy (rounded from float32)
  std::vector<float> dy32, x32;        // dy and x converted from bfloat16, for the kernels reading float32

  // The caller's NHWC memory (user: float32, or bfloat16 with `bf16`, a tensor handed over between
  // convolutions), or what the primitive may choose (its blocked layouts for Winograd and for
  // Conv2DLayout::Blocked). In bfloat16 the inputs of a primitive (src, dy: `input`) are converted
  // anyway, so the primitive chooses their layout too unless `plain`; its float32 outputs stay NHWC,
  // and so does a bfloat16 output (`bf16` and `input` for it, with `plain`).
  memory::desc data_md(int64_t n, int64_t h, int64_t w, int64_t c, bool user, bool winograd = false,
                       bool input = false, bool bf16 = false, bool plain = false) const {
    const auto bf16_type = memory::data_type::bf16, f32_type = memory::data_type::f32;
    if (user) return memory::desc({n, c, h, w}, bf16 ? bf16_type : f32_type, tag::nhwc);
    const bool low = bf16 && input;
    const bool any = !plain && (winograd || layout == Conv2DLayout::Blocked || low);
    return memory::desc({n, c, h, w}, low ? bf16_type : f32_type, any ? tag::any : tag::nhwc);
  }
  static dnnl::algorithm algorithm(const Entry& e) {
    return e.winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
  }
  // The primitive's weights: bfloat16 as an input, float32 as a gradient.
  static memory::desc weights_md(const Conv2DGeometry& g, bool user, bool input = true, bool bf16 = false) {
    const auto dt = !user && bf16 && input ? memory::data_type::bf16 : memory::data_type::f32;
    return memory::desc({g.out_c, g.in_c, g.kernel_h, g.kernel_w}, dt, user ? tag::hwio : tag::any);
  }
  static memory::dims strides(const Conv2DGeometry& g) { return {g.stride_h, g.stride_w}; }
  static memory::dims dilates(const Conv2DGeometry& g) { return {g.dilation_h - 1, g.dilation_w - 1}; }  // oneDNN counts the gaps
  static memory::dims pad_l(const Conv2DGeometry& g) { return {g.pad_top, g.pad_left}; }
  static memory::dims pad_r(const Conv2DGeometry& g) { return {g.pad_bottom, g.pad_right}; }

  Entry& entry(const Conv2DGeometry& g, bool relu, bool has_bias, bool has_addend, bool x_bf16, bool y_bf16) {
    const bool allowed = winograd_allowed();
    auto key = std::make_tuple(g.batch, relu, has_bias, has_addend, allowed, x_bf16, y_bf16);
    auto it = entries.find(key);
    if (it != entries.end()) return it->second;
    Entry e;
    e.has_bias = has_bias;
    e.winograd = allowed && !bf16 && layout == Conv2DLayout::Nhwc && winograd_suits(g);
    e.bf16 = bf16;
    e.relu = relu;
    e.addend = has_addend;
    e.add_after = has_addend && (e.winograd || layout != Conv2DLayout::Nhwc);
    e.x_bf16 = x_bf16;
    e.y_bf16 = y_bf16;
    try {
      make_forward(g, e);
    } catch (const dnnl::error&) {
      // This oneDNN build or CPU has no kernel taking the addend as a post-op (the pass after then),
      // or no Winograd kernel for it (the direct one then).
      if (e.addend && !e.add_after)
        e.add_after = true;
      else if (e.winograd)
        e.winograd = false;
      else
        throw;
      make_forward(g, e);
    }
    // Only a reference kernel with the addend as a post-op: the pass after it.
    if (e.addend && !e.add_after && is_reference(e.fwd_pd)) {
      e.add_after = true;
      make_forward(g, e);
    }
    // A reference kernel in bfloat16: plain NHWC inputs next (Entry::bf16_plain), float32 last.
    if (e.bf16 && is_reference(e.fwd_pd)) {
      e.bf16_plain = true;
      make_forward(g, e);
    }
    if (e.bf16 && is_reference(e.fwd_pd)) {
      e.bf16 = e.bf16_plain = false;
      make_forward(g, e);
    }
    // A small batch's addend by the sum post-op gains more than a bfloat16 y saves (the residual
    // CNN's batch-1 latency: 10 us against two 2 us conversions by the readers): float32 y then.
    if (sum_addend_pays(g, e) && e.writes_y_bf16()) {
      e.y_bf16 = false;
      make_forward(g, e);
    }
    if (sum_addend_pays(g, e) && e.y.same) {
      e.add_by_sum = true;
      make_forward(g, e);
      if (!starts_with(e.fwd_pd, "brg")) {  // no faster kernel for the sum either: the binary post-op
        e.add_by_sum = false;
        make_forward(g, e);
      }
    }
    e.own_winograd = own_winograd_suits(g, e);
    e.few_positions = !e.own_winograd && few_positions_fit(g, e);
    if (!e.own_forward() && row_parts_suit(g, e)) make_row_parts(g, e);
    return entries.emplace(key, std::move(e)).first->second;
  }

  // oneDNN 2.6's AMX convolutions of the brgconv kind take no binary post-op, so an addend sends a
  // bfloat16 convolution to its older AMX kernel (jit:avx512_core_amx_bf16), which at batch 1 took
  // 13.5-15.5 us against 4.0-6.4 us for brgconv with the addend copied into y and added by a sum
  // post-op (the residual CNN's 14x14x32 3x3 and 1x1 stride-2 convolutions). The copy grows with the
  // batch, the kernel's fixed cost does not: the two were even at 50-200 KB of y (batch 4-16), so the
  // sum is taken up to 128 KB. Without AMX (brgconv:avx512_core_bf16 against jit_bf16) and in float32
  // the binary post-op was as fast or faster at every batch; bench/README.md, "The residual CNN's
  // bfloat16 batch-1 latency: the addend by a sum post-op".
  static constexpr int64_t kSumAddendMaxBytes = 128 * 1024;
  static bool sum_addend_pays(const Conv2DGeometry& g, const Entry& e) {
    const int64_t y_bytes = g.batch * g.out_h * g.out_w * g.out_c * int64_t(sizeof(float));
    return e.addend && !e.add_after && e.bf16 && y_bytes <= kSumAddendMaxBytes && starts_with(e.fwd_pd, "jit:") &&
           std::string(e.fwd_pd.impl_info_str()).find("amx") != std::string::npos;
  }
  template <class PD>
  static bool starts_with(const PD& pd, const char* prefix) {
    return std::string(pd.impl_info_str()).rfind(prefix, 0) == 0;
  }

  // oneDNN 2.6 has no optimised bfloat16 convolution for some shapes and falls back to its reference
  // implementation: on the CNN's first layer (1 channel in, 32 out, 3x3, batch 128) "ref:any" took
  // 250-350 ms per forward call against 5-8 ms for float32's brgconv, which made a bfloat16 epoch
  // about 20 times slower than a float32 one (bench/README.md, "bfloat16 mixed precision"). Such a
  // layer computes in float32 instead: the same results within bfloat16's rounding, at float32's speed.
  template <class PD>
  static bool is_reference(const PD& pd) {
    return starts_with(pd, "ref");
  }

  // The forward's primitive descriptor for geometry g as entry e has it (its precision, bias, relu,
  // addend and layouts); `weights`: a weights layout to take rather than the primitive's choice; with
  // user_scratchpad the caller passes the primitive its scratchpad.
  dnnl::convolution_forward::primitive_desc forward_pd(const Conv2DGeometry& g, const Entry& e,
                                                       const memory::desc* weights = nullptr,
                                                       bool user_scratchpad = false) const {
    const bool has_bias = e.has_bias, relu = e.relu;
    const auto x_md = data_md(g.batch, g.in_h, g.in_w, g.in_c, false, e.winograd, true, e.bf16, e.bf16_plain);
    // A bfloat16 y straight from a bfloat16 primitive, NHWC as the float32 one; a float32 primitive's
    // y converts at the edge (Port).
    const bool y16 = e.bf16 && e.writes_y_bf16();
    const auto y_md = data_md(g.batch, g.out_h, g.out_w, g.out_c, false, e.winograd, y16, y16,
                              y16 && layout == Conv2DLayout::Nhwc);
    const memory::desc b_md({g.out_c}, memory::data_type::f32, tag::x);
    const auto w_md = weights ? *weights : weights_md(g, false, true, e.bf16);
    auto d = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm(e), x_md, w_md,
                                                        b_md, y_md, strides(g), dilates(g), pad_l(g), pad_r(g))
                      : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm(e), x_md, w_md,
                                                        y_md, strides(g), dilates(g), pad_l(g), pad_r(g));
    // relu(conv + bias + addend): the relu after the addend, so in the pass after it where that adds it.
    dnnl::post_ops po;
    const auto y_user = data_md(g.batch, g.out_h, g.out_w, g.out_c, true);
    if (e.adds_in_primitive()) po.append_binary(dnnl::algorithm::binary_add, y_user);
    if (e.add_by_sum) po.append_sum(1.f);
    if (relu && !(e.addend && e.add_after)) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    if (user_scratchpad) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return dnnl::convolution_forward::primitive_desc(d, attr, onednn_engine());
  }

  void make_forward(const Conv2DGeometry& g, Entry& e) const {
    const memory::desc b_md({g.out_c}, memory::data_type::f32, tag::x);
    const auto y_user = data_md(g.batch, g.out_h, g.out_w, g.out_c, true);
    e.row_parts.clear();
    e.fwd_pd = forward_pd(g, e);
    e.fwd = dnnl::convolution_forward(e.fwd_pd);
    e.x = Port(data_md(g.batch, g.in_h, g.in_w, g.in_c, true, false, true, e.x_bf16), e.fwd_pd.src_desc(), true);
    e.w = WeightsPort(weights_md(g, true), e.fwd_pd.weights_desc(), true);
    e.y = Port(data_md(g.batch, g.out_h, g.out_w, g.out_c, true, false, false, e.writes_y_bf16()), e.fwd_pd.dst_desc(),
               false);
    e.fwd_args = {{DNNL_ARG_SRC, e.x.prim}, {DNNL_ARG_WEIGHTS, e.w.prim}, {DNNL_ARG_DST, e.y.prim}};
    if (e.has_bias) {
      e.b = memory(b_md, onednn_engine(), DNNL_MEMORY_NONE);
      e.fwd_args[DNNL_ARG_BIAS] = e.b;
    }
    if (e.adds_in_primitive()) {
      e.add_src = memory(y_user, onednn_engine(), DNNL_MEMORY_NONE);
      e.fwd_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = e.add_src;
    }
  }

  // One image in float32 on several threads: each oneDNN kernel divides the work by a rule of its
  // own, so a thread reads data the other core wrote in the convolution before. Each thread
  // computing its own band of output rows, as the layers before and after it do, ran the residual
  // CNN's five convolutions in 38.7-42.0 us against 46.6-48.5 (bench/README.md, "The residual CNN's
  // float32 batch-1 latency: one band of rows per thread"). Only where every part takes the same
  // weights layout as the whole (they share its converted weights) and the caller's NHWC memory, and
  // every thread gets a band of kMinBandRows rows or more: a thinner band reads more rows than it
  // computes. With more threads than such bands oneDNN's own split stays (the bands were measured on
  // two threads only).
  static constexpr int64_t kMinBandRows = 3;
  WinogradConv3x3 own_winograd;  // shared by the entries: the weights are the same for every batch size
  // Our own Winograd for the forward, multiplying in float32, on the caller's NHWC x in either
  // precision: it keeps its transformed weights, where oneDNN's transforms them on every call (which
  // lost below batch 16), and reads and writes NHWC, where oneDNN's converts x and y to and from its
  // blocked layout. At batch 128 the seed CNN's second convolution took 1.15 ms against 1.51 for
  // oneDNN's; the residual CNN's 7x7x64 one, which oneDNN's Winograd does not take, 0.83 against 1.70
  // direct (bench/README.md, "Our own Winograd forward").
  bool own_winograd_suits(const Conv2DGeometry& g, const Entry& e) const {
    return winograd_allowed() && !e.bf16 && layout == Conv2DLayout::Nhwc && WinogradConv3x3::takes(g) &&
           WinogradConv3x3::tiles(g) >= kOwnWinogradMinTiles;
  }

  // Few output positions (conv_few_positions.hpp) in float32 on the caller's NHWC data, where our own
  // Winograd does not run: against it, 25 positions (5x5x64 'same') were faster this way and 49 (the
  // residual CNN's 7x7x64) slower (bench/README.md, "Convolutions with few output positions").
  bool few_positions_fit(const Conv2DGeometry& g, const Entry& e) const {
    return !e.bf16 && !e.x_bf16 && !e.y_bf16 && layout == Conv2DLayout::Nhwc && few_positions_suit(g);
  }

  bool row_parts_suit(const Conv2DGeometry& g, const Entry& e) const {
    const int threads = omp_get_max_threads();
    return g.batch == 1 && !e.bf16 && !e.x_bf16 && !e.winograd && layout == Conv2DLayout::Nhwc && !e.add_after &&
           !e.add_by_sum && e.x.same && e.y.same && threads >= 2 && g.out_h >= kMinBandRows * threads;
  }

  void make_row_parts(const Conv2DGeometry& g, Entry& e) const {
    const int64_t parts = omp_get_max_threads();
    const int64_t extent = (g.kernel_h - 1) * g.dilation_h + 1;  // input rows one output row reads
    // The whole's weights layout asked for: a band's own choice may differ (the seed CNN's 13x13 and
    // 5x5 convolutions). Without an optimised kernel for it, no bands.
    const memory::desc w_md = e.fwd_pd.weights_desc();
    std::vector<Entry::RowPart> made;
    for (int64_t t = 0; t < parts; ++t) {
      const int64_t first = g.out_h * t / parts, end = g.out_h * (t + 1) / parts;  // output rows
      // The input rows read, padding included, and the part of them inside the image.
      const int64_t from = first * g.stride_h - g.pad_top, to = (end - 1) * g.stride_h - g.pad_top + extent;
      const int64_t in_first = std::max<int64_t>(0, from), in_end = std::min(g.in_h, to);
      if (in_end <= in_first) return;  // a band of padding alone
      Conv2DGeometry band = g;
      band.in_h = in_end - in_first;
      band.out_h = end - first;
      band.pad_top = in_first - from;
      band.pad_bottom = to - in_end;
      dnnl::convolution_forward::primitive_desc pd;
      try {
        pd = forward_pd(band, e, &w_md, true);
      } catch (const dnnl::error&) {
        return;
      }
      const auto x_md = data_md(1, band.in_h, g.in_w, g.in_c, true), y_md = data_md(1, band.out_h, g.out_w, g.out_c, true);
      if (is_reference(pd) || pd.src_desc() != x_md || pd.dst_desc() != y_md) return;
      Entry::RowPart part{dnnl::convolution_forward(pd), dnnl::stream(onednn_engine()),
                          memory(x_md, onednn_engine(), DNNL_MEMORY_NONE),
                          memory(y_md, onednn_engine(), DNNL_MEMORY_NONE),
                          memory(), memory(pd.scratchpad_desc(), onednn_engine()),
                          in_first * g.in_w * g.in_c, first * g.out_w * g.out_c, {}, nullptr};
      part.args = {{DNNL_ARG_SRC, part.x}, {DNNL_ARG_WEIGHTS, e.w.prim}, {DNNL_ARG_DST, part.y},
                   {DNNL_ARG_SCRATCHPAD, part.scratchpad}};
      if (e.has_bias) part.args[DNNL_ARG_BIAS] = e.b;
      if (e.addend) {
        part.add_src = memory(y_md, onednn_engine(), DNNL_MEMORY_NONE);
        part.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = part.add_src;
      }
      made.push_back(std::move(part));
    }
    e.row_parts = std::move(made);
  }

  // The forward by row parts, each on its thread; oneDNN runs a primitive called inside a parallel
  // region on the calling thread alone.
  static void run_row_parts(Entry& e, const void* x, void* y, const float* addend) {
    const int parts = int(e.row_parts.size());
#pragma omp parallel for schedule(static) num_threads(parts)
    for (int t = 0; t < parts; ++t) {
      Entry::RowPart& p = e.row_parts[size_t(t)];
      try {
        p.x.set_data_handle(const_cast<float*>(static_cast<const float*>(x) + p.x_offset));
        p.y.set_data_handle(static_cast<float*>(y) + p.y_offset);
        if (addend) p.add_src.set_data_handle(const_cast<float*>(addend + p.y_offset));
        p.fwd.execute(p.stream, p.args);
        p.stream.wait();
      } catch (...) {
        p.failed = std::current_exception();  // an exception may not leave the region
      }
    }
    for (auto& p : e.row_parts)
      if (p.failed) std::rethrow_exception(std::exchange(p.failed, nullptr));
  }

  // Returns false when the forward had to be made again (in float32, the backward having no
  // bfloat16 kernel but the reference one): the caller then binds the forward's x again.
  bool make_backward(const Conv2DGeometry& g, Entry& e) {
    const auto x_md = data_md(g.batch, g.in_h, g.in_w, g.in_c, false, e.winograd, true, e.bf16, e.bf16_plain);
    const auto dy_md = data_md(g.batch, g.out_h, g.out_w, g.out_c, false, e.winograd, true, e.bf16, e.bf16_plain);
    const auto dx_md = data_md(g.batch, g.in_h, g.in_w, g.in_c, false, e.winograd);
    const memory::desc b_md({g.out_c}, memory::data_type::f32, tag::x);
    auto dw = e.has_bias ? dnnl::convolution_backward_weights::desc(algorithm(e), x_md,
                                                                    weights_md(g, false, false), b_md, dy_md, strides(g),
                                                                    dilates(g), pad_l(g), pad_r(g))
                         : dnnl::convolution_backward_weights::desc(algorithm(e), x_md,
                                                                    weights_md(g, false, false), dy_md, strides(g),
                                                                    dilates(g), pad_l(g), pad_r(g));
    e.bww_pd = dnnl::convolution_backward_weights::primitive_desc(dw, onednn_engine(), e.fwd_pd);
    auto dd = dnnl::convolution_backward_data::desc(algorithm(e), dx_md, weights_md(g, false, true, e.bf16),
                                                    dy_md, strides(g), dilates(g), pad_l(g), pad_r(g));
    e.bwd_pd = dnnl::convolution_backward_data::primitive_desc(dd, onednn_engine(), e.fwd_pd);
    if (e.bf16 && (is_reference(e.bww_pd) || is_reference(e.bwd_pd))) {
      e.bf16 = e.bf16_plain = false;
      make_forward(g, e);
      make_backward(g, e);
      return false;
    }
    e.bww = dnnl::convolution_backward_weights(e.bww_pd);
    e.bwd = dnnl::convolution_backward_data(e.bwd_pd);

    const auto x_user = data_md(g.batch, g.in_h, g.in_w, g.in_c, true);
    // The forward already converted x; backward-weights reuses that copy when it wants the same layout.
    e.bww_x_is_fwd_x = e.bww_pd.src_desc() == e.fwd_pd.src_desc();
    if (!e.bww_x_is_fwd_x)
      e.bww_x = Port(data_md(g.batch, g.in_h, g.in_w, g.in_c, true, false, true, e.x_bf16), e.bww_pd.src_desc(), true);
    e.bww_dw = Port(weights_md(g, true), e.bww_pd.diff_weights_desc(), false);
    e.bwd_dy_is_bww_dy = e.bwd_pd.diff_dst_desc() == e.bww_pd.diff_dst_desc();
    e.bwd_w = WeightsPort(weights_md(g, true), e.bwd_pd.weights_desc(), true);
    e.bwd_dx = Port(x_user, e.bwd_pd.diff_src_desc(), false);
    e.bww_args = {{DNNL_ARG_SRC, e.bww_x_is_fwd_x ? e.x.prim : e.bww_x.prim},
                  {DNNL_ARG_DIFF_WEIGHTS, e.bww_dw.prim}};
    if (e.has_bias) {
      e.db = memory(b_md, onednn_engine(), DNNL_MEMORY_NONE);
      e.bww_args[DNNL_ARG_DIFF_BIAS] = e.db;
    }
    e.bwd_args = {{DNNL_ARG_WEIGHTS, e.bwd_w.prim}, {DNNL_ARG_DIFF_SRC, e.bwd_dx.prim}};
    make_dy_ports(g, e);
    // By matmul, backward-data reads the kernel's bfloat16 dy where it wants it as plain NHWC.
    const memory::desc y16_md({g.batch, g.out_c, g.out_h, g.out_w}, memory::data_type::bf16, tag::nhwc);
    e.bww_way = weight_gradient_way(g, e);
    e.bwd_dy_is_dy16 = e.bww_way == Bf16WeightGradient::Matmul && e.bwd_pd.diff_dst_desc() == y16_md;
    if (e.bwd_dy_is_dy16) {
      e.dy16 = memory(y16_md, onednn_engine(), DNNL_MEMORY_NONE);
      e.bwd_args[DNNL_ARG_DIFF_DST] = e.dy16;
    }
    e.backward_made = true;
    return true;
  }

  // The ports reading dy, for the caller's dy in float32 or, with e.dy_bf16, bfloat16.
  void make_dy_ports(const Conv2DGeometry& g, Entry& e) const {
    const auto dy_user = data_md(g.batch, g.out_h, g.out_w, g.out_c, true, false, true, e.dy_bf16);
    e.bww_dy = Port(dy_user, e.bww_pd.diff_dst_desc(), true);
    e.bww_args[DNNL_ARG_DIFF_DST] = e.bww_dy.prim;
    if (!e.bwd_dy_is_bww_dy) e.bwd_dy = Port(dy_user, e.bwd_pd.diff_dst_desc(), true);
    if (!e.bwd_dy_is_dy16) e.bwd_args[DNNL_ARG_DIFF_DST] = e.bwd_dy_is_bww_dy ? e.bww_dy.prim : e.bwd_dy.prim;
  }

  // The bfloat16 weight gradient's way for an entry (Bf16WeightGradient). The matmul reads im2col of
  // the forward's bfloat16 copy of x: only where the forward took x as plain NHWC bfloat16.
  Bf16WeightGradient weight_gradient_way(const Conv2DGeometry& g, const Entry& e) const {
    if (!e.bf16) return Bf16WeightGradient::Primitive;
    const memory::desc x16_md({g.batch, g.in_c, g.in_h, g.in_w}, memory::data_type::bf16, tag::nhwc);
    const Bf16WeightGradient way = bf16_weight_gradient_way(g);
    if (way == Bf16WeightGradient::Matmul && !(layout == Conv2DLayout::Nhwc && e.fwd_pd.src_desc() == x16_md))
      return Bf16WeightGradient::Primitive;
    if (way == Bf16WeightGradient::ImagePairs && !image_pairs_weight_gradient_fits(g))
      return Bf16WeightGradient::Primitive;
    return way;
  }

  // The weight gradient in float32 by im2col and GEMM (or the one-channel kernel) rather than by a
  // primitive: small patches or few output positions (kSmallPatch, kSmallOutput).
  bool by_gemm(const Conv2DGeometry& g, const Entry& e) const {
    return layout == Conv2DLayout::Nhwc && !e.winograd &&
           (g.kernel_h * g.kernel_w * g.in_c <= kSmallPatch || g.out_h * g.out_w <= kSmallOutput);
  }

  Entry* last = nullptr;
};

void set_winograd_allowed(bool allowed) { g_winograd_allowed = allowed; }
bool winograd_allowed() { return g_winograd_allowed; }

void force_bf16_weight_gradient(std::optional<Bf16WeightGradient> way) {
  g_forced_bww_way = way ? static_cast<int>(*way) : -1;
}

Conv2DKernel::Conv2DKernel(Conv2DLayout layout) : impl_(std::make_unique<Impl>()) { impl_->layout = layout; }
Conv2DKernel::~Conv2DKernel() = default;
void Conv2DKernel::set_bf16(bool bf16) {
  if (bf16 == impl_->bf16) return;
  impl_->bf16 = bf16;
  impl_->entries.clear();  // primitives made for the other precision
  impl_->last = nullptr;
}
Conv2DKernel::Conv2DKernel(Conv2DKernel&&) noexcept = default;
Conv2DKernel& Conv2DKernel::operator=(Conv2DKernel&&) noexcept = default;

bool Conv2DKernel::forward(const Conv2DGeometry& g, const void* x, const float* kernel, const float* bias, bool relu,
                           void* y, const float* addend, uint64_t kernel_version, bool x_bf16, bool y_bf16) {
  try {
    Entry& e = impl_->entry(g, relu, bias != nullptr, addend != nullptr, x_bf16, y_bf16);
    if (e.own_forward()) {
      // x is bound to the primitives' port by a backward, if one follows (an inference pass
      // converts nothing).
      if (e.own_winograd)
        impl_->own_winograd.forward(g, x, x_bf16, kernel, kernel_version, bias, relu, addend, static_cast<float*>(y));
      else
        conv_few_positions_forward(g, static_cast<const float*>(x), kernel, bias, relu, addend, static_cast<float*>(y),
                                   impl_->few_positions_cols);
      e.x_bound = false;
      e.geometry = g;
      impl_->last = &e;
      return false;
    }
    e.x.bind_input(x);
    e.x_bound = true;
    e.w.bind_input(kernel, kernel_version);
    e.y.bind_output(y);
    if (bias) e.b.set_data_handle(const_cast<float*>(bias));
    if (addend && e.add_by_sum && static_cast<const void*>(addend) != y)
      std::memcpy(y, addend, size_t(g.batch * g.out_h * g.out_w * g.out_c) * sizeof(float));
    else if (addend && !e.add_after)
      e.add_src.set_data_handle(const_cast<float*>(addend));
    if (!e.row_parts.empty() && int(e.row_parts.size()) == omp_get_max_threads()) {  // else threads changed
      Impl::run_row_parts(e, x, y, addend);
    } else {
      e.fwd.execute(stream(), e.fwd_args);
      e.y.finish_output();
      stream().wait();
    }
    if (addend && e.add_after) {
      float* y32 = static_cast<float*>(y);
      impl_->add_inputs[0] = y32;
      impl_->add_inputs[1] = addend;
      merge_forward(MergeOp::Add, impl_->add_inputs, y32, g.batch * g.out_h * g.out_w * g.out_c, relu);
    }
    e.geometry = g;
    impl_->last = &e;
    return e.writes_y_bf16();
  } catch (const dnnl::error& err) {
    throw Error(std::string("oneDNN convolution forward failed: ") + err.what());
  }
}

namespace {

// The weight and bias gradients of a 3x3 convolution of one input channel (a network's first layer
// on grey images), directly: per output position, the nine input values times dy's channels. One
// image's sums stay in registers (a block of dy's channels at a time; the image's dy stays in L2 for
// the next block), then go into per-thread doubles, added in a fixed order at the end. It reads dy
// once and writes no patches: im2col and one GEMM took 1.7 ms for the residual CNN's stem at batch
// 128 (bench/README.md, "The first layer's weight gradient without patches"). Each image is first
// copied into a zero-bordered one that holds every window, so that the loop over the positions has
// no bounds to test: with those tests GCC kept the ten sums in memory, a store and a load per
// position ("The stem's weight gradient with its sums in registers").
void one_channel_3x3_weight_gradient(const Conv2DGeometry& g, const float* x, const float* dy, float* dkernel,
                                     float* dbias, std::vector<double>& sums) {
  constexpr int64_t kTaps = 9;
  const int64_t oc = g.out_c, per_thread = (kTaps + 1) * oc;
  const int64_t padded_h = (g.out_h - 1) * g.stride_h + 2 * g.dilation_h + 1;
  const int64_t padded_w = (g.out_w - 1) * g.stride_w + 2 * g.dilation_w + 1;
  const int nt = int(std::clamp<int64_t>(g.batch, 1, omp_get_max_threads()));
  sums.assign(size_t(nt) * per_thread, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    double* mine = sums.data() + size_t(t) * per_thread;
    std::vector<float> padded(size_t(padded_h * padded_w));
    for (int64_t b = g.batch * t / n; b < g.batch * (t + 1) / n; ++b) {
      const float* xb = x + b * g.in_h * g.in_w;
      for (int64_t ph = 0; ph < padded_h; ++ph) {
        const int64_t ih = ph - g.pad_top;
        float* row = padded.data() + ph * padded_w;
        for (int64_t pw = 0; pw < padded_w; ++pw) {
          const int64_t iw = pw - g.pad_left;
          row[pw] = ih >= 0 && ih < g.in_h && iw >= 0 && iw < g.in_w ? xb[ih * g.in_w + iw] : 0.f;
        }
      }
      for (int64_t c0 = 0; c0 < oc; c0 += kLanes) {
        const int64_t lanes = std::min<int64_t>(kLanes, oc - c0);
        Floats acc[kTaps] = {}, bias_acc = {};
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const float* dy_row = dy + ((b * g.out_h + oh) * g.out_w) * oc + c0;
          const float* r0 = padded.data() + oh * g.stride_h * padded_w;
          const float* r1 = r0 + g.dilation_h * padded_w;
          const float* r2 = r1 + g.dilation_h * padded_w;
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const Floats d = load_first(dy_row + ow * oc, lanes, 0.f);
            const int64_t w0 = ow * g.stride_w, w1 = w0 + g.dilation_w, w2 = w1 + g.dilation_w;
            bias_acc += d;
            acc[0] += r0[w0] * d;
            acc[1] += r0[w1] * d;
            acc[2] += r0[w2] * d;
            acc[3] += r1[w0] * d;
            acc[4] += r1[w1] * d;
            acc[5] += r1[w2] * d;
            acc[6] += r2[w0] * d;
            acc[7] += r2[w1] * d;
            acc[8] += r2[w2] * d;
          }
        }
        for (int64_t k = 0; k < kTaps; ++k)
          for (int64_t l = 0; l < lanes; ++l) mine[k * oc + c0 + l] += acc[k][l];
        for (int64_t l = 0; l < lanes; ++l) mine[kTaps * oc + c0 + l] += bias_acc[l];
      }
    }
  }
  for (int64_t k = 0; k <= kTaps; ++k) {
    float* out = k < kTaps ? dkernel + k * oc : dbias;
    if (!out) continue;
    for (int64_t c = 0; c < oc; ++c) {
      double s = 0;
      for (int t = 0; t < nt; ++t) s += sums[size_t(t) * per_thread + k * oc + c];
      out[c] = float(s);
    }
  }
}
}  // namespace

bool Conv2DKernel::reads_bf16_dy() const {
  const Entry* e = impl_->last;
  if (!e || !e->bf16) return false;
  switch (impl_->weight_gradient_way(e->geometry, *e)) {
    case Bf16WeightGradient::Matmul:
      return true;
    case Bf16WeightGradient::ImagePairs:
      return false;
    case Bf16WeightGradient::Primitive:
      return !impl_->by_gemm(e->geometry, *e);  // the primitives read it; the float32 GEMM would not
  }
  return false;
}

void Conv2DKernel::backward(const Conv2DGeometry& g, const void* x_in, const void* dy, const float* kernel,
                            float* dkernel, float* dbias, float* dx, bool dy_bf16) {
  try {
    Entry* ep = impl_->last;
    if (!ep) throw Error("Conv2DKernel::backward called before forward");
    Entry& e = *ep;
    if (!e.x_bound) {  // a forward of our own (Entry::own_forward)
      e.x.bind_input(x_in);
      e.x_bound = true;
    }
    // A bfloat16 y (a training pass's, for the normalisation after) is not read here; a bfloat16 x
    // (the normalisation's before) is read as the primitives' ports take it, and converted to
    // float32 for the kernels of our own reading that.
    const int64_t patch = g.kernel_h * g.kernel_w * g.in_c;
    const bool by_gemm = impl_->by_gemm(g, e);
    if (e.dy_bf16 != dy_bf16) {
      e.dy_bf16 = dy_bf16;
      if (e.backward_made) impl_->make_dy_ports(g, e);
    }
    if ((!by_gemm || dx) && !e.backward_made && !impl_->make_backward(g, e)) e.x.bind_input(x_in);
    const int64_t positions = g.batch * g.out_h * g.out_w;
    const float* x = e.x_bf16 ? nullptr : static_cast<const float*>(x_in);
    auto float_x = [&] {
      if (!x) {
        const int64_t n = g.batch * g.in_h * g.in_w * g.in_c;
        impl_->x32.resize(size_t(n));
        from_bf16(static_cast<const uint16_t*>(x_in), impl_->x32.data(), n);
        x = impl_->x32.data();
      }
      return x;
    };
    // The primitives' ports take dy in either precision; the kernels of our own read it in float32
    // (converted once from a bfloat16 dy) or in bfloat16 (the matmul; rounded once from a float32 dy).
    const float* dy32 = dy_bf16 ? nullptr : static_cast<const float*>(dy);
    auto float_dy = [&] {
      if (!dy32) {
        impl_->dy32.resize(size_t(positions * g.out_c));
        from_bf16(static_cast<const uint16_t*>(dy), impl_->dy32.data(), positions * g.out_c);
        dy32 = impl_->dy32.data();
      }
      return dy32;
    };
    const uint16_t* dy16 = dy_bf16 ? static_cast<const uint16_t*>(dy) : nullptr;
    auto bf16_dy = [&] {
      if (!dy16) {
        impl_->dy16.resize(size_t(positions * g.out_c));
        to_bf16(dy32, impl_->dy16.data(), positions * g.out_c);
        dy16 = impl_->dy16.data();
      }
      return dy16;
    };
    // A frozen layer passes no dkernel: only dx is computed.
    if (dkernel && e.bww_way == Bf16WeightGradient::ImagePairs) {
      // One scratch for every layer on this thread: its buffers live only through the call, and a
      // network's layers sharing them keep one copy in the cache instead of one per layer.
      thread_local ImagePairsScratch pairs;
      bf16_weight_gradient_by_image_pairs(g, float_x(), float_dy(), dkernel, e.has_bias ? dbias : nullptr, pairs);
    } else if (dkernel && e.bww_way == Bf16WeightGradient::Matmul) {
      // The float32 path below in bfloat16: x from the forward's bfloat16 copy, dy rounded once.
      const int64_t ld = e.has_bias ? patch + 1 : patch;
      impl_->cols16.resize(size_t(positions * ld));
      im2col(g, static_cast<const uint16_t*>(e.x.prim.get_data_handle()), impl_->cols16.data(), ld);
      float* out = dkernel;
      if (e.has_bias) {
        impl_->grads.resize(size_t(ld * g.out_c));
        out = impl_->grads.data();
      }
      gemm_bf16(true, false, ld, g.out_c, positions, impl_->cols16.data(), ld, bf16_dy(), g.out_c, out, g.out_c);
      if (e.has_bias) {
        std::copy(out, out + patch * g.out_c, dkernel);
        std::copy(out + patch * g.out_c, out + ld * g.out_c, dbias);
      }
    } else if (dkernel && by_gemm && g.in_c == 1 && g.kernel_h == 3 && g.kernel_w == 3) {
      one_channel_3x3_weight_gradient(g, float_x(), float_dy(), dkernel, e.has_bias ? dbias : nullptr, impl_->sums);
    } else if (dkernel && by_gemm) {
      // dkernel[patch, out_c] = cols^T . dy, in Keras's {kh, kw, in_c, out_c} order. With a bias, cols
      // gets a column of ones and the GEMM's last row is dbias, the column sums of dy: one pass over
      // dy fewer (column_sums alone read the first layer's 11 MB dy in 0.5 ms on one thread).
      const int64_t ld = e.has_bias ? patch + 1 : patch;
      impl_->cols.resize(size_t(positions * ld));
      im2col(g, float_x(), impl_->cols.data(), ld);
      float* out = dkernel;
      if (e.has_bias) {
        impl_->grads.resize(size_t(ld * g.out_c));
        out = impl_->grads.data();
      }
      gemm(true, false, ld, g.out_c, positions, 1.f, impl_->cols.data(), ld, float_dy(), g.out_c, 0.f, out,
           g.out_c);
      if (e.has_bias) {
        std::copy(out, out + patch * g.out_c, dkernel);
        std::copy(out + patch * g.out_c, out + ld * g.out_c, dbias);
      }
    } else if (dkernel) {
      // Weights' gradient (and the bias's, the sum of dy over batch and positions).
      if (!e.bww_x_is_fwd_x) e.bww_x.bind_input(x_in);
      e.bww_dy.bind_input(dy);
      e.bww_dw.bind_output(dkernel);
      if (e.has_bias) e.db.set_data_handle(dbias);
      e.bww.execute(stream(), e.bww_args);
      e.bww_dw.finish_output();
    }

    if (dx) {
      if (e.bwd_dy_is_dy16) {
        e.dy16.set_data_handle(const_cast<uint16_t*>(bf16_dy()));
      } else if (!e.bwd_dy_is_bww_dy) {
        e.bwd_dy.bind_input(dy);
      } else if (by_gemm || !dkernel || e.bww_way != Bf16WeightGradient::Primitive) {
        e.bww_dy.bind_input(dy);  // the weight-gradient primitive did not bind it
      }
      e.bwd_w.bind_input(kernel);
      e.bwd_dx.bind_output(dx);
      e.bwd.execute(stream(), e.bwd_args);
      e.bwd_dx.finish_output();
    }
    stream().wait();
  } catch (const dnnl::error& err) {
    throw Error(std::string("oneDNN convolution backward failed: ") + err.what());
  }
}

std::string Conv2DKernel::implementations() const {
  const Entry* e = impl_->last;
  if (!e) return "";
  std::string s = std::string("forward=") + (e->own_winograd    ? "winograd_4x4:own"
                                             : e->few_positions ? "im2col+block_product"
                                                                : e->fwd_pd.impl_info_str());
  if (e->own_forward()) s += std::string(", primitive=") + e->fwd_pd.impl_info_str();  // made for the backward
  if (!e->row_parts.empty()) s += " in " + std::to_string(e->row_parts.size()) + " row parts";
  if (e->backward_made) {
    s += ", backward_weights=";
    s += e->bww_way == Bf16WeightGradient::Matmul       ? std::string("im2col+matmul:bf16")
         : e->bww_way == Bf16WeightGradient::ImagePairs ? std::string("image_pairs:avx512_bf16")
                                                         : std::string(e->bww_pd.impl_info_str());
    s += std::string(", backward_data=") + e->bwd_pd.impl_info_str();
  }
  return s;
}

}  // namespace myelin::kernels
