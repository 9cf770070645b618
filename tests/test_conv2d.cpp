// Conv2D: Keras's output sizes, a forward case worked by hand, forward against a direct loop
// convolution, gradients against central finite differences on odd shapes, batch-size changes,
// config and shape errors; the kernel's addend and its kept weights' version.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <dnnl.hpp>
#include <nlohmann/json.hpp>

#include "gradient_check.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/block_product.hpp"
#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/conv_few_positions.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/model.hpp"
#include "myelin/threading.hpp"

using namespace myelin;
using layers::Conv2D;
using layers::Conv2DOptions;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {

// Direct convolution, in double, with Keras's padding rule computed independently of the library:
// 'same' pads (out-1)*s + (k-1)*d + 1 - in in total, the smaller half before.
// `magnitude`, when given, receives each output's sum of its terms' magnitudes (|bias| + sum |x * k|),
// the scale of its float32 rounding errors.
Tensor reference_conv(const Tensor& x, const Tensor& k, const Tensor* bias, int sh, int sw, int dh, int dw, bool same,
                      Tensor* magnitude = nullptr) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const int64_t kh = k.dim(0), kw = k.dim(1), f = k.dim(3);
  const int64_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1;
  int64_t oh, ow, pt = 0, pl = 0;
  if (same) {
    oh = (h + sh - 1) / sh;
    ow = (w + sw - 1) / sw;
    pt = std::max<int64_t>((oh - 1) * sh + ekh - h, 0) / 2;
    pl = std::max<int64_t>((ow - 1) * sw + ekw - w, 0) / 2;
  } else {
    oh = (h - ekh) / sh + 1;
    ow = (w - ekw) / sw + 1;
  }
  Tensor y({n, oh, ow, f});
  if (magnitude) *magnitude = Tensor({n, oh, ow, f});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < f; ++o) {
          double s = bias ? (*bias)[o] : 0.0, m = std::fabs(s);
          for (int64_t p = 0; p < kh; ++p)
            for (int64_t q = 0; q < kw; ++q) {
              const int64_t r = i * sh - pt + p * dh, col = j * sw - pl + q * dw;
              if (r < 0 || r >= h || col < 0 || col >= w) continue;
              for (int64_t ci = 0; ci < c; ++ci) {
                const double term = double(x[((b * h + r) * w + col) * c + ci]) * k[((p * kw + q) * c + ci) * f + o];
                s += term;
                m += std::fabs(term);
              }
            }
          y[((b * oh + i) * ow + j) * f + o] = float(s);
          if (magnitude) (*magnitude)[((b * oh + i) * ow + j) * f + o] = float(m);
        }
  return y;
}

Shape built_shape(Conv2D layer, Shape in) {
  Rng rng(0);
  return layer.build(in, rng);
}

}  // namespace

// Output sizes by Keras's formulas, worked by hand:
// valid: floor((in - (k-1)*d - 1)/s) + 1; same: ceil(in/s).
TEST(Conv2D, OutputShapesFollowKeras) {
  EXPECT_EQ(built_shape(Conv2D(32, {3, 3}), {28, 28, 1}), (Shape{26, 26, 32}));
  EXPECT_EQ(built_shape(Conv2D(8, 3, "linear", {.strides = 2, .padding = "same"}), {28, 28, 3}), (Shape{14, 14, 8}));
  EXPECT_EQ(built_shape(Conv2D(8, 3, "linear", {.strides = 2}), {28, 28, 3}), (Shape{13, 13, 8}));      // (28-3)/2+1
  EXPECT_EQ(built_shape(Conv2D(4, 3, "linear", {.dilation_rate = 2}), {28, 28, 1}), (Shape{24, 24, 4}));  // eff k 5
  EXPECT_EQ(built_shape(Conv2D(4, {4, 2}, "linear", {.strides = {3, 1}}), {10, 7, 2}), (Shape{3, 6, 4}));
  EXPECT_EQ(built_shape(Conv2D(5, {2, 2}, "linear", {.strides = 3, .padding = "same"}), {7, 9, 2}), (Shape{3, 3, 5}));
}

// One channel, 3x3 input 1..9, kernel [[1, 0], [0, -1]] (y[i,j] = x[i,j] - x[i+1,j+1]) and bias 0.5.
TEST(Conv2D, ForwardByHandValidAndSameWithEvenKernel) {
  Rng rng(0);
  Tensor x({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Conv2D valid(1, {2, 2});
  valid.build({3, 3, 1}, rng);
  valid.kernel().copy_from(Tensor({2, 2, 1, 1}, {1, 0, 0, -1}));
  valid.bias()[0] = 0.5f;
  // Every window gives x - (x + 4) = -4; plus the bias.
  EXPECT_EQ(valid.forward(x, false).to_vector(), (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));

  // 'same' with an even kernel pads one row below and one column to the right (none above or left),
  // so the last row and column read zeros for x[i+1, j+1]: y = x - 0 there.
  Conv2D same(1, {2, 2}, "linear", {.padding = "same"});
  same.build({3, 3, 1}, rng);
  same.kernel().copy_from(Tensor({2, 2, 1, 1}, {1, 0, 0, -1}));
  same.bias()[0] = 0.5f;
  EXPECT_EQ(same.forward(x, false).to_vector(),
            (std::vector<float>{-3.5f, -3.5f, 3.5f, -3.5f, -3.5f, 6.5f, 7.5f, 8.5f, 9.5f}));
}

struct ConvCase {
  const char* what;
  Shape in;  // per sample
  int64_t filters;
  layers::Size2 kernel;
  Conv2DOptions opts;
  const char* activation;
};

const ConvCase kCases[] = {
    {"3x3 valid, 3 channels, non-square", {5, 7, 3}, 4, {3, 3}, {}, "tanh"},
    {"even kernel, same, stride 2", {6, 5, 2}, 3, {2, 2}, {.strides = 2, .padding = "same"}, "linear"},
    {"one channel, 3x2 same, dilation 2", {7, 6, 1}, 2, {3, 2}, {.padding = "same", .dilation_rate = 2}, "sigmoid"},
    {"many channels, strides (2, 1), no bias", {4, 5, 16}, 8, {3, 3}, {.strides = {2, 1}, .use_bias = false}, "linear"},
    {"4x4 kernel, same, stride 3", {8, 7, 2}, 3, {4, 4}, {.strides = 3, .padding = "same"}, "swish"},
    {"1x1 kernel", {3, 4, 5}, 6, {1, 1}, {}, "linear"},
};

// Forward against the direct loop convolution, for both of the kernel's layouts.
TEST(Conv2D, ForwardMatchesDirectConvolution) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.what);
    Rng rng(3);
    Conv2D layer(c.filters, c.kernel, "linear", c.opts);
    const Shape out = layer.build(c.in, rng);
    if (c.opts.use_bias)
      for (int64_t i = 0; i < layer.bias().size(); ++i) layer.bias()[i] = rng.uniform(-1, 1);
    Tensor x = random_tensor(with_batch(3, c.in), rng, -1, 1);
    const Tensor want = reference_conv(x, layer.kernel(), c.opts.use_bias ? &layer.bias() : nullptr, c.opts.strides.h,
                                       c.opts.strides.w, c.opts.dilation_rate.h, c.opts.dilation_rate.w,
                                       c.opts.padding == "same");
    const Tensor& got = layer.forward(x, true);
    ASSERT_EQ(got.shape(), with_batch(3, out));
    EXPECT_TRUE(gradients_close(got, want, 1e-5, 1e-5));

    for (auto layout : {kernels::Conv2DLayout::Nhwc, kernels::Conv2DLayout::Blocked}) {
      kernels::Conv2DKernel k(layout);
      const auto ah = kernels::conv_axis(c.in[0], c.kernel.h, c.opts.strides.h, c.opts.dilation_rate.h,
                                         c.opts.padding == "same");
      const auto aw = kernels::conv_axis(c.in[1], c.kernel.w, c.opts.strides.w, c.opts.dilation_rate.w,
                                         c.opts.padding == "same");
      kernels::Conv2DGeometry g{3, c.in[0], c.in[1], c.in[2], ah.out, aw.out, c.filters, c.kernel.h, c.kernel.w,
                                c.opts.strides.h, c.opts.strides.w, c.opts.dilation_rate.h, c.opts.dilation_rate.w,
                                ah.pad_begin, ah.pad_end, aw.pad_begin, aw.pad_end};
      Tensor y(want.shape());
      k.forward(g, x.data(), layer.kernel().data(), c.opts.use_bias ? layer.bias().data() : nullptr, false, y.data());
      EXPECT_TRUE(gradients_close(y, want, 1e-5, 1e-5)) << "layout " << int(layout);
    }
  }
}

// d(loss)/d(input), d(loss)/d(kernel) and d(loss)/d(bias) against central differences.
TEST(Conv2D, GradientsMatchFiniteDifferences) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.what);
    Rng rng(5);
    Conv2D layer(c.filters, c.kernel, c.activation, c.opts);
    const Shape out = layer.build(c.in, rng);
    if (c.opts.use_bias)
      for (int64_t i = 0; i < layer.bias().size(); ++i) layer.bias()[i] = rng.uniform(-0.5, 0.5);
    Tensor x = random_tensor(with_batch(2, c.in), rng, -1, 1);
    const Tensor w = random_tensor(with_batch(2, out), rng, -1, 1);
    auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };

    const Tensor num_x = numerical_gradient(loss, x, 1e-2);
    const Tensor num_k = numerical_gradient(loss, layer.kernel(), 1e-2);
    Tensor num_b;
    if (c.opts.use_bias) num_b = numerical_gradient(loss, layer.bias(), 1e-2);

    layer.forward(x, true);
    const Tensor dx = layer.backward(w).clone();
    auto params = layer.params();
    EXPECT_TRUE(gradients_close(dx, num_x, 1e-3, 1e-2)) << "input";
    EXPECT_TRUE(gradients_close(*params[0].grad, num_k, 1e-3, 1e-2)) << "kernel";
    if (c.opts.use_bias) {
      EXPECT_TRUE(gradients_close(*params[1].grad, num_b, 1e-3, 1e-2)) << "bias";
    }
  }
}

// relu runs inside the convolution: its output and gradient equal those of the linear layer
// followed by relu by hand.
TEST(Conv2D, FusedReluMatchesLinearThenRelu) {
  Rng rng(7);
  Conv2D relu(5, {3, 3}, "relu", {.padding = "same"});
  Conv2D lin(5, {3, 3}, "linear", {.padding = "same"});
  relu.build({6, 6, 3}, rng);
  lin.build({6, 6, 3}, rng);
  lin.kernel().copy_from(relu.kernel());
  for (int64_t i = 0; i < 5; ++i) relu.bias()[i] = lin.bias()[i] = rng.uniform(-0.3f, 0.3f);
  const Tensor x = random_tensor({2, 6, 6, 3}, rng, -1, 1);
  const Tensor dy = random_tensor({2, 6, 6, 5}, rng, -1, 1);
  const Tensor y = relu.forward(x, true).clone();
  const Tensor z = lin.forward(x, true).clone();
  Tensor dz(dy.shape());
  int negatives = 0;
  for (int64_t i = 0; i < z.size(); ++i) {
    EXPECT_FLOAT_EQ(y[i], std::max(z[i], 0.f));
    dz[i] = z[i] > 0 ? dy[i] : 0.f;
    negatives += z[i] < 0;
  }
  EXPECT_GT(negatives, 10);  // the case exercises both sides of the kink
  const Tensor dx_relu = relu.backward(dy).clone();
  const Tensor dk_relu = relu.params()[0].grad->clone();
  const Tensor dx_lin = lin.backward(dz).clone();
  EXPECT_TRUE(gradients_close(dx_relu, dx_lin, 1e-6, 1e-5));
  EXPECT_TRUE(gradients_close(dk_relu, *lin.params()[0].grad, 1e-6, 1e-5));
}

// Primitives are kept per batch size: alternating sizes (an epoch's short last batch) gives the
// same rows as running each sample alone.
TEST(Conv2D, BatchSizeChangesGiveConsistentResults) {
  Rng rng(11);
  Conv2D layer(4, {3, 3}, "relu", {.strides = 2, .padding = "same"});
  layer.build({9, 8, 3}, rng);
  const Tensor x = random_tensor({5, 9, 8, 3}, rng, -1, 1);
  const Tensor all = layer.forward(x, true).clone();
  const Tensor first3 = layer.forward(x.rows(0, 3), true).clone();
  const Tensor all_again = layer.forward(x, true).clone();
  const Tensor last1 = layer.forward(x.rows(4, 5), true).clone();
  const int64_t per = all.row_size();
  for (int64_t i = 0; i < 3 * per; ++i) EXPECT_FLOAT_EQ(first3[i], all[i]);
  for (int64_t i = 0; i < per; ++i) EXPECT_FLOAT_EQ(last1[i], all[4 * per + i]);
  EXPECT_EQ(all_again.to_vector(), all.to_vector());
}

TEST(Conv2D, ParamsShapesAndInitializerFans) {
  Rng rng(1);
  Conv2D layer(6, {3, 2}, "relu", {.kernel_initializer = "ones", .bias_initializer = initializers::Constant(0.25f)});
  layer.build({5, 5, 4}, rng);
  auto p = layer.params();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "kernel");
  EXPECT_EQ(p[0].value->shape(), (Shape{3, 2, 4, 6}));  // Keras's {kh, kw, in, filters}
  EXPECT_EQ(p[1].value->shape(), (Shape{6}));
  EXPECT_EQ((*p[0].value)[7], 1.f);
  EXPECT_EQ((*p[1].value)[5], 0.25f);
  EXPECT_EQ(layer.count_params(), 3 * 2 * 4 * 6 + 6);
  EXPECT_EQ(layer.flops_per_sample(), 2 * 3 * 4 * 6 * 3 * 2 * 4);  // 3x4 outputs, 3*2*4 products each
}

TEST(Conv2D, ConfigHasKerasKeys) {
  Conv2D layer(16, {5, 3}, "relu",
               {.input_shape = Shape{28, 28, 1}, .strides = {2, 1}, .padding = "same",
                .kernel_regularizer = regularizers::L2(0.01f), .name = "conv"});
  const auto c = layer.get_config();
  EXPECT_EQ(c["name"], "conv");
  EXPECT_EQ(c["filters"], 16);
  EXPECT_EQ(c["kernel_size"], nlohmann::json({5, 3}));
  EXPECT_EQ(c["strides"], nlohmann::json({2, 1}));
  EXPECT_EQ(c["padding"], "same");
  EXPECT_EQ(c["dilation_rate"], nlohmann::json({1, 1}));
  EXPECT_EQ(c["activation"], "relu");
  EXPECT_EQ(c["use_bias"], true);
  EXPECT_EQ(c["data_format"], "channels_last");
  EXPECT_EQ(c["kernel_initializer"]["class_name"], "GlorotUniform");
  EXPECT_FLOAT_EQ(c["kernel_regularizer"]["config"]["l2"].get<float>(), 0.01f);
  EXPECT_EQ(c["batch_input_shape"], nlohmann::json({nullptr, 28, 28, 1}));
}

TEST(Conv2D, BadArgumentsAndShapesAreRefused) {
  EXPECT_THROW(Conv2D(0, 3), ValueError);
  EXPECT_THROW(Conv2D(4, {3, 0}), ValueError);
  EXPECT_THROW(Conv2D(4, 3, "linear", {.padding = "full"}), ValueError);
  EXPECT_THROW(Conv2D(4, 3, "linear", {.strides = 2, .dilation_rate = 2}), ValueError);
  Rng rng(0);
  Conv2D flat(4, 3);
  EXPECT_THROW(flat.build({28, 28}, rng), ShapeError);
  // Through a model: the message names the layer and both shapes.
  Sequential model({Conv2D(4, 3, "relu", Shape{6, 6, 1}), Conv2D(4, 5, "relu", {.name = "too_big"})});
  try {
    model.build();
    FAIL() << "no ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("too_big"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(None, 4, 4, 4)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(5, 5)"), std::string::npos) << msg;
  }
}

// Small patches take the im2col + GEMM path for the weight gradient, and one channel with a 3x3
// kernel a direct kernel, with or without an input gradient (a first layer needs none). Both must
// give what the forward pass implies: y is linear in the kernel, so the gradient of sum(dy * y) by
// kernel value k is sum(dy * y(kernel = one-hot k, bias 0)), made by oneDNN's forward primitive
// alone; the bias's is the sum of dy. Padding, strides and dilation included.
TEST(Conv2D, SmallPatchWeightGradientMatchesTheForwardPass) {
  struct Case {
    Shape in;
    int64_t filters;
    layers::Size2 kernel;
    layers::Conv2DOptions opts;
  };
  const Case cases[] = {
      {{7, 6, 1}, 4, {3, 3}, {}},
      {{9, 8, 1}, 3, {2, 3}, {.strides = 2, .padding = "same"}},
      {{8, 8, 2}, 5, {2, 2}, {.padding = "same", .dilation_rate = 2}},
      {{6, 5, 3}, 2, {1, 1}, {.use_bias = false}},
      // One channel, 3x3: the direct kernel. Channels a vector and a part (20 = 16 + 4, 36), 'same'
      // padding, strides, dilation, no bias, windows inside and across every edge.
      {{12, 11, 1}, 20, {3, 3}, {.padding = "same"}},
      {{13, 10, 1}, 36, {3, 3}, {.strides = 2, .padding = "same", .use_bias = false}},
      {{11, 12, 1}, 3, {3, 3}, {.strides = {1, 3}}},
      {{9, 9, 1}, 32, {3, 3}, {.padding = "same", .dilation_rate = 3}},
  };
  for (const auto& c : cases) {
    Rng rng(17);
    layers::Conv2D with_dx(c.filters, c.kernel, "linear", c.opts), without_dx(c.filters, c.kernel, "linear", c.opts);
    const Shape out = with_dx.build(c.in, rng);
    Rng rng2(17);
    without_dx.build(c.in, rng2);
    without_dx.set_needs_input_grad(false);
    Rng data(3);
    Tensor x(with_batch(3, c.in)), dy(with_batch(3, out));
    for (int64_t i = 0; i < x.size(); ++i) x[i] = data.uniform(-1, 1);
    for (int64_t i = 0; i < dy.size(); ++i) dy[i] = data.uniform(-1, 1);
    with_dx.forward(x, true);
    with_dx.backward(dy);
    without_dx.forward(x, true);
    without_dx.backward(dy);
    auto a = with_dx.params(), b = without_dx.params();
    ASSERT_EQ(a.size(), b.size());
    for (size_t p = 0; p < a.size(); ++p)
      for (int64_t i = 0; i < a[p].grad->size(); ++i)
        ASSERT_NEAR((*b[p].grad)[i], (*a[p].grad)[i], 1e-5 * (1 + std::fabs((*a[p].grad)[i])))
            << a[p].name << "[" << i << "] for input " << shape_to_string(c.in);

    const Tensor dkernel = a[0].grad->clone();
    Tensor& kernel = with_dx.kernel();
    std::fill(kernel.data(), kernel.data() + kernel.size(), 0.f);
    if (c.opts.use_bias) std::fill(with_dx.bias().data(), with_dx.bias().data() + with_dx.bias().size(), 0.f);
    for (int64_t k = 0; k < kernel.size(); ++k) {
      kernel[k] = 1.f;
      const Tensor& y = with_dx.forward(x, false);
      double want = 0;
      for (int64_t i = 0; i < y.size(); ++i) want += double(dy[i]) * y[i];
      kernel[k] = 0.f;
      ASSERT_NEAR(dkernel[k], want, 1e-5 * (1 + std::fabs(want)))
          << "kernel[" << k << "] for input " << shape_to_string(c.in) << ", " << c.filters << " filters";
    }
    if (c.opts.use_bias) {
      for (int64_t o = 0; o < c.filters; ++o) {
        double want = 0;
        for (int64_t i = o; i < dy.size(); i += c.filters) want += dy[i];
        ASSERT_NEAR((*a[1].grad)[o], want, 1e-5 * (1 + std::fabs(want))) << "bias[" << o << "]";
      }
    }
  }
}

// The kernel keeps its converted weights while they stay the same bit for bit; any change, made
// in place through kernel() between two inference calls with no training step, must be seen.
TEST(Conv2D, WeightsChangedInPlaceBetweenInferenceCallsAreSeen) {
  Rng rng(5);
  Conv2D layer(64, {3, 3}, "relu");
  layer.build({13, 13, 32}, rng);  // the CNN's second convolution: oneDNN converts its weights
  const Tensor x = random_tensor({1, 13, 13, 32}, rng, -1, 1);
  const Tensor before = layer.forward(x, false).clone();
  EXPECT_TRUE(gradients_close(layer.forward(x, false), before, 0, 0));  // cached weights: same result
  for (int64_t i = 0; i < layer.kernel().size(); i += 7) layer.kernel()[i] *= -1.5f;
  const Tensor& after = layer.forward(x, false);
  const Tensor want = reference_conv(x, layer.kernel(), &layer.bias(), 1, 1, 1, 1, false);
  Tensor want_relu = want.clone();
  for (int64_t i = 0; i < want_relu.size(); ++i) want_relu[i] = std::max(want_relu[i], 0.f);
  EXPECT_FALSE(gradients_close(after, before, 1e-3, 1e-3));
  EXPECT_TRUE(gradients_close(after, want_relu, 1e-5, 1e-5));
}

namespace {
// The kernel's forward on `g` for x, kernel and bias given, optionally with an addend and a relu.
Tensor kernel_forward(kernels::Conv2DKernel& k, const kernels::Conv2DGeometry& g, const Tensor& x,
                      const Tensor& kernel, const Tensor& bias, bool relu, const Tensor* addend,
                      uint64_t version = 0) {
  Tensor y({g.batch, g.out_h, g.out_w, g.out_c});
  k.forward(g, x.data(), kernel.data(), bias.data(), relu, y.data(), addend ? addend->data() : nullptr, version);
  return y;
}

// Winograd's F(4x4, 3x3) rounds differently from a direct sum: its transforms scale the terms by up
// to 8 (inputs) and 1/24 (weights) before they are summed, so each output's error grows with its
// terms' magnitudes (reference_conv's `magnitude`), not with the output. Measured on these tests'
// shapes: at most 29 float32 units of the magnitude; the bound leaves room for other summing
// orders, and a wrong coefficient in any transform is off by far more (8.001 for one of the output
// transform's 8s: over a thousand units).
constexpr double kWinogradUnits = 64;
std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.size()); }
::testing::AssertionResult winograd_close(const Tensor& y, const Tensor& want, const Tensor& magnitude) {
  if (y.shape() != want.shape()) return ::testing::AssertionFailure() << "shapes differ";
  for (int64_t i = 0; i < y.size(); ++i) {
    const double bound = kWinogradUnits * 0x1p-24 * (magnitude[i] + std::fabs(want[i]));
    if (!(std::fabs(double(y[i]) - want[i]) <= bound))
      return ::testing::AssertionFailure() << "element " << i << ": " << y[i] << ", want " << want[i] << " (bound "
                                           << bound << ")";
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

// relu(conv + bias + addend): in the primitive as a post-op where oneDNN takes one, in a pass after
// it for Winograd (batch 16, 16 channels, 8x8 positions), in float32 and, where the CPU has it,
// bfloat16; always the convolution alone plus the addend, then the relu.
TEST(Conv2D, KernelAddsTheAddendBeforeItsRelu) {
  struct Case {
    int64_t batch, hw, in_c, out_c, k;
  };
  // The 32-channel cases: in bfloat16 on AMX the addend goes by a sum post-op at batch 1 (y 25 KB)
  // and by the binary post-op at batch 8 (y 200 KB); see the test after this one.
  for (const Case c : {Case{1, 14, 8, 8, 3}, Case{3, 7, 5, 6, 1}, Case{16, 8, 16, 16, 3}, Case{1, 14, 32, 32, 3},
                       Case{8, 14, 32, 32, 3}}) {
    for (const bool bf16 : {false, true}) {
      if (bf16 && !kernels::bf16_supported()) continue;
      SCOPED_TRACE("batch " + std::to_string(c.batch) + (bf16 ? ", bfloat16" : ", float32"));
      const int64_t pad = c.k / 2;
      const kernels::Conv2DGeometry g{c.batch, c.hw, c.hw, c.in_c, c.hw, c.hw, c.out_c, c.k, c.k,
                                      1,       1,    1,    1,      pad,  pad,  pad,  pad};
      Rng rng(23);
      const Tensor x = random_tensor({c.batch, c.hw, c.hw, c.in_c}, rng, -1, 1);
      const Tensor kernel = random_tensor({c.k, c.k, c.in_c, c.out_c}, rng, -0.3f, 0.3f);
      const Tensor bias = random_tensor({c.out_c}, rng, -0.3f, 0.3f);
      const Tensor addend = random_tensor({c.batch, c.hw, c.hw, c.out_c}, rng, -1, 1);
      kernels::Conv2DKernel k;
      k.set_bf16(bf16);
      const Tensor alone = kernel_forward(k, g, x, kernel, bias, false, nullptr);
      const float bound = bf16 ? 2e-2f : 1e-5f;
      for (const bool relu : {false, true}) {
        const Tensor got = kernel_forward(k, g, x, kernel, bias, relu, &addend);
        int64_t clipped = 0;
        for (int64_t i = 0; i < got.size(); ++i) {
          const float sum = alone[i] + addend[i];
          const float want = relu && !(sum > 0.f) ? 0.f : sum;
          clipped += relu && sum < 0.f;
          ASSERT_NEAR(got[i], want, bound * (1 + std::fabs(want))) << "at " << i << ", relu " << relu;
        }
        if (relu) {
          EXPECT_GT(clipped, got.size() / 10) << "the relu must cut some sums for the test to see its order";
        }
      }
    }
  }
}

// On AMX, oneDNN's brgconv kernels take no binary post-op: a small bfloat16 convolution with an
// addend copies it into y and adds it by a sum post-op so as to run brgconv (the residual CNN's
// 3x3 and 1x1 stride-2 shapes at batch 1), and keeps the binary post-op once y outgrows the copy's
// worth (batch 16 here: 400 KB). Both give the convolution plus the addend.
TEST(Conv2D, KernelKeepsAmxFastKernelsForASmallAddend) {
  if (!kernels::amx_supported()) GTEST_SKIP() << "the rule concerns oneDNN's AMX kernels; this CPU has no AMX";
  struct Case {
    int64_t batch, hw, in_c, out_c, k, stride;
    const char* forward;  // the implementation's prefix expected with the addend
  };
  for (const Case c : {Case{1, 14, 32, 32, 3, 1, "brgconv"}, Case{1, 14, 32, 64, 1, 2, "brgconv"},
                       Case{16, 14, 32, 32, 3, 1, "jit:"}}) {
    SCOPED_TRACE("batch " + std::to_string(c.batch) + ", " + std::to_string(c.k) + "x" + std::to_string(c.k));
    const int64_t pad = c.k / 2, out = (c.hw + 2 * pad - c.k) / c.stride + 1;
    const kernels::Conv2DGeometry g{c.batch, c.hw,     c.hw, c.in_c, out, out, c.out_c, c.k, c.k,
                                    c.stride, c.stride, 1,    1,      pad, pad, pad,     pad};
    Rng rng(37);
    const Tensor x = random_tensor({c.batch, c.hw, c.hw, c.in_c}, rng, -1, 1);
    const Tensor kernel = random_tensor({c.k, c.k, c.in_c, c.out_c}, rng, -0.3f, 0.3f);
    const Tensor bias = random_tensor({c.out_c}, rng, -0.3f, 0.3f);
    const Tensor addend = random_tensor({c.batch, out, out, c.out_c}, rng, -1, 1);
    kernels::Conv2DKernel k;
    k.set_bf16(true);
    const Tensor alone = kernel_forward(k, g, x, kernel, bias, false, nullptr);
    for (int call = 0; call < 2; ++call) {  // the second call copies the addend over the first's y
      Tensor y = Tensor::full({c.batch, out, out, c.out_c}, 7.f);
      k.forward(g, x.data(), kernel.data(), bias.data(), true, y.data(), addend.data());
      EXPECT_EQ(k.implementations().rfind(std::string("forward=") + c.forward, 0), 0u) << k.implementations();
      for (int64_t i = 0; i < y.size(); ++i) {
        const float want = std::max(alone[i] + addend[i], 0.f);
        ASSERT_NEAR(y[i], want, 2e-2f * (1 + std::fabs(want))) << "at " << i << ", call " << call;
      }
    }
  }
}

// A float32 forward with few output positions in its batch runs as im2col and register blocks where
// the build's rule takes it (AVX2 and AVX-512 builds): the seed CNN's third convolution at batch 1
// and 2, the residual CNN's strided 3x3 and 1x1 ones at batch 1, a dilated shape and exactly 64
// positions, with and without bias, addend and relu, on one thread and two, and after the weights
// change. Not at 72 positions, with filters not a multiple of the vector width, or where our own
// Winograd takes the shape. A backward after such a forward gives the gradients of the convolution.
TEST(Conv2D, KernelComputesFewOutputPositionsByIm2colAndRegisterBlocks) {
  struct Case {
    kernels::Conv2DGeometry g;
    bool bias, addend, relu, few;  // few: taken on a build where few_positions_suit allows it
  };
  const Case cases[] = {
      {{1, 5, 5, 64, 3, 3, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, true, false, true, true},
      {{2, 5, 5, 64, 3, 3, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, true, true, true, true},
      {{1, 14, 14, 32, 7, 7, 64, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1}, true, true, true, true},
      {{1, 14, 14, 32, 7, 7, 64, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0}, false, false, false, true},
      {{1, 9, 9, 16, 5, 5, 16, 3, 3, 1, 1, 2, 2, 0, 0, 0, 0}, true, false, true, true},
      {{1, 8, 8, 8, 8, 8, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, true, true, false, true},
      {{8, 5, 5, 64, 3, 3, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, true, false, true, false},
      {{1, 5, 5, 16, 3, 3, 12, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, true, false, true, false},
      {{1, 5, 5, 64, 5, 5, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, true, false, true, false},  // our Winograd
  };
  for (const Case& c : cases) {
    const kernels::Conv2DGeometry& g = c.g;
    SCOPED_TRACE("batch " + std::to_string(g.batch) + ", " + std::to_string(g.in_h) + "x" + std::to_string(g.in_w) +
                 "x" + std::to_string(g.in_c) + " -> " + std::to_string(g.out_h) + "x" + std::to_string(g.out_w) +
                 "x" + std::to_string(g.out_c));
    Rng rng(59);
    const Tensor x = random_tensor({g.batch, g.in_h, g.in_w, g.in_c}, rng, -1, 1);
    Tensor kernel = random_tensor({g.kernel_h, g.kernel_w, g.in_c, g.out_c}, rng, -0.3f, 0.3f);
    const Tensor bias = random_tensor({g.out_c}, rng, -0.3f, 0.3f);
    const Tensor addend = random_tensor({g.batch, g.out_h, g.out_w, g.out_c}, rng, -1, 1);
    const Tensor dy = random_tensor({g.batch, g.out_h, g.out_w, g.out_c}, rng, -1, 1);
    // The direct sums over g's own padding, in double: y, and the gradients for dy.
    auto at_x = [&](int64_t b, int64_t i, int64_t j, int64_t p, int64_t q, int64_t ci) -> int64_t {
      const int64_t r = i * g.stride_h - g.pad_top + p * g.dilation_h;
      const int64_t col = j * g.stride_w - g.pad_left + q * g.dilation_w;
      return r < 0 || r >= g.in_h || col < 0 || col >= g.in_w ? -1 : ((b * g.in_h + r) * g.in_w + col) * g.in_c + ci;
    };
    auto for_each_term = [&](auto&& f) {  // f(y index, x index, kernel index)
      for (int64_t b = 0; b < g.batch; ++b)
        for (int64_t i = 0; i < g.out_h; ++i)
          for (int64_t j = 0; j < g.out_w; ++j)
            for (int64_t p = 0; p < g.kernel_h; ++p)
              for (int64_t q = 0; q < g.kernel_w; ++q)
                for (int64_t ci = 0; ci < g.in_c; ++ci) {
                  const int64_t xi = at_x(b, i, j, p, q, ci);
                  if (xi < 0) continue;
                  for (int64_t o = 0; o < g.out_c; ++o)
                    f(((b * g.out_h + i) * g.out_w + j) * g.out_c + o, xi,
                      ((p * g.kernel_w + q) * g.in_c + ci) * g.out_c + o);
                }
    };
    auto expected = [&] {
      std::vector<double> sums(size_t(dy.size()), 0.0);
      for_each_term([&](int64_t yi, int64_t xi, int64_t ki) { sums[size_t(yi)] += double(x[xi]) * kernel[ki]; });
      Tensor want(dy.shape());
      for (int64_t i = 0; i < want.size(); ++i) {
        double v = sums[size_t(i)] + (c.bias ? bias[i % g.out_c] : 0.f) + (c.addend ? addend[i] : 0.f);
        want[i] = float(c.relu ? std::max(v, 0.0) : v);
      }
      return want;
    };
    auto forward = [&](kernels::Conv2DKernel& k) {
      Tensor y(dy.shape());
      k.forward(g, x.data(), kernel.data(), c.bias ? bias.data() : nullptr, c.relu, y.data(),
                c.addend ? addend.data() : nullptr);
      return y;
    };
    const bool few = c.few && kernels::few_positions_suit(g);
    // The shapes not taken run oneDNN's kernels or our Winograd, which rounds more (winograd_close).
    const double tolerance = c.few ? 1e-5 : 1e-4;
    for (int threads : {2, 1}) {
      set_num_threads(threads);
      kernels::Conv2DKernel k;
      EXPECT_TRUE(gradients_close(forward(k), expected(), tolerance, tolerance)) << threads << " threads";
      EXPECT_EQ(k.implementations().rfind("forward=im2col+block_product, primitive=", 0) == 0, few)
          << k.implementations();
    }
    set_num_threads(2);
    kernels::Conv2DKernel k;
    forward(k);
    for (int64_t i = 0; i < kernel.size(); i += 3) kernel[i] = -kernel[i];
    EXPECT_TRUE(gradients_close(forward(k), expected(), tolerance, tolerance)) << "weights changed";
    Tensor dk(kernel.shape()), db({g.out_c}), dx(x.shape());
    k.backward(g, x.data(), dy.data(), kernel.data(), dk.data(), c.bias ? db.data() : nullptr, dx.data());
    std::vector<double> want_dk(size_t(kernel.size()), 0.0), want_dx(size_t(x.size()), 0.0);
    for_each_term([&](int64_t yi, int64_t xi, int64_t ki) {
      want_dk[size_t(ki)] += double(dy[yi]) * x[xi];
      want_dx[size_t(xi)] += double(dy[yi]) * kernel[ki];
    });
    Tensor want_dk_t(kernel.shape()), want_dx_t(x.shape()), want_db({g.out_c});
    for (int64_t i = 0; i < kernel.size(); ++i) want_dk_t[i] = float(want_dk[size_t(i)]);
    for (int64_t i = 0; i < x.size(); ++i) want_dx_t[i] = float(want_dx[size_t(i)]);
    for (int64_t i = 0; i < dy.size(); ++i) want_db[i % g.out_c] += dy[i];
    EXPECT_TRUE(gradients_close(dk, want_dk_t, 1e-4, 1e-4)) << "kernel gradient";
    EXPECT_TRUE(gradients_close(dx, want_dx_t, 1e-4, 1e-4)) << "input gradient";
    if (c.bias) {
      EXPECT_TRUE(gradients_close(db, want_db, 1e-4, 1e-4)) << "bias gradient";
    }
  }
  set_num_threads(0);
}

// One image in float32 on two threads: each thread computes a band of output rows by a primitive of
// its own over the input rows the band reads (padding, stride, dilation and a 1x1 kernel), sharing
// the whole's converted weights. The residual CNN's shapes are split, except those the few-positions
// rule takes first; every shape gives the convolution (plus the addend, then the relu), also after
// the weights change, and the split is taken neither on one thread nor at batch 2.
TEST(Conv2D, KernelSplitsOneImageIntoBandsOfRowsOnTheThreads) {
  struct Case {
    int64_t hw, in_c, out_c, k, stride, dilation;
    bool same, addend, split;  // split: the residual CNN's shapes, split unless few enough for im2col
  };
  set_num_threads(2);
  // Winograd refused: at batch 1 the 3x3 stride-1 shapes take our own (its test is below); the bands
  // serve the other shapes, and these where Winograd is refused.
  kernels::set_winograd_allowed(false);
  for (const Case c : {Case{14, 32, 32, 3, 1, 1, true, false, true}, Case{14, 32, 32, 3, 1, 1, true, true, true},
                       Case{14, 32, 64, 3, 2, 1, true, false, true}, Case{7, 64, 64, 3, 1, 1, true, false, true},
                       Case{14, 32, 64, 1, 2, 1, false, true, true}, Case{12, 16, 16, 3, 1, 2, true, true, false},
                       Case{9, 8, 16, 5, 1, 1, true, false, false}, Case{13, 32, 64, 3, 1, 1, false, false, false}}) {
    SCOPED_TRACE(std::to_string(c.hw) + "x" + std::to_string(c.hw) + "x" + std::to_string(c.in_c) + ", " +
                 std::to_string(c.k) + "x" + std::to_string(c.k) + " stride " + std::to_string(c.stride) +
                 " dilation " + std::to_string(c.dilation) + (c.addend ? ", addend" : ""));
    const auto a = kernels::conv_axis(c.hw, c.k, c.stride, c.dilation, c.same);
    auto geometry = [&](int64_t batch) {
      return kernels::Conv2DGeometry{batch,       c.hw,       c.hw,        c.in_c,      a.out,     a.out,
                                     c.out_c,     c.k,        c.k,         c.stride,    c.stride,  c.dilation,
                                     c.dilation,  a.pad_begin, a.pad_end,  a.pad_begin, a.pad_end};
    };
    Rng rng(41);
    const Tensor x = random_tensor({1, c.hw, c.hw, c.in_c}, rng, -1, 1);
    Tensor kernel = random_tensor({c.k, c.k, c.in_c, c.out_c}, rng, -0.3f, 0.3f);
    const Tensor bias = random_tensor({c.out_c}, rng, -0.3f, 0.3f);
    const Tensor addend = random_tensor({1, a.out, a.out, c.out_c}, rng, -1, 1);
    const Tensor* add = c.addend ? &addend : nullptr;
    auto expect_conv = [&](const Tensor& y, const char* what) {
      SCOPED_TRACE(what);
      Tensor want = reference_conv(x, kernel, &bias, int(c.stride), int(c.stride), int(c.dilation),
                                   int(c.dilation), c.same);
      ASSERT_EQ(want.shape(), y.shape());
      for (int64_t i = 0; i < want.size(); ++i) want[i] = std::max(want[i] + (add ? addend[i] : 0.f), 0.f);
      EXPECT_TRUE(gradients_close(y, want, 1e-5, 1e-5));
    };
    kernels::Conv2DKernel k;
    expect_conv(kernel_forward(k, geometry(1), x, kernel, bias, true, add), "first call");
    const bool split = k.implementations().find("row parts") != std::string::npos;
    // Measured with oneDNN's AVX-512 kernels; elsewhere the bands may want other weights layouts. At
    // 64 positions or fewer im2col and register blocks come first (the test above).
    if (c.split && k.implementations().find("avx512_core") != std::string::npos &&
        !kernels::few_positions_suit(geometry(1))) {
      EXPECT_TRUE(split) << k.implementations();
    }
    for (int64_t i = 0; i < kernel.size(); i += 3) kernel[i] = -kernel[i];  // the bands must see it too
    expect_conv(kernel_forward(k, geometry(1), x, kernel, bias, true, add), "weights changed");

    set_num_threads(1);
    kernels::Conv2DKernel one_thread;
    expect_conv(kernel_forward(one_thread, geometry(1), x, kernel, bias, true, add), "one thread");
    EXPECT_EQ(one_thread.implementations().find("row parts"), std::string::npos) << one_thread.implementations();
    set_num_threads(2);
    kernels::Conv2DKernel two_images;
    Tensor x2({2, c.hw, c.hw, c.in_c});
    for (int64_t i = 0; i < x2.size(); ++i) x2[i] = x[i % x.size()];
    Tensor addend2({2, a.out, a.out, c.out_c});
    for (int64_t i = 0; i < addend2.size(); ++i) addend2[i] = addend[i % addend.size()];
    const Tensor y2 = kernel_forward(two_images, geometry(2), x2, kernel, bias, true, c.addend ? &addend2 : nullptr);
    EXPECT_EQ(two_images.implementations().find("row parts"), std::string::npos) << two_images.implementations();
    expect_conv(y2.rows(1, 2).clone().reshape({1, a.out, a.out, c.out_c}), "the second of two images");
  }
  kernels::set_winograd_allowed(true);
  set_num_threads(0);
}

// A nonzero kernel_version spares the comparison for the same address and version only: the kept
// conversion is used then (the caller's promise), and a new version or address converts anew. At
// batch 1 this shape runs our own Winograd, which keeps its transformed weights by the same rule;
// with Winograd refused, oneDNN's direct kernel and its converted weights.
TEST(Conv2D, KernelVersionKeepsTheConversionForTheSameAddressAndVersion) {
  const kernels::Conv2DGeometry g{1, 13, 13, 32, 11, 11, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
  for (const bool winograd : {true, false}) {
    SCOPED_TRACE(winograd ? "Winograd" : "direct");
    kernels::set_winograd_allowed(winograd);
    Rng rng(29);
    const Tensor x = random_tensor({1, 13, 13, 32}, rng, -1, 1);
    Tensor kernel = random_tensor({3, 3, 32, 64}, rng, -0.3f, 0.3f);
    const Tensor other = random_tensor({3, 3, 32, 64}, rng, -0.3f, 0.3f);
    const Tensor bias = random_tensor({64}, rng, -0.3f, 0.3f);
    kernels::Conv2DKernel k;
    auto expect_conv_of = [&](const Tensor& y, const Tensor& w, const char* what) {
      SCOPED_TRACE(what);
      Tensor magnitude;
      const Tensor want = reference_conv(x, w, &bias, 1, 1, 1, 1, false, &magnitude);
      EXPECT_TRUE(winograd ? winograd_close(y, want, magnitude) : gradients_close(y, want, 1e-5, 1e-5));
    };
    expect_conv_of(kernel_forward(k, g, x, kernel, bias, false, nullptr, 7), kernel, "first call");
    EXPECT_EQ(k.implementations().find("own") != std::string::npos, winograd) << k.implementations();
    const Tensor old = kernel.clone();
    for (int64_t i = 0; i < kernel.size(); i += 5) kernel[i] *= -2.f;
    expect_conv_of(kernel_forward(k, g, x, kernel, bias, false, nullptr, 7), old, "same version: kept");
    expect_conv_of(kernel_forward(k, g, x, kernel, bias, false, nullptr, 8), kernel, "new version");
    expect_conv_of(kernel_forward(k, g, x, other, bias, false, nullptr, 8), other, "same version, other address");
    for (int64_t i = 0; i < kernel.size(); i += 3) kernel[i] += 0.5f;
    expect_conv_of(kernel_forward(k, g, x, kernel, bias, false, nullptr, 0), kernel, "version 0: compared");
  }
  kernels::set_winograd_allowed(true);
}

// A float32 3x3 convolution of stride 1 with 4 output tiles or more runs its forward by our own
// Winograd F(4x4, 3x3), at any batch: the values within Winograd's rounding of the convolution, with
// bias, addend and relu, on 'valid' and 'same' padding and outputs cut inside a tile; the same bits
// on one thread and on two, and from a bfloat16 x as from its values in float32; weights changed in
// place are seen; a backward after it reads the x of its own forward, whichever primitives (oneDNN's
// Winograd at batch 16) serve it. One tile, a bfloat16 kernel or Winograd refused keep the direct
// kernel.
TEST(Conv2D, KernelRunsThreeByThreeForwardsByItsOwnWinograd) {
  struct Case {
    int64_t batch, h, w, in_c, out_c;
    bool same, addend;
  };
  const int64_t lanes_needed = 16;  // channels in multiples of the widest build's vectors: taken by every build
  // Filters in one and a half of the register blocks' panels of transformed weights: the last panel
  // narrower (24 filters with AVX2, 96 with AVX-512).
  const int64_t panel_and_a_half = kernels::block_product_columns() * 3 / 2;
  for (const Case c : {Case{1, 13, 13, 32, 64, false, false}, Case{1, 14, 14, 32, 32, true, true},
                       Case{1, 7, 7, 64, 64, true, false}, Case{3, 9, 7, 16, 32, true, true},
                       Case{15, 6, 6, 16, 16, false, false}, Case{2, 11, 5, 48, 16, false, true},
                       Case{16, 13, 13, 32, 64, false, true}, Case{2, 9, 9, 16, panel_and_a_half, true, true}}) {
    SCOPED_TRACE("batch " + std::to_string(c.batch) + ", " + std::to_string(c.h) + "x" + std::to_string(c.w) + "x" +
                 std::to_string(c.in_c) + " -> " + std::to_string(c.out_c) + (c.same ? " same" : " valid") +
                 (c.addend ? ", addend" : ""));
    ASSERT_EQ(c.in_c % lanes_needed, 0);
    const auto ah = kernels::conv_axis(c.h, 3, 1, 1, c.same), aw = kernels::conv_axis(c.w, 3, 1, 1, c.same);
    const kernels::Conv2DGeometry g{c.batch,   c.h,         c.w,       c.in_c,       ah.out,       aw.out,
                                    c.out_c,   3,           3,         1,            1,            1,
                                    1,         ah.pad_begin, ah.pad_end, aw.pad_begin, aw.pad_end};
    Rng rng(43);
    const Tensor x = random_tensor({c.batch, c.h, c.w, c.in_c}, rng, -1, 1);
    Tensor kernel = random_tensor({3, 3, c.in_c, c.out_c}, rng, -0.3f, 0.3f);
    const Tensor bias = random_tensor({c.out_c}, rng, -0.3f, 0.3f);
    const Tensor addend = random_tensor({c.batch, ah.out, aw.out, c.out_c}, rng, -1, 1);
    const Tensor* add = c.addend ? &addend : nullptr;
    for (const bool relu : {false, true}) {
      SCOPED_TRACE(relu ? "relu" : "linear");
      set_num_threads(2);
      kernels::Conv2DKernel k;
      auto expect_conv = [&](const Tensor& y, const char* what) {
        SCOPED_TRACE(what);
        Tensor magnitude;
        Tensor want = reference_conv(x, kernel, &bias, 1, 1, 1, 1, c.same, &magnitude);
        for (int64_t i = 0; i < want.size(); ++i) {
          if (add) {
            want[i] += addend[i];
            magnitude[i] += std::fabs(addend[i]);
          }
          if (relu) want[i] = std::max(want[i], 0.f);
        }
        EXPECT_TRUE(winograd_close(y, want, magnitude));
      };
      const Tensor y = kernel_forward(k, g, x, kernel, bias, relu, add);
      EXPECT_EQ(k.implementations().rfind("forward=winograd_4x4:own, primitive=", 0), 0u) << k.implementations();
      expect_conv(y, "two threads");
      set_num_threads(1);
      kernels::Conv2DKernel one_thread;
      EXPECT_EQ(values(kernel_forward(one_thread, g, x, kernel, bias, relu, add)), values(y)) << "one thread";
      set_num_threads(2);
      // A bfloat16 x: what the float32 x holding its values gives.
      std::vector<uint16_t> x16(size_t(x.size()));
      kernels::to_bf16(x.data(), x16.data(), x.size());
      Tensor x_values(x.shape());
      for (int64_t i = 0; i < x.size(); ++i) x_values[i] = kernels::bf16_value(x16[size_t(i)]);
      Tensor from16(y.shape()), from32(y.shape());
      k.forward(g, x16.data(), kernel.data(), bias.data(), relu, from16.data(), add ? add->data() : nullptr, 0, true);
      k.forward(g, x_values.data(), kernel.data(), bias.data(), relu, from32.data(), add ? add->data() : nullptr);
      EXPECT_EQ(values(from16), values(from32)) << "bfloat16 x";
      // Weights changed in place (version 0: compared).
      const Tensor kept = kernel.clone();
      for (int64_t i = 0; i < kernel.size(); i += 7) kernel[i] = -kernel[i];
      expect_conv(kernel_forward(k, g, x, kernel, bias, relu, add), "weights changed in place");
      kernel = kept;
    }
  }
  // The backward after it, at batch 2 (the direct primitives) and 16 (oneDNN's Winograd, whose x is
  // converted to its layout by the backward): after a forward of another x, the gradients of a
  // kernel that saw only this x, bit for bit, and within float32's rounding of the sums in double.
  for (const int64_t batch : {2, 16}) {
    SCOPED_TRACE("backward at batch " + std::to_string(batch));
    const kernels::Conv2DGeometry g{batch, 9, 9, 16, 9, 9, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    Rng rng(47);
    const Tensor x = random_tensor({batch, 9, 9, 16}, rng, -1, 1), other = random_tensor({batch, 9, 9, 16}, rng, -1, 1);
    const Tensor kernel = random_tensor({3, 3, 16, 32}, rng, -0.3f, 0.3f), bias = random_tensor({32}, rng, -0.3f, 0.3f);
    const Tensor dy = random_tensor({batch, 9, 9, 32}, rng, -1, 1);
    auto gradients = [&](kernels::Conv2DKernel& k) {
      Tensor dk(kernel.shape()), db({32}), dx(x.shape());
      kernel_forward(k, g, x, kernel, bias, false, nullptr);
      EXPECT_EQ(k.implementations().rfind("forward=winograd_4x4:own", 0), 0u) << k.implementations();
      k.backward(g, x.data(), dy.data(), kernel.data(), dk.data(), db.data(), dx.data());
      return std::vector<Tensor>{dk, db, dx};
    };
    kernels::Conv2DKernel fresh, reused;
    kernel_forward(reused, g, other, kernel, bias, false, nullptr);
    Tensor scratch_dk(kernel.shape()), scratch_db({32}), scratch_dx(x.shape());
    reused.backward(g, other.data(), dy.data(), kernel.data(), scratch_dk.data(), scratch_db.data(), scratch_dx.data());
    const std::vector<Tensor> want = gradients(fresh), got = gradients(reused);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(values(got[i]), values(want[i])) << i;
    // In double: dk[p][q][c][f] = sum of x * dy over the positions, db[f] = sum of dy.
    Tensor dk_sum(kernel.shape()), db_sum({32});
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t i = 0; i < 9; ++i)
        for (int64_t j = 0; j < 9; ++j)
          for (int64_t f = 0; f < 32; ++f) {
            const double d = dy[((n * 9 + i) * 9 + j) * 32 + f];
            db_sum[f] += float(d);
            for (int64_t p = 0; p < 3; ++p)
              for (int64_t q = 0; q < 3; ++q) {
                const int64_t r = i - 1 + p, col = j - 1 + q;
                if (r < 0 || r >= 9 || col < 0 || col >= 9) continue;
                for (int64_t c = 0; c < 16; ++c)
                  dk_sum[((p * 3 + q) * 16 + c) * 32 + f] += float(d * x[((n * 9 + r) * 9 + col) * 16 + c]);
              }
          }
    EXPECT_TRUE(gradients_close(got[0], dk_sum, 1e-3, 1e-3)) << "kernel gradient";
    EXPECT_TRUE(gradients_close(got[1], db_sum, 1e-3, 1e-3)) << "bias gradient";
  }
  // The direct kernel: one tile (the seed CNN's third convolution at batch 1), Winograd refused, a
  // bfloat16 kernel.
  {
    const kernels::Conv2DGeometry one_tile{1, 5, 5, 64, 3, 3, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
    Rng rng(53);
    const Tensor x = random_tensor({1, 5, 5, 64}, rng, -1, 1), kernel = random_tensor({3, 3, 64, 64}, rng, -0.3f, 0.3f);
    const Tensor bias = random_tensor({64}, rng, -0.3f, 0.3f);
    kernels::Conv2DKernel k;
    kernel_forward(k, one_tile, x, kernel, bias, true, nullptr);
    EXPECT_EQ(k.implementations().find("own"), std::string::npos) << k.implementations();
    const kernels::Conv2DGeometry g{1, 13, 13, 32, 11, 11, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
    const Tensor x13 = random_tensor({1, 13, 13, 32}, rng, -1, 1);
    const Tensor k13 = random_tensor({3, 3, 32, 64}, rng, -0.3f, 0.3f);
    kernels::set_winograd_allowed(false);
    kernels::Conv2DKernel refused;
    kernel_forward(refused, g, x13, k13, bias, true, nullptr);
    EXPECT_EQ(refused.implementations().find("own"), std::string::npos) << refused.implementations();
    kernels::set_winograd_allowed(true);
    if (kernels::bf16_supported()) {
      kernels::Conv2DKernel bf16;
      bf16.set_bf16(true);
      kernel_forward(bf16, g, x13, k13, bias, true, nullptr);
      EXPECT_EQ(bf16.implementations().find("own"), std::string::npos) << bf16.implementations();
    }
  }
  set_num_threads(0);
}

// A float32 convolution of a shape oneDNN's Winograd suits (3x3, stride 1, 16-channel blocks, batch
// 16) makes its primitives (for the backward) by Winograd exactly where oneDNN has a Winograd kernel
// for this CPU with the layouts left to it: a plain NHWC output forced on the primitive made oneDNN
// refuse it, silently, into the direct one.
TEST(Conv2D, KernelTakesWinogradWhereOneDnnHasIt) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const dnnl::memory::desc x_md({16, 32, 13, 13}, dt::f32, tag::any), w_md({64, 32, 3, 3}, dt::f32, tag::any),
      y_md({16, 64, 11, 11}, dt::f32, tag::any);
  bool available = true;
  try {
    const dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_winograd,
                                            x_md, w_md, y_md, {1, 1}, {0, 0}, {0, 0});
    dnnl::convolution_forward::primitive_desc(d, engine);
  } catch (const dnnl::error&) {
    available = false;
  }
  const kernels::Conv2DGeometry g{16, 13, 13, 32, 11, 11, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
  Rng rng(31);
  const Tensor x = random_tensor({16, 13, 13, 32}, rng, -1, 1);
  const Tensor kernel = random_tensor({3, 3, 32, 64}, rng, -0.3f, 0.3f);
  kernels::Conv2DKernel k;
  Tensor y({16, 11, 11, 64});
  k.forward(g, x.data(), kernel.data(), nullptr, false, y.data());
  // Our own Winograd runs the forward (the test above); the primitive is made for the backward.
  const std::string impl = k.implementations();
  ASSERT_NE(impl.find("primitive="), std::string::npos) << impl;
  const std::string made = impl.substr(impl.find("primitive="));
  EXPECT_EQ(made.find("wino") != std::string::npos, available) << impl;
}
