// Mixed precision (policy "mixed_bfloat16"): the policy's names, Dense and Conv2D forward and
// gradients against float32 within bfloat16's rounding bound, the recurrent layers within theirs,
// training on the digits, and the policy through saved files.
//
// The bound, per output value: each operand is rounded to bfloat16 (8 significant bits, unit
// roundoff u = 2^-8), so each product a*b carries a relative error of at most 2u + u^2, and the
// float32 sum adds little beside it: |got - fp32| <= 1.01 * 2^-7 * sum |a| |b| (+1e-6 for the float32
// sum itself). sum |a| |b| is the same layer computed in float32 on |x|, |kernel| and |dy|.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cpuid.h>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "graph/graph.hpp"
#include "graph_nodes.hpp"
#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/conv_weight_gradient_bf16.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/merge.hpp"
#include "kernels/cpu/recurrent.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::expect_error;
using myelin::test::random_tensor;
using myelin::test::relative_difference;
namespace fs = std::filesystem;

namespace {

constexpr float kBf16Bound = 1.01f * 0.0078125f;  // 2^-7

Tensor absolute(const Tensor& t) {
  Tensor a = t.clone();
  for (int64_t i = 0; i < a.size(); ++i) a[i] = std::fabs(a[i]);
  return a;
}

// Every value of `got` within the bound of `want`, and at least one different: bf16 did run.
void expect_within_bound(const Tensor& got, const Tensor& want, const Tensor& abs_sum, const std::string& what,
                         float bound = kBf16Bound, bool must_differ = true) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  int64_t differ = 0, bad = 0;
  for (int64_t i = 0; i < got.size(); ++i) {
    const float err = std::fabs(got[i] - want[i]);
    if (err > bound * abs_sum[i] + 1e-6f) ++bad;
    if (got[i] != want[i]) ++differ;
  }
  EXPECT_EQ(bad, 0) << what << ": values outside 2^-7 * sum|a||b|";
  if (must_differ) {
    EXPECT_GT(differ, 0) << what << ": identical to float32, so bfloat16 was not used";
  }
}

class MixedPrecision : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!mixed_precision::bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 dot products";
  }
  void TearDown() override {
    mixed_precision::set_global_policy("float32");
    kernels::force_own_bf16_dense_kernels(false);
  }
};

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_mp_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// Runs `fp32`, `bf16` and `abs_layer` (the float32 layer on absolute weights) forward and backward.
template <class L>
void compare_layer(L& fp32, L& bf16, L& abs_layer, const Shape& in, int64_t batch) {
  Rng rng(3);
  fp32.build(in, rng);
  bf16.build(in, rng);
  abs_layer.build(in, rng);
  bf16.kernel() = fp32.kernel().clone();
  abs_layer.kernel() = absolute(fp32.kernel());
  for (int64_t i = 0; i < fp32.bias().size(); ++i) fp32.bias()[i] = bf16.bias()[i] = float(rng.uniform(-0.5, 0.5));
  for (int64_t i = 0; i < abs_layer.bias().size(); ++i) abs_layer.bias()[i] = 0.f;  // adds no rounding
  for (L* l : {&fp32, &bf16, &abs_layer}) l->set_needs_input_grad(true);

  Shape xs = in;
  xs.insert(xs.begin(), batch);
  const Tensor x = random_tensor(xs, rng, -1, 1);
  const Tensor y32 = fp32.forward(x, true).clone();
  const Tensor y16 = bf16.forward(x, true).clone();
  const Tensor y_abs = abs_layer.forward(absolute(x), true).clone();
  expect_within_bound(y16, y32, y_abs, "forward");

  const Tensor dy = random_tensor(y32.shape(), rng, -1, 1);
  const Tensor dx32 = fp32.backward(dy).clone();
  const Tensor dx16 = bf16.backward(dy).clone();
  const Tensor dx_abs = abs_layer.backward(absolute(dy)).clone();
  expect_within_bound(dx16, dx32, dx_abs, "input gradient");
  expect_within_bound(*bf16.params()[0].grad, *fp32.params()[0].grad, *abs_layer.params()[0].grad, "kernel gradient");
  // The bias's gradient sums dy, which oneDNN's bfloat16 convolution reads rounded (one rounding:
  // 2^-8 * sum |dy|); Dense sums it in float32.
  expect_within_bound(*bf16.params()[1].grad, *fp32.params()[1].grad, *abs_layer.params()[1].grad, "bias gradient",
                      1.01f * 0.00390625f, false);
}

}  // namespace

TEST(MixedPrecisionPolicy, NamesAndRefusals) {
  EXPECT_EQ(mixed_precision::global_policy(), "float32");
  expect_error<ValueError>([] { mixed_precision::set_global_policy("mixed_float16"); }, {"unknown dtype policy"});
  mixed_precision::set_global_policy("auto");
  const bool faster = mixed_precision::bf16_faster_than_float32();
  EXPECT_EQ(mixed_precision::global_policy(), faster ? "mixed_bfloat16" : "float32");
  if (mixed_precision::bf16_supported()) {
    mixed_precision::set_global_policy("mixed_bfloat16");
    EXPECT_EQ(mixed_precision::global_policy(), "mixed_bfloat16");
  } else {
    EXPECT_FALSE(faster);
    expect_error<Error>([] { mixed_precision::set_global_policy("mixed_bfloat16"); }, {"AVX512_BF16"});
  }
  mixed_precision::set_global_policy("float32");
  EXPECT_EQ(mixed_precision::global_policy(), "float32");
}

// "auto"'s rule, for every kind of CPU it knows: bfloat16 where AMX multiplies tiles, or where AMD's
// vdpbf16ps out-runs its half-rate 512-bit float32 FMAs; never on AVX512_BF16 alone on Intel, where
// bfloat16 multiply-adds run at half float32's rate (bench/README.md, "mixed_bfloat16 on an Intel CPU
// without AMX").
TEST(MixedPrecisionPolicy, AutoPicksBfloat16OnlyWhereItRunsFasterThanFloat32) {
  using kernels::Bf16Hardware;
  EXPECT_TRUE(kernels::bf16_faster_than_float32(Bf16Hardware{.bf16 = true, .amx = true, .amd = false}));
  EXPECT_TRUE(kernels::bf16_faster_than_float32(Bf16Hardware{.bf16 = true, .amx = false, .amd = true}));
  EXPECT_FALSE(kernels::bf16_faster_than_float32(Bf16Hardware{.bf16 = true, .amx = false, .amd = false}));
  EXPECT_FALSE(kernels::bf16_faster_than_float32(Bf16Hardware{.bf16 = false, .amx = false, .amd = true}));
  EXPECT_FALSE(kernels::bf16_faster_than_float32(Bf16Hardware{.bf16 = false, .amx = false, .amd = false}));
  // This CPU: the same rule on what it reports.
  const bool amd = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(0, &eax, &ebx, &ecx, &edx) && ebx == 0x68747541u;  // "Auth" of "AuthenticAMD"
  }();
  EXPECT_EQ(mixed_precision::bf16_faster_than_float32(),
            kernels::bf16_faster_than_float32({kernels::bf16_supported(), kernels::amx_supported(), amd}));
}

TEST(MixedPrecisionPolicy, LayersTakeTheGlobalPolicyWhenMade) {
  EXPECT_EQ(layers::Dense(4).dtype_policy(), "float32");
  EXPECT_FALSE(layers::Dense(4).get_config().contains("dtype"));  // float32 configs unchanged
  EXPECT_EQ(layers::Dense(4, "linear", {.dtype = "mixed_bfloat16"}).get_config()["dtype"]["config"]["name"],
            "mixed_bfloat16");
  EXPECT_EQ(layers::LSTM(4).dtype_policy(), "float32");
  EXPECT_FALSE(layers::GRU(4).get_config().contains("dtype"));
  EXPECT_EQ(layers::SimpleRNN(4, {.dtype = "mixed_bfloat16"}).get_config()["dtype"]["config"]["name"],
            "mixed_bfloat16");
  const auto loaded = layers::from_config("LSTM", {{"units", 4}, {"dtype", "mixed_bfloat16"}});
  EXPECT_EQ(loaded->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
  EXPECT_FALSE(layers::MultiHeadAttention(2, 4).get_config().contains("dtype"));
  const auto mha =
      layers::from_config("MultiHeadAttention", {{"num_heads", 2}, {"key_dim", 4}, {"dtype", "mixed_bfloat16"}});
  EXPECT_EQ(mha->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
  EXPECT_FALSE(layers::Attention().get_config().contains("dtype"));
  EXPECT_EQ(layers::from_config("Attention", {{"dtype", "mixed_bfloat16"}})->get_config()["dtype"]["config"]["name"],
            "mixed_bfloat16");
}

TEST_F(MixedPrecision, DenseForwardAndGradientsWithinBf16Bound) {
  layers::Dense fp32(24, "linear", {.dtype = "float32"});
  layers::Dense bf16(24, "linear", {.dtype = "mixed_bfloat16"});
  layers::Dense abs_layer(24, "linear", {.dtype = "float32"});
  compare_layer(fp32, bf16, abs_layer, {200}, 37);
  // A kernel too large for kernels::dense_bf16's own tiles to pay takes oneDNN's matmul in training.
  layers::Dense wide32(700, "linear", {.dtype = "float32"});
  layers::Dense wide16(700, "linear", {.dtype = "mixed_bfloat16"});
  layers::Dense wide_abs(700, "linear", {.dtype = "float32"});
  compare_layer(wide32, wide16, wide_abs, {200}, 37);
}

// Inference keeps the kernel's bfloat16 copy between calls; a change made in place through
// kernel() between two inference calls, with no training step, must be seen.
TEST_F(MixedPrecision, DenseInferenceSeesWeightsChangedInPlace) {
  layers::Dense fp32(24, "linear", {.dtype = "float32"});
  layers::Dense bf16(24, "linear", {.dtype = "mixed_bfloat16"});
  layers::Dense abs_layer(24, "linear", {.dtype = "float32"});
  Rng rng(4);
  for (layers::Dense* l : {&fp32, &bf16, &abs_layer}) l->build({200}, rng);
  bf16.kernel() = fp32.kernel().clone();
  bf16.bias() = fp32.bias().clone();
  const Tensor x = random_tensor({5, 200}, rng, -1, 1);
  auto expect_inference_within_bound = [&](const std::string& what) {
    abs_layer.kernel() = absolute(fp32.kernel());
    const Tensor y16 = bf16.forward(x, false).clone();
    expect_within_bound(y16, fp32.forward(x, false), abs_layer.forward(absolute(x), false), what);
    return y16;
  };
  const Tensor first = expect_inference_within_bound("first inference call");
  EXPECT_TRUE(myelin::test::gradients_close(bf16.forward(x, false), first, 0, 0));  // the kept copy: the same result
  for (int64_t i = 0; i < fp32.kernel().size(); i += 7) {
    fp32.kernel()[i] *= -1.5f;
    bf16.kernel()[i] *= -1.5f;
  }
  const Tensor after = expect_inference_within_bound("after the kernel changed in place");
  EXPECT_FALSE(myelin::test::gradients_close(after, first, 1e-3, 1e-3));

  // A training call rounds other weights into the same copy; the kernel set back to the values of
  // the last inference call must not find that copy current.
  const Tensor kept_kernel = bf16.kernel().clone();
  for (int64_t i = 0; i < bf16.kernel().size(); ++i) bf16.kernel()[i] += 0.25f;
  bf16.forward(x, true);
  std::copy_n(kept_kernel.data(), kept_kernel.size(), bf16.kernel().data());
  EXPECT_TRUE(myelin::test::gradients_close(bf16.forward(x, false), after, 0, 0));
}

// Dense's inference product (kernels::dense_bf16) against oneDNN's bfloat16 matmul on the same
// rounded operands, which may differ only in the order of the float32 sums, over shapes that reach
// every part of its own kernel where it has one: a partial last tile of rows, an odd number of
// inputs (a zero completes the last pair), inputs not a multiple of 32, and outputs that end in a
// part of a 16-column vector; then the same inference through the layer, within bfloat16's bound.
TEST_F(MixedPrecision, DenseInferenceProductAgreesWithOneDnnForEveryTileShape) {
  kernels::force_own_bf16_dense_kernels(true);  // the own kernel for every shape, with AMX too
  Rng rng(5);
  for (const int64_t rows : {1, 11, 12, 13, 40})
    for (const int64_t inputs : {1, 2, 31, 33, 64, 200})
      for (const int64_t units : {1, 10, 16, 17, 32, 40, 64}) {
        SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(inputs) + " x " + std::to_string(units));
        const Tensor x = random_tensor({rows, inputs}, rng, -1, 1), w = random_tensor({inputs, units}, rng, -1, 1);
        Tensor got({rows, units}), want({rows, units}), abs_sum({rows, units});
        std::vector<float> seen;
        std::vector<uint16_t> kept;
        std::fill(got.data(), got.data() + got.size(), 7.f);  // every value must be written
        // Each row is handed to `finished` once, with the values it ends with.
        Tensor at_finish({rows, units});
        std::vector<std::atomic<int>> finishes(static_cast<size_t>(rows));
        kernels::dense_bf16(rows, units, inputs, x.data(), inputs, w.data(), &seen, kept, got.data(), units,
                            [&](int64_t r0, int64_t count) {
                              std::copy_n(got.data() + r0 * units, count * units, at_finish.data() + r0 * units);
                              for (int64_t r = r0; r < r0 + count; ++r) ++finishes[size_t(r)];
                            });
        for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(finishes[size_t(r)], 1) << "row " << r;
        for (int64_t i = 0; i < got.size(); ++i) ASSERT_EQ(at_finish[i], got[i]) << "value " << i;
        kernels::gemm_bf16(false, false, rows, units, inputs, x.data(), inputs, w.data(), units, want.data(), units);
        kernels::gemm(false, false, rows, units, inputs, 1.f, absolute(x).data(), inputs, absolute(w).data(), units,
                      0.f, abs_sum.data(), units);
        for (int64_t i = 0; i < got.size(); ++i)
          ASSERT_LE(std::fabs(got[i] - want[i]), 1e-6f * abs_sum[i] + 1e-7f) << "value " << i;

        layers::Dense fp32(units, "linear", {.dtype = "float32"});
        layers::Dense bf16(units, "linear", {.dtype = "mixed_bfloat16"});
        layers::Dense abs_layer(units, "linear", {.use_bias = false, .dtype = "float32"});
        for (layers::Dense* l : {&fp32, &bf16, &abs_layer}) l->build({inputs}, rng);
        bf16.kernel() = fp32.kernel().clone();
        bf16.bias() = fp32.bias().clone();
        abs_layer.kernel() = absolute(fp32.kernel());
        const Tensor linear = bf16.forward(x, false).clone();
        expect_within_bound(linear, fp32.forward(x, false), abs_layer.forward(absolute(x), false),
                            "inference", kBf16Bound, rows * inputs * units >= 64);

        // The activation, applied by the product as it finishes rows, is the one applied afterwards.
        for (const std::string activation : {"relu", "softmax"}) {
          layers::Dense with(units, activation, {.dtype = "mixed_bfloat16"});
          with.build({inputs}, rng);
          with.kernel() = bf16.kernel().clone();
          with.bias() = bf16.bias().clone();
          Tensor want_act({rows, units});
          kernels::bias_activation_forward(activation == "relu" ? ActivationKind::ReLU : ActivationKind::Softmax,
                                           linear.data(), nullptr, nullptr, want_act.data(), rows, units);
          const Tensor& got_act = with.forward(x, false);
          for (int64_t i = 0; i < got_act.size(); ++i)
            ASSERT_NEAR(got_act[i], want_act[i], 1e-6f) << activation << ", value " << i;
        }
      }
}

// Dense's weight gradient under mixed_bfloat16 (kernels::weight_gradient_bf16, x^T dy summed over
// the rows in pairs) against oneDNN's bfloat16 matmul on the same rounded operands, which may differ
// only in the order of the float32 sums: odd row counts (the last pair's second row is zero), a
// partial last tile of C's rows, outputs ending in part of a 16-column vector, and row strides
// wider than the rows; 300 outputs take oneDNN's matmul itself.
TEST_F(MixedPrecision, DenseWeightGradientAgreesWithOneDnnForEveryTileShape) {
  kernels::force_own_bf16_dense_kernels(true);  // the own kernel for every shape, with AMX too
  Rng rng(6);
  for (const int64_t rows : {1, 2, 7, 37, 128})
    for (const int64_t inputs : {1, 5, 12, 13, 31, 200})
      for (const int64_t units : {1, 10, 16, 17, 32, 40, 64, 300}) {
        SCOPED_TRACE(std::to_string(rows) + " rows, " + std::to_string(inputs) + " x " + std::to_string(units));
        const int64_t lda = inputs + 3, ldb = units + 5, ldc = units + 2;  // strides past the rows
        const Tensor x = random_tensor({rows, lda}, rng, -1, 1), dy = random_tensor({rows, ldb}, rng, -1, 1);
        Tensor got({inputs, ldc}), want({inputs, ldc}), abs_sum({inputs, ldc});
        std::fill(got.data(), got.data() + got.size(), 7.f);  // every value must be written
        kernels::weight_gradient_bf16(rows, inputs, units, x.data(), lda, dy.data(), ldb, got.data(), ldc);
        kernels::gemm_bf16(true, false, inputs, units, rows, x.data(), lda, dy.data(), ldb, want.data(), ldc);
        kernels::gemm(true, false, inputs, units, rows, 1.f, absolute(x).data(), lda, absolute(dy).data(), ldb, 0.f,
                      abs_sum.data(), ldc);
        for (int64_t k = 0; k < inputs; ++k)
          for (int64_t n = 0; n < units; ++n) {
            const int64_t i = k * ldc + n;
            ASSERT_LE(std::fabs(got[i] - want[i]), 1e-6f * abs_sum[i] + 1e-7f) << "row " << k << ", column " << n;
          }
        for (int64_t k = 0; k < inputs; ++k)  // the padding past each row of C is left alone
          for (int64_t n = units; n < ldc; ++n) ASSERT_EQ(got[k * ldc + n], 7.f) << "row " << k << ", column " << n;
      }
}

// Dense's products on AMX tiles (kernels/cpu/dense_amx) against oneDNN's bfloat16 matmul on the same
// rounded operands, which may differ only in the order of the float32 sums: rows, inputs and units
// on both sides of the tiles' 16 rows, 32 values and 16 columns, and of the 2 x 2 blocks of them;
// row strides wider than the rows, whose padding must be left alone.
TEST_F(MixedPrecision, DenseAmxKernelsAgreeWithOneDnnForEveryTileShape) {
  if (!kernels::dense_amx_available()) GTEST_SKIP() << "no AMX tiles here (CPU, operating system or build)";
  Rng rng(9);
  for (const int64_t rows : {1, 12, 16, 17, 32, 33, 70, 128})
    for (const int64_t inputs : {1, 2, 31, 32, 33, 200})
      for (const int64_t units : {1, 10, 16, 17, 32, 33, 48}) {
        SCOPED_TRACE(std::to_string(rows) + " rows, " + std::to_string(inputs) + " inputs, " + std::to_string(units) +
                     " units");
        const int64_t lda = inputs + 3, ldb = units + 5, ldc = units + 2;
        const Tensor x = random_tensor({rows, lda}, rng, -1, 1), w = random_tensor({inputs, units}, rng, -1, 1);
        const Tensor dy = random_tensor({rows, ldb}, rng, -1, 1);
        const auto agree = [&](const Tensor& got, const Tensor& want, const Tensor& abs_sum, int64_t count,
                               int64_t width, const char* what) {
          for (int64_t r = 0; r < count; ++r) {
            for (int64_t c = 0; c < width; ++c) {
              const int64_t i = r * ldc + c;
              ASSERT_LE(std::fabs(got[i] - want[i]), 1e-6f * abs_sum[i] + 1e-7f) << what << " " << r << ", " << c;
            }
            for (int64_t c = width; c < ldc; ++c) ASSERT_EQ(got[r * ldc + c], 7.f) << what << " padding " << r;
          }
        };

        // The forward, as training calls it: the input rounded with its pairs, kept for the gradient.
        kernels::RoundedInput kept_x;
        std::vector<uint16_t> kept_w;
        Tensor y({rows, ldc}), y_want({rows, ldc}), y_abs({rows, ldc});
        std::fill(y.data(), y.data() + y.size(), 7.f);
        std::fill(y_want.data(), y_want.data() + y_want.size(), 7.f);
        std::vector<int> finishes(size_t(rows), 0);
        kernels::dense_bf16(rows, units, inputs, x.data(), lda, w.data(), nullptr, kept_w, y.data(), ldc,
                            [&](int64_t r0, int64_t count) {
                              for (int64_t r = r0; r < r0 + count; ++r) ++finishes[size_t(r)];
                            },
                            &kept_x);
        const bool amx = rows >= 12;  // fewer rows than the own kernel's tile keep the own kernel
        ASSERT_EQ(kept_x.holds(x.data(), rows, inputs, true), amx);
        for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(finishes[size_t(r)], 1) << "row " << r;
        kernels::gemm_bf16(false, false, rows, units, inputs, x.data(), lda, w.data(), units, y_want.data(), ldc);
        kernels::gemm(false, false, rows, units, inputs, 1.f, absolute(x).data(), lda, absolute(w).data(), units,
                      0.f, y_abs.data(), ldc);
        agree(y, y_want, y_abs, rows, units, "forward");

        // The forward as inference calls it (the weights' rounding kept, the input rounded block by
        // block): the same sums.
        std::vector<float> seen;
        std::vector<uint16_t> kept_for_inference;
        Tensor y_inference({rows, ldc});
        std::fill(y_inference.data(), y_inference.data() + y_inference.size(), 7.f);
        std::fill(finishes.begin(), finishes.end(), 0);
        kernels::dense_bf16(rows, units, inputs, x.data(), lda, w.data(), &seen, kept_for_inference,
                            y_inference.data(), ldc, [&](int64_t r0, int64_t count) {
                              for (int64_t r = r0; r < r0 + count; ++r) ++finishes[size_t(r)];
                            });
        for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(finishes[size_t(r)], 1) << "inference, row " << r;
        agree(y_inference, y_want, y_abs, rows, units, "inference");

        // The weight gradient, from the kept rounding and from the input itself.
        Tensor g({inputs, ldc}), g_fresh({inputs, ldc}), g_want({inputs, ldc}), g_abs({inputs, ldc});
        for (Tensor* t : {&g, &g_fresh, &g_want}) std::fill(t->data(), t->data() + t->size(), 7.f);
        kernels::weight_gradient_bf16(rows, inputs, units, x.data(), lda, dy.data(), ldb, g.data(), ldc, &kept_x);
        kernels::weight_gradient_bf16(rows, inputs, units, x.data(), lda, dy.data(), ldb, g_fresh.data(), ldc);
        kernels::gemm_bf16(true, false, inputs, units, rows, x.data(), lda, dy.data(), ldb, g_want.data(), ldc);
        kernels::gemm(true, false, inputs, units, rows, 1.f, absolute(x).data(), lda, absolute(dy).data(), ldb, 0.f,
                      g_abs.data(), ldc);
        agree(g, g_want, g_abs, inputs, units, "weight gradient");
        for (int64_t i = 0; i < g.size(); ++i) ASSERT_EQ(g[i], g_fresh[i]) << "kept against fresh rounding, " << i;

        // A rounding kept from another input of the same shape is not taken for this one.
        if (amx) {
          const Tensor other = random_tensor({rows, lda}, rng, -1, 1);
          kernels::RoundedInput stale;
          kernels::amx_round_input(other.data(), lda, rows, inputs, true, stale);
          Tensor g_stale({inputs, ldc});
          std::fill(g_stale.data(), g_stale.data() + g_stale.size(), 7.f);
          kernels::weight_gradient_bf16(rows, inputs, units, x.data(), lda, dy.data(), ldb, g_stale.data(), ldc,
                                        &stale);
          for (int64_t i = 0; i < g.size(); ++i) ASSERT_EQ(g_stale[i], g_fresh[i]) << "stale rounding used, " << i;

          // The same buffers then rounding x without the pair layout (as inference rounds) still hold
          // other's pairs, and must not offer them for x.
          ASSERT_TRUE(stale.holds(other.data(), rows, inputs, true));
          kernels::amx_round_input(x.data(), lda, rows, inputs, false, stale);
          ASSERT_TRUE(stale.holds(x.data(), rows, inputs, false));
          ASSERT_FALSE(stale.holds(x.data(), rows, inputs, true));
          std::fill(g_stale.data(), g_stale.data() + g_stale.size(), 7.f);
          kernels::weight_gradient_bf16(rows, inputs, units, x.data(), lda, dy.data(), ldb, g_stale.data(), ldc,
                                        &stale);
          for (int64_t i = 0; i < g.size(); ++i) ASSERT_EQ(g_stale[i], g_fresh[i]) << "pairs without flag, " << i;
          stale.clear();
          ASSERT_FALSE(stale.holds(x.data(), rows, inputs, false));
        }
      }
}

// Forces how the bfloat16 weight gradient is computed for the scope, then restores the rule.
struct WeightGradientWay {
  explicit WeightGradientWay(std::optional<kernels::Bf16WeightGradient> way) {
    kernels::force_bf16_weight_gradient(way);
  }
  ~WeightGradientWay() { kernels::force_bf16_weight_gradient(std::nullopt); }
};

using Bf16Way = kernels::Bf16WeightGradient;
std::string way_name(std::optional<Bf16Way> way) {
  if (!way) return "the rule";
  switch (*way) {
    case Bf16Way::Matmul: return "by matmul";
    case Bf16Way::ImagePairs: return "by image pairs";
    default: return "by the primitive";
  }
}

TEST_F(MixedPrecision, Conv2DForwardAndGradientsWithinBf16Bound) {
  // 8 channels in and 7x7 outputs: the bfloat16 primitives for all three products (the im2col path
  // for tiny patches stays float32), the weight gradient both ways whatever this CPU defaults to.
  for (const Bf16Way forced : {Bf16Way::Matmul, Bf16Way::Primitive, Bf16Way::ImagePairs})
    for (const std::string padding : {"valid", "same"}) {
      SCOPED_TRACE(padding + ", weight gradient " + way_name(forced));
      const WeightGradientWay way(forced);
      layers::Conv2D fp32(16, {3, 3}, "linear", {.padding = padding, .dtype = "float32"});
      layers::Conv2D bf16(16, {3, 3}, "linear", {.padding = padding, .dtype = "mixed_bfloat16"});
      layers::Conv2D abs_layer(16, {3, 3}, "linear", {.padding = padding, .dtype = "float32"});
      compare_layer(fp32, bf16, abs_layer, {9, 9, 8}, 5);
    }
}

TEST_F(MixedPrecision, WeightGradientByImagePairsSumsTheRoundedProducts) {
  const kernels::Conv2DGeometry probe{.out_c = 16};
  if (!kernels::image_pairs_weight_gradient_fits(probe))
    GTEST_SKIP() << "the library was built without AVX512_BF16, so it has no image-pairs kernel";
  struct Case {
    int64_t batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, dilation;
    bool same, bias;
  };
  // An odd batch (the last pair's second image is zeros), input channels off the tile of 8 (12, 3),
  // output channels off the tile of 64 (16, 48, 80), strides, dilation, and 'same' padding with the
  // odd pixel at the end (4x3 kernel, stride 2).
  const Case cases[] = {{5, 9, 9, 12, 48, 3, 3, 1, 1, false, true},  {4, 8, 7, 3, 16, 3, 3, 1, 1, true, false},
                        {3, 9, 10, 16, 80, 4, 3, 2, 1, true, true},  {6, 11, 11, 8, 64, 3, 3, 1, 2, true, false},
                        {2, 7, 7, 32, 64, 1, 1, 2, 1, false, true},  {1, 6, 6, 9, 32, 3, 3, 1, 1, true, true}};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (const Case& c : cases) {
    const auto ah = kernels::conv_axis(c.in_h, c.kernel_h, c.stride, c.dilation, c.same);
    const auto aw = kernels::conv_axis(c.in_w, c.kernel_w, c.stride, c.dilation, c.same);
    const kernels::Conv2DGeometry g{.batch = c.batch, .in_h = c.in_h, .in_w = c.in_w, .in_c = c.in_c,
                                    .out_h = ah.out, .out_w = aw.out, .out_c = c.out_c,
                                    .kernel_h = c.kernel_h, .kernel_w = c.kernel_w,
                                    .stride_h = c.stride, .stride_w = c.stride,
                                    .dilation_h = c.dilation, .dilation_w = c.dilation,
                                    .pad_top = ah.pad_begin, .pad_bottom = ah.pad_end,
                                    .pad_left = aw.pad_begin, .pad_right = aw.pad_end};
    SCOPED_TRACE("batch " + std::to_string(c.batch) + ", " + std::to_string(c.in_c) + " -> " +
                 std::to_string(c.out_c) + " channels, kernel " + std::to_string(c.kernel_h) + "x" +
                 std::to_string(c.kernel_w) + ", stride " + std::to_string(c.stride) + ", dilation " +
                 std::to_string(c.dilation) + (c.same ? ", same" : ", valid"));
    std::vector<float> x(size_t(g.batch * g.in_h * g.in_w * g.in_c)), dy(size_t(g.batch * g.out_h * g.out_w * g.out_c));
    for (float& v : x) v = normal(rng);
    for (float& v : dy) v = normal(rng);
    // The reference: the same rounded operands, the products summed in double.
    auto rounded = [](const std::vector<float>& v) {
      std::vector<uint16_t> h(v.size());
      kernels::to_bf16(v.data(), h.data(), int64_t(v.size()));
      std::vector<double> r(v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        const uint32_t u = uint32_t(h[i]) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        r[i] = f;
      }
      return r;
    };
    const std::vector<double> xr = rounded(x), dyr = rounded(dy);
    const size_t weights = size_t(g.kernel_h * g.kernel_w * g.in_c * g.out_c);
    std::vector<double> want(weights), magnitude(weights), want_bias(size_t(g.out_c));
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const double* d = &dyr[size_t(((n * g.out_h + oh) * g.out_w + ow) * g.out_c)];
          for (int64_t co = 0; co < g.out_c; ++co) want_bias[size_t(co)] += dy[size_t(&d[co] - dyr.data())];
          for (int64_t kh = 0; kh < g.kernel_h; ++kh)
            for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
              const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
              const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
              if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
              for (int64_t ci = 0; ci < g.in_c; ++ci) {
                const double xv = xr[size_t(((n * g.in_h + ih) * g.in_w + iw) * g.in_c + ci)];
                const size_t at = size_t(((kh * g.kernel_w + kw) * g.in_c + ci) * g.out_c);
                for (int64_t co = 0; co < g.out_c; ++co) {
                  want[at + size_t(co)] += xv * d[co];
                  magnitude[at + size_t(co)] += std::fabs(xv * d[co]);
                }
              }
            }
        }
    std::vector<float> dw(weights, 7.f), db(size_t(g.out_c), 7.f);  // overwritten, not added to
    kernels::ImagePairsScratch scratch;
    for (int call = 0; call < 2; ++call) {
      // The padding is zeros whatever the reused buffers held: pairs of 1.0 in every slot.
      scratch.x_pairs.assign(size_t(1) << 16, 0x3f803f80u);
      scratch.dy_pairs.assign(size_t(1) << 16, 0x3f803f80u);
      kernels::bf16_weight_gradient_by_image_pairs(g, x.data(), dy.data(), dw.data(), c.bias ? db.data() : nullptr,
                                                   scratch);
      for (size_t i = 0; i < weights; ++i)
        ASSERT_NEAR(dw[i], want[i], 1e-5 * magnitude[i] + 1e-6) << "weight " << i << ", call " << call;
      if (c.bias) {
        for (int64_t co = 0; co < g.out_c; ++co)
          ASSERT_NEAR(db[size_t(co)], want_bias[size_t(co)], 1e-4) << "bias " << co << ", call " << call;
      } else {
        for (float v : db) ASSERT_EQ(v, 7.f);
      }
    }
  }
}

TEST_F(MixedPrecision, Conv2DNeverRunsOneDnnReferenceKernels) {
  // oneDNN has no optimised bfloat16 convolution for one input channel, and its reference kernel
  // made the CNN's first layer about 40 times slower than float32; the kernel computes such a shape
  // in float32 instead. The CNN's three convolutions at batch 128, forward and backward.
  const kernels::Conv2DGeometry shapes[] = {
      {.batch = 128, .in_h = 28, .in_w = 28, .in_c = 1, .out_h = 26, .out_w = 26, .out_c = 32,
       .kernel_h = 3, .kernel_w = 3},
      {.batch = 128, .in_h = 13, .in_w = 13, .in_c = 32, .out_h = 11, .out_w = 11, .out_c = 64,
       .kernel_h = 3, .kernel_w = 3},
      {.batch = 128, .in_h = 5, .in_w = 5, .in_c = 64, .out_h = 3, .out_w = 3, .out_c = 64,
       .kernel_h = 3, .kernel_w = 3}};
  using Forced = std::optional<Bf16Way>;
  for (const Forced forced : {Forced(), Forced(Bf16Way::Matmul), Forced(Bf16Way::Primitive), Forced(Bf16Way::ImagePairs)}) {
    for (const auto& g : shapes) {
      const WeightGradientWay way(forced);
      // Unforced, the rule: with AMX the matmul where im2col copies x at most 4 times (the third
      // shape: 81 of 25 positions) and the primitive elsewhere (the second: 9 * 121 of 169); without,
      // image pairs where built (every shape here has out_c a multiple of 16), else the matmul with
      // few output positions.
      const bool pairs_built = kernels::image_pairs_weight_gradient_fits(g);
      const bool few_copies = g.out_h * g.out_w * 9 <= 4 * g.in_h * g.in_w;
      const Bf16Way chosen = forced                       ? *forced
                             : kernels::amx_supported()  ? (few_copies ? Bf16Way::Matmul : Bf16Way::Primitive)
                             : pairs_built               ? Bf16Way::ImagePairs
                             : g.out_h * g.out_w <= 16   ? Bf16Way::Matmul
                                                         : Bf16Way::Primitive;
      kernels::Conv2DKernel kernel;
      kernel.set_bf16(true);
      std::vector<float> x(size_t(g.batch * g.in_h * g.in_w * g.in_c), 0.5f), w(size_t(9 * g.in_c * g.out_c), 0.25f),
          b(size_t(g.out_c)), y(size_t(g.batch * g.out_h * g.out_w * g.out_c)), dw(w.size()), dx(x.size());
      kernel.forward(g, x.data(), w.data(), b.data(), true, y.data());
      kernel.backward(g, x.data(), y.data(), w.data(), dw.data(), b.data(), dx.data());
      const std::string impl = kernel.implementations();
      SCOPED_TRACE(impl + " (" + (forced ? "forced: " : "") + way_name(forced) + ")");
      EXPECT_NE(impl.find("backward_data="), std::string::npos);
      EXPECT_EQ(impl.find("ref"), std::string::npos);
      // The shapes oneDNN serves in bfloat16 do run in bfloat16.
      if (g.in_c >= 32) {
        EXPECT_NE(impl.substr(0, impl.find(',')).find("bf16"), std::string::npos);
      }
      // The weight gradient runs the way chosen: never by matmul or by image pairs unless chosen.
      // Chosen, the matmul runs wherever the forward ran in bfloat16 on plain NHWC x, which it always
      // does without AMX (an AMX forward may choose another layout for x, which the matmul does not
      // read), and image pairs wherever the forward ran in bfloat16 on a build with that kernel.
      const bool matmul = impl.find("im2col+matmul") != std::string::npos;
      const bool pairs = impl.find("image_pairs") != std::string::npos;
      const bool forward_bf16 = impl.substr(0, impl.find(',')).find("bf16") != std::string::npos;
      if (chosen != Bf16Way::Matmul) {
        EXPECT_FALSE(matmul);
      } else if (forward_bf16 && !kernels::amx_supported()) {
        EXPECT_TRUE(matmul);
      }
      if (chosen != Bf16Way::ImagePairs) {
        EXPECT_FALSE(pairs);
      } else if (forward_bf16 && pairs_built) {
        EXPECT_TRUE(pairs);
      }
    }
  }
}

// A bfloat16 dy (a normalisation's gradient handed back so) gives the gradients its values give as
// float32, bit for bit, whichever way computes them, and so does a bfloat16 x: the bfloat16 products round a float32 dy as
// to_bf16 does, the float32 ones (one input channel, the image-pairs kernel's input) read it
// converted. The kernel says which it reads as it is; a kernel switching between the two remakes
// its ports.
TEST_F(MixedPrecision, Conv2DBackwardTakesBfloat16XAndDyAsTheValuesTheyHold) {
  struct Case {
    kernels::Conv2DGeometry g;
    const char* what;
  };
  const Case cases[] = {
      {{.batch = 4, .in_h = 14, .in_w = 14, .in_c = 32, .out_h = 14, .out_w = 14, .out_c = 32, .kernel_h = 3,
        .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1},
       "3x3, 32 -> 32, same"},
      {{.batch = 4, .in_h = 14, .in_w = 14, .in_c = 32, .out_h = 7, .out_w = 7, .out_c = 64, .kernel_h = 1,
        .kernel_w = 1, .stride_h = 2, .stride_w = 2},
       "1x1 stride 2, 32 -> 64"},
      {{.batch = 3, .in_h = 12, .in_w = 12, .in_c = 1, .out_h = 12, .out_w = 12, .out_c = 32, .kernel_h = 3,
        .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1},
       "one input channel"}};
  using Forced = std::optional<Bf16Way>;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (const Forced forced : {Forced(), Forced(Bf16Way::Matmul), Forced(Bf16Way::Primitive), Forced(Bf16Way::ImagePairs)})
    for (const Case& c : cases) {
      const auto& g = c.g;
      SCOPED_TRACE(std::string(c.what) + ", weight gradient " + way_name(forced));
      const WeightGradientWay way(forced);
      const size_t xs = size_t(g.batch * g.in_h * g.in_w * g.in_c), ys = size_t(g.batch * g.out_h * g.out_w * g.out_c);
      std::vector<float> x(xs), w(size_t(g.kernel_h * g.kernel_w * g.in_c * g.out_c)), b(size_t(g.out_c)), y(ys),
          dy(ys);
      for (auto* v : {&x, &w, &b, &dy})
        for (float& e : *v) e = normal(rng);
      std::vector<uint16_t> dy16(ys);
      kernels::to_bf16(dy.data(), dy16.data(), int64_t(ys));
      std::vector<float> dy_values(ys);
      for (size_t i = 0; i < ys; ++i) dy_values[i] = kernels::bf16_value(dy16[i]);
      kernels::Conv2DKernel kernel;
      kernel.set_bf16(true);
      EXPECT_FALSE(kernel.reads_bf16_dy()) << "before any forward";
      kernel.forward(g, x.data(), w.data(), b.data(), false, y.data());
      const bool reads = kernel.reads_bf16_dy();
      // The matmul (where forced) and the primitives read bfloat16; image pairs and a one-channel
      // patch's float32 GEMM read float32.
      if (forced == Bf16Way::ImagePairs || (g.in_c == 1 && forced != Bf16Way::Matmul)) {
        EXPECT_FALSE(reads) << "a float32 weight gradient";
      } else if (forced == Bf16Way::Matmul || kernels::amx_supported()) {
        EXPECT_TRUE(reads);
      }
      struct Grads {
        std::vector<float> dw, db, dx;
      };
      auto run = [&](const void* d, bool bf16) {
        Grads r{std::vector<float>(w.size(), 7.f), std::vector<float>(b.size(), 7.f), std::vector<float>(xs, 7.f)};
        kernel.backward(g, x.data(), d, w.data(), r.dw.data(), r.db.data(), r.dx.data(), bf16);
        return r;
      };
      const Grads from32 = run(dy_values.data(), false);
      const Grads from16 = run(dy16.data(), true);
      const Grads again32 = run(dy_values.data(), false);
      EXPECT_EQ(from16.dw, from32.dw);
      EXPECT_EQ(from16.db, from32.db);
      EXPECT_EQ(from16.dx, from32.dx);
      EXPECT_EQ(again32.dw, from32.dw);
      EXPECT_EQ(again32.dx, from32.dx);
      // The float32 dy itself, unrounded: a bfloat16 product rounds it, so the same gradients there.
      if (reads) {
        const Grads unrounded = run(dy.data(), false);
        EXPECT_EQ(unrounded.dx, from32.dx);
        EXPECT_EQ(unrounded.dw, from32.dw);
      }
      // x in bfloat16 too (a normalisation's output handed over), read by the backward as given:
      // the gradients of the float32 x holding its values.
      std::vector<uint16_t> x16(xs);
      kernels::to_bf16(x.data(), x16.data(), int64_t(xs));
      std::vector<float> x_values(xs), y16(ys);
      for (size_t i = 0; i < xs; ++i) x_values[i] = kernels::bf16_value(x16[i]);
      Grads of16{std::vector<float>(w.size(), 7.f), std::vector<float>(b.size(), 7.f), std::vector<float>(xs, 7.f)};
      Grads of32 = of16;
      kernels::Conv2DKernel on16, on32;
      on16.set_bf16(true);
      on32.set_bf16(true);
      on16.forward(g, x16.data(), w.data(), b.data(), false, y16.data(), nullptr, 0, true);
      on16.backward(g, x16.data(), dy16.data(), w.data(), of16.dw.data(), of16.db.data(), of16.dx.data(), true);
      on32.forward(g, x_values.data(), w.data(), b.data(), false, y.data());
      on32.backward(g, x_values.data(), dy16.data(), w.data(), of32.dw.data(), of32.db.data(), of32.dx.data(), true);
      EXPECT_EQ(y16, y);
      EXPECT_EQ(of16.dw, of32.dw);
      EXPECT_EQ(of16.db, of32.db);
      EXPECT_EQ(of16.dx, of32.dx);
    }
}

TEST_F(MixedPrecision, TrainsTheDigitsToTheFloat32Bar) {
  // test_model.cpp's digits run (float32 reaches >= 0.95), under mixed_bfloat16.
  mixed_precision::set_global_policy("mixed_bfloat16");
  auto data = datasets::digits(MYELIN_TEST_DATA_DIR);
  for (int64_t i = 0; i < data.x.size(); ++i) data.x[i] /= 16.f;
  auto [x_train, x_test, y_train, y_test] = train_test_split(data.x, data.y, 0.2, 0);
  set_random_seed(0);
  Sequential m({layers::Dense(64, "relu", Shape{64}), layers::Dense(10, "softmax")});
  m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  m.fit(x_train, y_train, {.epochs = 20, .batch_size = 32, .verbose = 0});
  EXPECT_GE(m.evaluate(x_test, y_test)["accuracy"], 0.95);
  for (const auto& l : m.layers()) EXPECT_EQ(l->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
  // The weights stay float32 values, not bfloat16 ones: some have low bits set.
  const Tensor& k = *m.layers()[0]->params()[0].value;
  int64_t low_bits = 0;
  for (int64_t i = 0; i < k.size(); ++i) {
    uint32_t u;
    const float v = k[i];
    std::memcpy(&u, &v, 4);
    low_bits += (u & 0xffffu) != 0;
  }
  EXPECT_GT(low_bits, k.size() / 2);
}

namespace {

// A recurrent layer returning sequences: `gates` 1 SimpleRNN, 4 LSTM, 3 GRU.
std::unique_ptr<layers::Recurrent> recurrent_layer(int gates, int64_t units, const std::string& dtype) {
  const layers::RecurrentOptions o{.return_sequences = true, .dtype = dtype};
  if (gates == 4) return std::make_unique<layers::LSTM>(units, o);
  if (gates == 3) return std::make_unique<layers::GRU>(units, o);
  return std::make_unique<layers::SimpleRNN>(units, o);
}

// A training pass of a float32 recurrent layer and of its mixed_bfloat16 twin (the same weights) on
// x: the outputs, the input gradient and every weight gradient within 0.02 of float32's relative to
// the largest value, and the outputs not all equal to float32's. Returns the bfloat16 outputs.
Tensor expect_recurrent_within_bf16_bound(layers::Recurrent& fp32, layers::Recurrent& bf16, const Tensor& x,
                                          Rng& rng) {
  const Tensor y32 = fp32.forward(x, true).clone();
  const Tensor y16 = bf16.forward(x, true).clone();
  EXPECT_LE(relative_difference(y16, y32), 0.02f) << "outputs";
  EXPECT_GT(relative_difference(y16, y32), 0.f) << "identical to float32, so bfloat16 was not used";
  const Tensor dy = random_tensor(y32.shape(), rng, -1, 1);
  const Tensor dx32 = fp32.backward(dy).clone();
  const Tensor dx16 = bf16.backward(dy).clone();
  EXPECT_LE(relative_difference(dx16, dx32), 0.02f) << "input gradient";
  const char* names[] = {"kernel", "recurrent_kernel", "bias"};
  for (size_t p = 0; p < 3; ++p)
    EXPECT_LE(relative_difference(*bf16.params()[p].grad, *fp32.params()[p].grad), 0.02f) << names[p];
  return y16;
}

}  // namespace

// SimpleRNN, LSTM and GRU under mixed_bfloat16 against float32 on the same weights, at 40 rows of
// 96 units: on one thread, or 20 a thread on two, enough for each step's recurrent product to
// multiply in bfloat16 too (16 rows and 2^17 multiply-adds). The single-product bound above does not
// carry through a sequence, whose steps feed their rounded results to the next; the bound here is the
// largest difference over the sequence relative to the largest float32 value: the cells' gates and
// tanh are contractions, so each step adds about one product's rounding (2^-7 of its sum of
// magnitudes) and carries the earlier ones on shrunk. Measured at most 0.0068 (outputs, SimpleRNN)
// and 0.0028 (gradients); bounded at 0.02. At least one output differs from float32: bfloat16 did
// run.
TEST_F(MixedPrecision, RecurrentLayersWithinBf16BoundOfFloat32) {
  const int saved = num_threads();
  for (int gates : {1, 4, 3})
    for (int threads : {1, 2}) {
      SCOPED_TRACE(::testing::Message() << gates << " gates, " << threads << " threads");
      set_num_threads(threads);
      auto fp32 = recurrent_layer(gates, 96, "float32"), bf16 = recurrent_layer(gates, 96, "mixed_bfloat16");
      EXPECT_EQ(bf16->dtype_policy(), "mixed_bfloat16");
      Rng rng(9);
      fp32->build({6, 24}, rng);
      bf16->build({6, 24}, rng);
      bf16->kernel() = fp32->kernel().clone();
      bf16->recurrent_kernel() = fp32->recurrent_kernel().clone();
      for (int64_t i = 0; i < fp32->bias().size(); ++i) fp32->bias()[i] = bf16->bias()[i] = rng.uniform(-0.5f, 0.5f);
      fp32->set_needs_input_grad(true);
      bf16->set_needs_input_grad(true);
      const Tensor x = random_tensor({40, 6, 24}, rng, -1, 1);
      expect_recurrent_within_bf16_bound(*fp32, *bf16, x, rng);
    }
  set_num_threads(saved);
}

// At batch 1 a team of threads shares each step's units (recurrent_team_size), and under the policy
// each thread multiplies its units' columns of the recurrent kernel in bfloat16 pairs. Twelve steps
// keep the input projection float32 (under 16 rows), so only the team's products differ from float32.
// The bound is the one above (measured at most 0.0049 for outputs and 0.0038 for gradients); the
// values are the same bits for teams of two and three threads, as in float32 (each unit's sums run in
// one order).
TEST_F(MixedPrecision, RecurrentTeamAtBatchOneWithinBf16BoundOfFloat32) {
  if (!kernels::pair_products_pay()) GTEST_SKIP() << "a team's products stay float32 on this CPU";
  const int saved = num_threads();
  for (int gates : {1, 4, 3})
    for (int64_t units : {64, 128}) {
      SCOPED_TRACE(::testing::Message() << gates << " gates, " << units << " units");
      kernels::RecurrentGeometry geometry;
      geometry.cell = gates == 4 ? kernels::RecurrentCell::LSTM
                                 : gates == 3 ? kernels::RecurrentCell::GRU : kernels::RecurrentCell::SimpleRNN;
      geometry.batch = 1;
      geometry.units = units;
      Rng rng(10);
      auto fp32 = recurrent_layer(gates, units, "float32"), bf16 = recurrent_layer(gates, units, "mixed_bfloat16"),
           bf16_three = recurrent_layer(gates, units, "mixed_bfloat16");
      fp32->build({12, 24}, rng);
      bf16->build({12, 24}, rng);
      bf16_three->build({12, 24}, rng);
      for (auto* l : {bf16.get(), bf16_three.get()}) {
        l->kernel() = fp32->kernel().clone();
        l->recurrent_kernel() = fp32->recurrent_kernel().clone();
        l->bias() = fp32->bias().clone();
        l->set_needs_input_grad(true);
      }
      fp32->set_needs_input_grad(true);
      const Tensor x = random_tensor({1, 12, 24}, rng, -1, 1);
      set_num_threads(2);
      ASSERT_EQ(kernels::recurrent_team_size(geometry, nullptr), 2);
      const Tensor y16 = expect_recurrent_within_bf16_bound(*fp32, *bf16, x, rng);
      set_num_threads(3);
      ASSERT_EQ(kernels::recurrent_team_size(geometry, nullptr), units / 32 >= 3 ? 3 : 2);
      const Tensor y16_three = bf16_three->forward(x, true).clone();
      EXPECT_EQ(y16_three.to_vector(), y16.to_vector()) << "a team of three";
      set_num_threads(saved);
    }
}

// The pair products against the same products summed in double over the operands rounded to
// bfloat16, for A B^T, A B and A^T B at every tile height up to two tiles, odd sums (a zero completing
// the last pair) and widths past a vector: equal within float32's summing (1e-6 of sum |a| |b|).
TEST_F(MixedPrecision, PairProductsSumTheRoundedOperands) {
  if (!kernels::own_bf16_dense_kernels_built()) GTEST_SKIP() << "built without AVX512_BF16";
  Rng rng(12);
  auto rounded = [](float v) { return kernels::bf16_value(kernels::bf16_bits(v)); };
  for (int64_t M : {1, 5, 12, 13, 24, 25})
    for (int64_t N : {1, 16, 17, 40})
      for (int64_t K : {1, 2, 7, 32}) {
        SCOPED_TRACE(::testing::Message() << M << "x" << N << "x" << K);
        const int64_t pairs = (K + 1) / 2, n16 = (N + 15) / 16 * 16;
        const Tensor a = random_tensor({M, K}, rng, -2, 2), at = random_tensor({K, M}, rng, -2, 2);
        const Tensor b = random_tensor({K, N}, rng, -2, 2), bt = random_tensor({N, K}, rng, -2, 2);
        std::vector<uint32_t> left(std::max(M * pairs, pairs * M)), right(pairs * n16, 7u), scratch(N * pairs);
        // op 0: A B^T (bt), 1: A B, 2: A^T B (at).
        for (int op = 0; op < 3; ++op) {
          Tensor c({M, N});
          c.fill(std::nanf(""));
          kernels::PairedLeft l{left.data(), pairs, 1};
          if (op == 2) {
            kernels::pair_rows(at.data(), M, K, M, M, left.data());
            l = {left.data(), 1, M};
          } else {
            kernels::pair_columns(a.data(), K, M, K, left.data());
          }
          if (op == 0) kernels::pair_columns_transposed(bt.data(), K, N, K, n16, right.data(), scratch.data());
          else kernels::pair_rows(b.data(), N, K, N, n16, right.data());
          kernels::pair_product(M, N, pairs, l, right.data(), c.data(), N);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              double want = 0, magnitude = 0;
              for (int64_t k = 0; k < K; ++k) {
                const float x = rounded(op == 2 ? at[k * M + i] : a[i * K + k]);
                const float y = rounded(op == 0 ? bt[j * K + k] : b[k * N + j]);
                want += double(x) * y;
                magnitude += std::fabs(double(x) * y);
              }
              ASSERT_NEAR(c[i * N + j], want, 1e-6 * magnitude + 1e-30) << "op " << op << " at " << i << ", " << j;
            }
        }
      }
}

// Attention's kernels with the heads' products in bfloat16 against float32, on odd sizes (a pair
// completed by a zero) with a causal mask and an explicit one: probabilities, outputs and the three
// gradients within 0.02 of float32 relative to the largest value (measured at most 0.0042), and
// different from float32.
TEST_F(MixedPrecision, AttentionKernelsInBf16WithinBoundOfFloat32) {
  if (!kernels::pair_products_pay()) GTEST_SKIP() << "attention's products stay float32 on this CPU";
  Rng rng(13);
  kernels::AttentionDims d{3, 9, 11, 2, 7, 5};
  const Tensor q = random_tensor({d.B, d.Tq, d.H * d.dk}, rng, -2, 2);
  const Tensor k = random_tensor({d.B, d.Tv, d.H * d.dk}, rng, -2, 2);
  const Tensor v = random_tensor({d.B, d.Tv, d.H * d.dv}, rng, -1, 1);
  const Tensor dout = random_tensor({d.B, d.Tq, d.H * d.dv}, rng, -1, 1);
  Tensor allowed = random_tensor({d.B, d.Tq, d.Tv}, rng, 0, 1);
  for (int64_t i = 0; i < allowed.size(); ++i) allowed[i] = allowed[i] < 0.2f ? 0.f : 1.f;
  std::vector<Tensor> got[2];
  for (int bf16 : {0, 1}) {
    d.bf16 = bf16;
    Tensor p({d.B, d.H, d.Tq, d.Tv}), out({d.B, d.Tq, d.H * d.dv}), dq(q.shape()), dk(k.shape()), dv(v.shape());
    kernels::attention_probs(d, q.data(), k.data(), 0.4f, allowed.data(), true, p.data(), v.data(), out.data());
    kernels::attention_backward(d, q.data(), k.data(), v.data(), p.data(), p.data(), nullptr, 0.4f, dout.data(),
                                dq.data(), dk.data(), dv.data(), allowed.data(), true);
    got[bf16] = {p, out, dq, dk, dv};
  }
  const char* names[] = {"probabilities", "output", "dq", "dk", "dv"};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_LE(relative_difference(got[1][i], got[0][i]), 0.02f) << names[i];
    EXPECT_GT(relative_difference(got[1][i], got[0][i]), 0.f) << names[i] << ": identical to float32";
  }
}

// MultiHeadAttention under mixed_bfloat16 against float32 on the same weights, for self-attention
// (query and value one tensor; value's gradient sums the value and key paths) and for its own key
// input, on 5 sequences of 16 steps in inference and training: outputs and every gradient within 0.02
// of float32 relative to the largest float32 value (six products in a row, each adding about 2^-7 of
// its sum of magnitudes; measured at most 0.0035 (outputs), 0.0050 (input gradients) and 0.0074
// (weight gradients)), and different from float32: bfloat16 did run.
TEST_F(MixedPrecision, MultiHeadAttentionWithinBf16BoundOfFloat32) {
  for (bool own_key : {false, true})
    for (bool training : {false, true}) {
      SCOPED_TRACE(::testing::Message() << (own_key ? "own key" : "self-attention")
                                        << (training ? ", training" : ", inference"));
      layers::MultiHeadAttention fp32(3, 8, {.dtype = "float32"});
      layers::MultiHeadAttention bf16(3, 8, {.dtype = "mixed_bfloat16"});
      EXPECT_EQ(bf16.dtype_policy(), "mixed_bfloat16");
      const std::vector<Shape> shapes = own_key ? std::vector<Shape>{{16, 24}, {12, 24}, {12, 20}}
                                                : std::vector<Shape>{{16, 24}, {16, 24}};
      Rng rng(6);
      fp32.build_inputs(shapes, rng);
      bf16.build_inputs(shapes, rng);
      auto p32 = fp32.params(), p16 = bf16.params();
      for (size_t i = 0; i < p32.size(); ++i) {
        for (int64_t j = 0; j < p32[i].value->size(); ++j) (*p32[i].value)[j] = rng.uniform(-0.5f, 0.5f);
        *p16[i].value = p32[i].value->clone();
      }
      fp32.set_needs_input_grad(true);
      bf16.set_needs_input_grad(true);
      std::vector<Tensor> x;
      for (const Shape& s : shapes) x.push_back(random_tensor(with_batch(5, s), rng, -1, 1));
      std::vector<const Tensor*> in;
      for (const Tensor& t : x) in.push_back(&t);
      if (!own_key) in[1] = in[0];
      const Tensor y32 = fp32.forward_inputs(in, training).clone();
      const Tensor y16 = bf16.forward_inputs(in, training).clone();
      EXPECT_LE(relative_difference(y16, y32), 0.02f) << "outputs";
      EXPECT_GT(relative_difference(y16, y32), 0.f) << "identical to float32, so bfloat16 was not used";
      if (!training) continue;
      const Tensor dy = random_tensor(y32.shape(), rng, -1, 1);
      std::vector<const Tensor*> g32(in.size()), g16(in.size());
      fp32.backward_inputs(dy, g32);
      bf16.backward_inputs(dy, g16);
      for (size_t i = 0; i < in.size(); ++i) {  // self-attention: the query's path, then value's and key's
        ASSERT_TRUE(g32[i] && g16[i]);
        EXPECT_LE(relative_difference(*g16[i], *g32[i]), 0.02f) << "input gradient " << i;
        EXPECT_GT(relative_difference(*g16[i], *g32[i]), 0.f) << "input gradient " << i;
      }
      for (size_t i = 0; i < p32.size(); ++i)
        EXPECT_LE(relative_difference(*p16[i].grad, *p32[i].grad), 0.02f) << p32[i].name;
    }
}

// The digits read as sequences of 8 rows of 8 pixels by an LSTM, trained under float32 and under
// mixed_bfloat16 from the same seed: bfloat16 reaches float32's test accuracy within a point
// (measured 0.9194 and 0.9167, one test image apart).
TEST_F(MixedPrecision, LstmTrainsTheDigitsToTheFloat32Bar) {
  auto data = datasets::digits(MYELIN_TEST_DATA_DIR);
  for (int64_t i = 0; i < data.x.size(); ++i) data.x[i] /= 16.f;
  auto [x_train, x_test, y_train, y_test] = train_test_split(data.x.reshape({data.x.rows(), 8, 8}), data.y, 0.2, 0);
  auto accuracy = [&](const std::string& policy) {
    mixed_precision::set_global_policy(policy);
    set_random_seed(0);
    Sequential m({layers::LSTM(32, {.input_shape = Shape{8, 8}}), layers::Dense(10, "softmax")});
    m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
    m.fit(x_train, y_train, {.epochs = 40, .batch_size = 64, .verbose = 0});
    return m.evaluate(x_test, y_test)["accuracy"];
  };
  const double fp32 = accuracy("float32"), bf16 = accuracy("mixed_bfloat16");
  EXPECT_GE(fp32, 0.9);
  EXPECT_GE(bf16, fp32 - 0.01);
}

// A recurrent model under mixed_bfloat16 keeps its policy through a saved file and predicts the same.
TEST_F(MixedPrecision, RecurrentPolicyRoundTripsThroughSavedFiles) {
  TempDir d;
  const std::string path = (d.path / "lstm_bf16.keras").string();
  mixed_precision::set_global_policy("mixed_bfloat16");
  set_random_seed(2);
  Sequential m({layers::LSTM(32, {.input_shape = Shape{5, 8}, .return_sequences = true}), layers::GRU(16),
                layers::Dense(3, "softmax")});
  m.compile("adam", "sparse_categorical_crossentropy");
  Rng rng(4);
  const Tensor x = random_tensor({48, 5, 8}, rng, -1, 1);
  const Tensor p16 = m.predict(x);
  m.save(path);
  mixed_precision::set_global_policy("float32");
  Model loaded = load_model(path);
  int with_policy = 0;
  for (const auto& l : loaded.layers()) {
    if (l->class_name() == "InputLayer") continue;
    EXPECT_EQ(l->get_config()["dtype"]["config"]["name"], "mixed_bfloat16") << l->class_name();
    ++with_policy;
  }
  EXPECT_EQ(with_policy, 3);
  EXPECT_EQ(loaded.predict(x).to_vector(), p16.to_vector());
}

// Keras's dot-product Attention under mixed_bfloat16 against float32: its scores and weighted sum
// (and their backward) in bfloat16, within 0.02 of float32 relative to the largest value (measured
// at most 0.0040), and different from float32.
TEST_F(MixedPrecision, AttentionLayerWithinBf16BoundOfFloat32) {
  if (!kernels::pair_products_pay()) GTEST_SKIP() << "attention's products stay float32 on this CPU";
  layers::Attention fp32({.dtype = "float32"}), bf16({.dtype = "mixed_bfloat16"});
  EXPECT_EQ(bf16.dtype_policy(), "mixed_bfloat16");
  const std::vector<Shape> shapes{{7, 12}, {9, 10}, {9, 12}};
  Rng rng(14);
  fp32.build_inputs(shapes, rng);
  bf16.build_inputs(shapes, rng);
  fp32.set_needs_input_grad(true);
  bf16.set_needs_input_grad(true);
  std::vector<Tensor> x;
  for (const Shape& s : shapes) x.push_back(random_tensor(with_batch(4, s), rng, -1, 1));
  const std::vector<const Tensor*> in{&x[0], &x[1], &x[2]};
  const Tensor y32 = fp32.forward_inputs(in, true).clone(), y16 = bf16.forward_inputs(in, true).clone();
  EXPECT_LE(relative_difference(y16, y32), 0.02f);
  EXPECT_GT(relative_difference(y16, y32), 0.f) << "identical to float32, so bfloat16 was not used";
  const Tensor dy = random_tensor(y32.shape(), rng, -1, 1);
  std::vector<const Tensor*> g32(3), g16(3);
  fp32.backward_inputs(dy, g32);
  bf16.backward_inputs(dy, g16);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(g32[i] && g16[i]);
    EXPECT_LE(relative_difference(*g16[i], *g32[i]), 0.02f) << "input gradient " << i;
    EXPECT_GT(relative_difference(*g16[i], *g32[i]), 0.f) << "input gradient " << i;
  }
}

// A self-attention model learns whether a sequence's first step exceeds its last (attention can
// compare two positions; a position-wise layer cannot) under mixed_bfloat16 as well as in float32
// from the same seed (held-out accuracy, measured 0.9336 and 0.9297), keeps its policy through a
// saved file and predicts the same after loading with float32 as the global policy.
TEST_F(MixedPrecision, AttentionModelTrainsToTheFloat32BarAndRoundTrips) {
  const int64_t n = 512, T = 6, d = 8;
  Rng rng(2);
  const Tensor x = random_tensor({n, T, d}, rng, -1, 1);
  Tensor y({n, 1});
  for (int64_t i = 0; i < n; ++i) y[i] = x[i * T * d] > x[i * T * d + (T - 1) * d] ? 1.f : 0.f;
  auto [x_train, x_test, y_train, y_test] = train_test_split(x, y, 0.5, 0);
  auto train = [&](const std::string& policy) {
    mixed_precision::set_global_policy(policy);
    set_random_seed(7);
    auto in = layers::Input({T, d});
    auto h = layers::MultiHeadAttention(2, 8)({in, in});
    h = layers::Dense(16, "relu")(layers::Flatten()(h));
    Model m(in, layers::Dense(1, "sigmoid")(h));
    m.compile(optimizers::Adam(3e-3), "binary_crossentropy", {"accuracy"});
    m.fit(x_train, y_train, {.epochs = 30, .batch_size = 32, .verbose = 0, .seed = 1});
    const double accuracy = m.evaluate(x_test, y_test)["accuracy"];
    return std::pair{std::move(m), accuracy};
  };
  const double fp32 = train("float32").second;
  auto [m, bf16] = train("mixed_bfloat16");
  EXPECT_GE(fp32, 0.85);
  EXPECT_GE(bf16, fp32 - 0.02);
  EXPECT_EQ(m.get_layer("multi_head_attention")->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");

  TempDir dir;
  const std::string path = (dir.path / "attention_bf16.keras").string();
  const Tensor p16 = m.predict(x);
  m.save(path);
  mixed_precision::set_global_policy("float32");
  Model loaded = load_model(path);
  EXPECT_EQ(loaded.get_layer("multi_head_attention")->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
  EXPECT_EQ(loaded.predict(x).to_vector(), p16.to_vector());
}

TEST_F(MixedPrecision, PolicyRoundTripsThroughSavedFilesAndTheWeightsPredictInFloat32) {
  TempDir d;
  const std::string path = (d.path / "bf16.safetensors").string();
  auto data = datasets::digits(MYELIN_TEST_DATA_DIR);
  for (int64_t i = 0; i < data.x.size(); ++i) data.x[i] /= 16.f;
  const Tensor x = data.x.reshape({data.x.rows(), 8, 8, 1});
  auto make = [] {
    return Sequential({layers::Conv2D(16, {3, 3}, "relu", {.input_shape = Shape{8, 8, 1}}), layers::Flatten(),
                       layers::Dense(10, "softmax")});
  };

  mixed_precision::set_global_policy("mixed_bfloat16");
  set_random_seed(1);
  Sequential m = make();
  m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  m.fit(x, data.y, {.epochs = 2, .batch_size = 128, .verbose = 0});
  const Tensor p16 = m.predict(x);
  m.save(path);
  mixed_precision::set_global_policy("float32");

  // Loaded under the float32 global policy: the file's policy wins, as in Keras.
  Model loaded = load_model(path);
  EXPECT_EQ(loaded.layers().front()->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
  EXPECT_EQ(loaded.layers().back()->get_config()["dtype"]["config"]["name"], "mixed_bfloat16");
  EXPECT_EQ(loaded.predict(x).to_vector(), p16.to_vector());

  // The same weights (float32 in the file: the reader takes F32 only) in a float32 model.
  Sequential f = make();
  f.load_weights(path);
  for (const auto& l : f.layers()) EXPECT_FALSE(l->get_config().contains("dtype"));
  const Tensor p32 = f.predict(x);
  ASSERT_EQ(p32.shape(), p16.shape());
  float worst = 0;
  int64_t same_class = 0;
  for (int64_t r = 0; r < p32.rows(); ++r) {
    int64_t a = 0, b = 0;
    for (int64_t c = 0; c < 10; ++c) {
      worst = std::max(worst, std::fabs(p32[r * 10 + c] - p16[r * 10 + c]));
      if (p32[r * 10 + c] > p32[r * 10 + a]) a = c;
      if (p16[r * 10 + c] > p16[r * 10 + b]) b = c;
    }
    same_class += a == b;
  }
  // Probabilities from bfloat16 products of a 2-epoch model: a few hundredths at most.
  EXPECT_LT(worst, 0.05f);
  EXPECT_GE(double(same_class) / double(p32.rows()), 0.99);
}

namespace {
float from_bf16_bits(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

TEST_F(MixedPrecision, Conv2DKernelHandsItsOutputOverInBfloat16) {
  // y written in bfloat16 is float32's y rounded to bfloat16 (within one unit of the last place, should
  // the primitive sum in another order); a bfloat16 x gives what its float32 values give.
  const kernels::Conv2DGeometry g{.batch = 4, .in_h = 9, .in_w = 7, .in_c = 16, .out_h = 9, .out_w = 7, .out_c = 32,
                                  .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                                  .pad_right = 1};
  const kernels::Conv2DGeometry g2{.batch = 4, .in_h = 9, .in_w = 7, .in_c = 32, .out_h = 7, .out_w = 5, .out_c = 16,
                                   .kernel_h = 3, .kernel_w = 3};
  Rng rng(11);
  const Tensor x = random_tensor({g.batch, g.in_h, g.in_w, g.in_c}, rng, -1, 1);
  const Tensor w = random_tensor({3, 3, g.in_c, g.out_c}, rng, -0.3f, 0.3f);
  const Tensor b = random_tensor({g.out_c}, rng, -0.3f, 0.3f);
  const Tensor addend = random_tensor({g.batch, g.out_h, g.out_w, g.out_c}, rng, -1, 1);
  const int64_t ny = addend.size();
  for (const bool with_addend : {false, true}) {
    SCOPED_TRACE(with_addend ? "with an addend" : "without an addend");
    kernels::Conv2DKernel conv;
    conv.set_bf16(true);
    std::vector<float> y32(size_t(ny), 0.f), y16_room(size_t(ny), 0.f);
    const float* add = with_addend ? addend.data() : nullptr;
    EXPECT_FALSE(conv.forward(g, x.data(), w.data(), b.data(), true, y32.data(), add));
    const bool wrote = conv.forward(g, x.data(), w.data(), b.data(), true, y16_room.data(), add, 0, false, true);
    if (!wrote) {  // only where the addend is added after the primitive: y is then float32's
      EXPECT_TRUE(with_addend) << conv.implementations();
      EXPECT_EQ(y16_room, y32);
      continue;
    }
    const auto* y16 = reinterpret_cast<const uint16_t*>(y16_room.data());
    std::vector<uint16_t> rounded(static_cast<size_t>(ny));
    kernels::to_bf16(y32.data(), rounded.data(), ny);
    int64_t off = 0, exact = 0;
    for (int64_t i = 0; i < ny; ++i) {
      off += std::abs(int(y16[i]) - int(rounded[size_t(i)])) > 1;
      exact += y16[i] == rounded[size_t(i)];
    }
    EXPECT_EQ(off, 0) << "values more than one bfloat16 unit from float32's y rounded";
    EXPECT_GT(exact, ny * 9 / 10);
    // The backward reads no y: after a forward that wrote y in bfloat16 (a training pass's hand-over
    // to a normalisation) it gives what it gives after a float32 one.
    const Tensor dy = random_tensor({g.batch, g.out_h, g.out_w, g.out_c}, rng, -1, 1);
    std::vector<std::vector<float>> grads;
    for (const bool y_bf16 : {false, true}) {
      conv.forward(g, x.data(), w.data(), b.data(), true, y_bf16 ? y16_room.data() : y32.data(), add, 0, false, y_bf16);
      std::vector<float> dw(size_t(w.size())), db(size_t(g.out_c)), dx(size_t(x.size()));
      conv.backward(g, x.data(), dy.data(), w.data(), dw.data(), db.data(), dx.data());
      for (auto* v : {&dw, &db, &dx}) grads.push_back(*v);
    }
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(grads[k + 3], grads[k]) << k;
    // After a bfloat16 x (a normalisation's hand-over in a training pass) it reads x as given: the
    // gradients of the float32 x holding its values.
    std::vector<uint16_t> x16(size_t(x.size()));
    kernels::to_bf16(x.data(), x16.data(), x.size());
    std::vector<float> x_values(x16.size());
    for (size_t i = 0; i < x16.size(); ++i) x_values[i] = kernels::bf16_value(x16[i]);
    grads.clear();
    for (const bool x_bf16 : {false, true}) {
      const void* input = x_bf16 ? static_cast<const void*>(x16.data()) : x_values.data();
      conv.forward(g, input, w.data(), b.data(), true, y32.data(), add, 0, x_bf16, false);
      std::vector<float> dw(size_t(w.size())), db(size_t(g.out_c)), dx(size_t(x.size()));
      conv.backward(g, input, dy.data(), w.data(), dw.data(), db.data(), dx.data());
      for (auto* v : {&dw, &db, &dx}) grads.push_back(*v);
    }
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(grads[k + 3], grads[k]) << k;
  }
  // The next convolution, in bfloat16 and in float32, on a bfloat16 x and on the same values in float32.
  std::vector<float> y32(static_cast<size_t>(ny));
  kernels::Conv2DKernel first;
  first.set_bf16(true);
  first.forward(g, x.data(), w.data(), b.data(), true, y32.data());
  std::vector<uint16_t> y16(static_cast<size_t>(ny));
  kernels::to_bf16(y32.data(), y16.data(), ny);
  std::vector<float> y16_values(static_cast<size_t>(ny));
  for (int64_t i = 0; i < ny; ++i) y16_values[size_t(i)] = from_bf16_bits(y16[size_t(i)]);
  const Tensor w2 = random_tensor({3, 3, g2.in_c, g2.out_c}, rng, -0.3f, 0.3f);
  const int64_t nz = g2.batch * g2.out_h * g2.out_w * g2.out_c;
  for (const bool bf16 : {true, false}) {
    SCOPED_TRACE(bf16 ? "next in bfloat16" : "next in float32");
    kernels::Conv2DKernel next;
    next.set_bf16(bf16);
    std::vector<float> from32(static_cast<size_t>(nz)), from16(static_cast<size_t>(nz));
    // In bfloat16 the float32 x is rounded as to_bf16 rounds it; in float32 its values are taken exactly.
    next.forward(g2, bf16 ? y32.data() : y16_values.data(), w2.data(), nullptr, false, from32.data());
    next.forward(g2, y16.data(), w2.data(), nullptr, false, from16.data(), nullptr, 0, true, false);
    EXPECT_EQ(from16, from32);
  }
}

namespace {
// input -> conv1 -> bn -> relu -> conv2 -> bn -> relu -> conv3 (relu) -> global pooling, every
// convolution under mixed_bfloat16; with a second head, the first relu is a model output too.
struct HandoverNetwork {
  std::shared_ptr<layers::Conv2D> conv1, conv2, conv3;
  graph::Graph g;

  static std::shared_ptr<layers::Conv2D> conv(const std::string& activation, bool bias) {
    return std::make_shared<layers::Conv2D>(
        16, layers::Size2(3, 3), activation,
        layers::Conv2DOptions{.padding = "same", .use_bias = bias, .dtype = "mixed_bfloat16"});
  }
  static std::vector<graph::Node> nodes(HandoverNetwork& n, bool second_head) {
    using myelin::test::node;
    n.conv1 = conv("linear", true);
    n.conv2 = conv("linear", false);
    n.conv3 = conv("relu", true);
    std::vector<graph::Node> v{myelin::test::input_node()};
    v.push_back(node(n.conv1, {0}));                                             // 1
    v.push_back(node(std::make_shared<layers::BatchNormalization>(), {1}));     // 2
    v.push_back(node(std::make_shared<layers::Activation>("relu"), {2}));       // 3
    v.push_back(node(n.conv2, {3}));                                             // 4
    v.push_back(node(std::make_shared<layers::BatchNormalization>(), {4}));     // 5
    v.push_back(node(std::make_shared<layers::Activation>("relu"), {5}));       // 6
    v.push_back(node(n.conv3, {6}));                                             // 7
    v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {7}));  // 8
    if (second_head) v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {3}));  // 9
    return v;
  }
  explicit HandoverNetwork(bool second_head)
      : g(nodes(*this, second_head), {0}, second_head ? std::vector<int>{8, 9} : std::vector<int>{8}) {
    Rng rng(5);
    g.build({{9, 7, 16}}, rng, "graph");
  }
};
}  // namespace

TEST_F(MixedPrecision, PassesHandConvolutionOutputsOverInBfloat16) {
  for (const bool second_head : {false, true}) {
    SCOPED_TRACE(second_head ? "the first relu is an output too" : "one output");
    HandoverNetwork net(second_head);
    const auto& nodes = net.g.nodes();
    EXPECT_EQ(nodes[1].writes_bf16, !second_head);
    EXPECT_EQ(nodes[4].bf16_source, second_head ? -1 : 1);
    EXPECT_TRUE(nodes[4].writes_bf16);
    EXPECT_EQ(nodes[7].bf16_source, 4);
    EXPECT_FALSE(nodes[7].writes_bf16) << "a pooling reads the last convolution";

    Rng rng(8);
    const Tensor x = random_tensor({5, 9, 7, 16}, rng, -1, 1);
    layers::set_bf16_handover(false);
    const Tensor apart = net.g.forward({&x}, false).clone();
    EXPECT_FALSE(net.conv2->bf16_output());
    layers::set_bf16_handover(true);
    const Tensor handed = net.g.forward({&x}, false).clone();
    EXPECT_EQ(net.conv1->bf16_output(), !second_head);
    EXPECT_TRUE(net.conv2->bf16_output());
    EXPECT_FALSE(net.conv3->bf16_output());
    // The next convolution rounds its input to bfloat16 either way: the same within a unit of it.
    EXPECT_LT(relative_difference(handed, apart), 1.f / 64);
    if (second_head) {
      EXPECT_EQ(net.g.output(1).size(), 5 * 16);
    }

    // A training pass hands each linear convolution's output to the normalisation reading it, in
    // bfloat16 (the last one, with its relu, writes float32); its backward runs. Outputs and
    // gradients are those of the pass without the hand-over within bfloat16's rounding of the
    // normalisations' inputs.
    EXPECT_TRUE(nodes[1].writes_bf16_training);
    EXPECT_EQ(nodes[2].bf16_training_source, 1);
    EXPECT_TRUE(nodes[4].writes_bf16_training);
    EXPECT_EQ(nodes[5].bf16_training_source, 4);
    EXPECT_FALSE(nodes[7].writes_bf16_training) << "its relu's backward reads its output";
    // And each normalisation's output, through its relu, to the convolution reading it alone.
    EXPECT_EQ(nodes[2].writes_bf16_training, !second_head);
    EXPECT_EQ(nodes[4].bf16_training_source, second_head ? -1 : 2);
    EXPECT_TRUE(nodes[5].writes_bf16_training);
    EXPECT_EQ(nodes[7].bf16_training_source, 5);
    const Tensor dy = random_tensor(net.g.output(0).shape(), rng, -1, 1);
    std::vector<const Tensor*> grads{&dy};
    Tensor dy2;
    if (second_head) {
      dy2 = random_tensor(net.g.output(1).shape(), rng, -1, 1);
      grads.push_back(&dy2);
    }
    std::vector<Tensor> outputs, kernel_grads;
    for (const bool handover : {false, true}) {
      layers::set_bf16_handover(handover);
      outputs.push_back(net.g.forward({&x}, true).clone());
      EXPECT_EQ(net.conv1->bf16_output(), handover);
      EXPECT_EQ(net.conv2->bf16_output(), handover);
      EXPECT_FALSE(net.conv3->bf16_output());
      EXPECT_EQ(nodes[2].batch_norm->bf16_output(), handover && !second_head);
      EXPECT_EQ(nodes[5].batch_norm->bf16_output(), handover);
      EXPECT_NO_THROW(net.g.backward(grads));
      // Each normalisation hands its input gradient back in bfloat16 where its convolution reads it
      // so, which with AMX both do (the weight gradient by the primitive or the matmul).
      for (const auto& [conv, norm] : {std::pair{net.conv1, nodes[2].batch_norm}, {net.conv2, nodes[5].batch_norm}}) {
        EXPECT_EQ(norm->bf16_input_grad(), handover && conv->reads_bf16_output_grad());
        if (kernels::amx_supported()) {
          EXPECT_EQ(norm->bf16_input_grad(), handover);
        }
      }
      for (const auto& conv : {net.conv1, net.conv2}) kernel_grads.push_back(conv->params()[0].grad->clone());
    }
    EXPECT_LT(relative_difference(outputs[1], outputs[0]), 1.f / 64);
    EXPECT_GT(relative_difference(outputs[1], outputs[0]), 0.f) << "the normalisations read rounded values";
    EXPECT_LT(relative_difference(kernel_grads[2], kernel_grads[0]), 1.f / 32);
    EXPECT_LT(relative_difference(kernel_grads[3], kernel_grads[1]), 1.f / 32);
    // And the next inference pass hands over again (the training pass moved the statistics).
    layers::set_bf16_handover(false);
    const Tensor apart_after = net.g.forward({&x}, false).clone();
    layers::set_bf16_handover(true);
    EXPECT_LT(relative_difference(net.g.forward({&x}, false), apart_after), 1.f / 64);
    EXPECT_TRUE(net.conv2->bf16_output());
  }
}

// An Add's output written in bfloat16, and the relu's gradient masked from it: the float32 output
// rounded, and the float32 mask (zeros, negatives and a NaN among the values; lengths off the
// vectors and past one span of the threads).
TEST_F(MixedPrecision, AddWritesBfloat16AndMasksItsReluFromIt) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  for (const int64_t n : {int64_t(1), int64_t(37), int64_t(100003)}) {
    SCOPED_TRACE(n);
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n)), dy(static_cast<size_t>(n));
    for (auto* v : {&a, &b, &dy})
      for (float& e : *v) e = normal(rng);
    a[0] = -b[0];  // exactly 0
    if (n > 2) a[2] = std::nanf("");
    std::vector<float> y(static_cast<size_t>(n)), want_dx(static_cast<size_t>(n)), dx(static_cast<size_t>(n), 7.f);
    std::vector<uint16_t> y16(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    kernels::add(a.data(), b.data(), y.data(), n, true);
    kernels::add(a.data(), b.data(), y16.data(), n, true);
    kernels::to_bf16(y.data(), want.data(), n);
    EXPECT_EQ(y16, want);
    kernels::activation_backward(ActivationKind::ReLU, dy.data(), y.data(), nullptr, want_dx.data(), 1, n);
    kernels::relu_backward(dy.data(), y16.data(), dx.data(), n);
    EXPECT_EQ(dx, want_dx);
  }
}

// A residual block's output read by two convolutions (the residual CNN's second block and its
// projection): in inference passes the convolution the normalisation and the Add fold into writes
// it in bfloat16 for both (at a batch whose addend goes by a sum post-op on AMX, Conv2DKernel, it
// writes float32); in training passes the Add does.
TEST_F(MixedPrecision, HandsAnAddsOutputOverToTwoConvolutions) {
  using myelin::test::node;
  // conv1's dtype: a float32 conv1 hands nothing over, so that a training pass's results differ only
  // by the Add's hand-over.
  struct Block {
    std::shared_ptr<layers::Conv2D> conv1, conv2, conv3;
    std::unique_ptr<graph::Graph> g;
  };
  auto block = [](const std::string& first_dtype) {
    auto conv = [](const std::string& activation, const std::string& dtype) {
      return std::make_shared<layers::Conv2D>(
          16, layers::Size2(3, 3), activation, layers::Conv2DOptions{.padding = "same", .use_bias = false, .dtype = dtype});
    };
    Block b{conv("linear", first_dtype), conv("relu", "mixed_bfloat16"), conv("linear", "mixed_bfloat16"), nullptr};
    std::vector<graph::Node> v{myelin::test::input_node()};
    v.push_back(node(b.conv1, {0}));                                            // 1
    v.push_back(node(std::make_shared<layers::BatchNormalization>(), {1}));    // 2
    v.push_back(node(std::make_shared<layers::Add>(), {2, 0}));                // 3
    v.push_back(node(std::make_shared<layers::Activation>("relu"), {3}));      // 4
    v.push_back(node(b.conv2, {4}));                                            // 5
    v.push_back(node(b.conv3, {4}));                                            // 6
    v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {5}));  // 7
    v.push_back(node(std::make_shared<layers::GlobalAveragePooling2D>(), {6}));  // 8
    b.g = std::make_unique<graph::Graph>(std::move(v), std::vector<int>{0}, std::vector<int>{7, 8});
    Rng rng(5);
    b.g->build({{9, 7, 16}}, rng, "graph");
    return b;
  };
  Rng rng(6);
  {
    const Block b = block("mixed_bfloat16");
    const auto& nodes = b.g->nodes();
    ASSERT_EQ(nodes[1].folded_addend, 0) << "the Add folds into the first convolution";
    EXPECT_TRUE(nodes[1].writes_bf16);
    EXPECT_EQ(nodes[5].bf16_source, 1);
    EXPECT_EQ(nodes[6].bf16_source, 1);
    for (const int64_t batch : {1, 40}) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      const Tensor x = random_tensor({batch, 9, 7, 16}, rng, -1, 1);
      std::vector<Tensor> apart, handed;
      layers::set_bf16_handover(false);
      b.g->forward({&x}, false);
      for (int k = 0; k < 2; ++k) apart.push_back(b.g->output(k).clone());
      EXPECT_FALSE(b.conv1->bf16_output());
      layers::set_bf16_handover(true);
      b.g->forward({&x}, false);
      for (int k = 0; k < 2; ++k) handed.push_back(b.g->output(k).clone());
      // 40 images: 161 KB of float32 y, past the sum post-op's 128 KB. Without AMX, oneDNN 2.6 offers
      // only its reference kernel for a bfloat16 convolution with the addend as a post-op (an Emerald
      // Rapids without AMX), so the Add runs after the convolution, which then hands over nothing.
      if (batch == 40 && kernels::amx_supported()) {
        EXPECT_TRUE(b.conv1->bf16_output());
      }
      // The next convolutions round their input to bfloat16 either way: the same within a unit of it.
      for (int k = 0; k < 2; ++k) EXPECT_LT(relative_difference(handed[size_t(k)], apart[size_t(k)]), 1.f / 64) << k;
    }
  }
  // A training pass: the Add, applying its relu, writes its output in bfloat16 for both
  // convolutions, and its backward masks from it. The convolutions round it the same way and the
  // mask is the float32 one (AddWritesBfloat16AndMasksItsReluFromIt): outputs and gradients are
  // those without the hand-over, bit for bit.
  const Block b = block("float32");
  const auto& nodes = b.g->nodes();
  EXPECT_TRUE(nodes[3].writes_bf16_training);
  EXPECT_EQ(nodes[5].bf16_training_source, 3);
  EXPECT_EQ(nodes[6].bf16_training_source, 3);
  const Tensor x = random_tensor({6, 9, 7, 16}, rng, -1, 1);
  const Tensor dy1 = random_tensor({6, 16}, rng, -1, 1), dy2 = random_tensor({6, 16}, rng, -1, 1);
  std::vector<Tensor> results;
  for (const bool handover : {false, true}) {
    layers::set_bf16_handover(handover);
    b.g->forward({&x}, true);
    for (int k = 0; k < 2; ++k) results.push_back(b.g->output(k).clone());
    EXPECT_EQ(nodes[3].layer->bf16_output(), handover);
    b.g->backward({&dy1, &dy2});
    for (const auto& conv : {b.conv1, b.conv2, b.conv3}) results.push_back(conv->params()[0].grad->clone());
  }
  layers::set_bf16_handover(true);
  const size_t half = results.size() / 2;
  for (size_t k = 0; k < half; ++k) {
    ASSERT_EQ(results[half + k].shape(), results[k].shape());
    EXPECT_TRUE(std::equal(results[k].data(), results[k].data() + results[k].size(), results[half + k].data())) << k;
  }
}

// A residual block whose Add the graph folds into the convolution before it: under mixed_bfloat16 on
// AMX a single image adds the addend by a sum post-op (y 25 KB), a batch of 16 by a binary post-op
// (400 KB) (Conv2D.KernelKeepsAmxFastKernelsForASmallAddend). Both predict the same probabilities,
// up to the two kernels' float32 summation orders, and bfloat16 did run (they differ from float32).
TEST_F(MixedPrecision, ResidualBlockPredictsTheSameOneImageAtATimeAndInABatch) {
  auto build = [] {
    set_random_seed(5);
    auto in = layers::Input({14, 14, 32});
    auto y = layers::Conv2D(32, {3, 3}, "linear", {.padding = "same", .use_bias = false})(in);
    y = layers::BatchNormalization()(y);
    y = layers::Activation("relu")(layers::Add()({y, in}));
    return Model(in, layers::Dense(10, "softmax")(layers::GlobalAveragePooling2D()(y)));
  };
  Rng rng(41);
  const Tensor x = random_tensor({16, 14, 14, 32}, rng, -1, 1);
  Model fp32 = build();
  const Tensor want = fp32.predict(x, 16);
  mixed_precision::set_global_policy("mixed_bfloat16");
  Model bf16 = build();
  const Tensor batched = bf16.predict(x, 16);
  const Tensor one_by_one = bf16.predict(x, 1);
  ASSERT_EQ(one_by_one.shape(), batched.shape());
  float largest = 0.f;
  for (int64_t i = 0; i < batched.size(); ++i) largest = std::max(largest, std::fabs(one_by_one[i] - batched[i]));
  EXPECT_LT(largest, 1e-4f) << "one image at a time against the batch";
  EXPECT_GT(relative_difference(batched, want), 0.f) << "identical to float32, so bfloat16 was not used";
  EXPECT_LT(relative_difference(batched, want), 1.f / 32);
}



