// The CPU kernels that layers and Tensor call for their arithmetic, checked directly over raw
// arrays: the threading rule (threads only above the threshold, every item exactly once), dropout's
// mask and its broadcast, padding, normalization statistics and element-wise operators, with values
// worked out by hand or by a direct double-precision computation.
#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <vector>

#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/dropout.hpp"
#include "kernels/cpu/elementwise.hpp"
#include "kernels/cpu/normalization.hpp"
#include "kernels/cpu/padding.hpp"
#include "kernels/cpu/parallel.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"

using namespace myelin;
using namespace myelin::kernels;

TEST(ParallelFor, BelowTheThresholdRunsWithoutATeamAndAboveItOnTheThreads) {
  set_num_threads(2);
  for (const int64_t values : {kParallelThreshold - 1, kParallelThreshold}) {
    std::vector<int> visits(100, 0), in_team(100, 0);
    parallel_for(100, values, [&](int64_t i) {
      ++visits[i];
      in_team[i] = omp_in_parallel();
    });
    for (int64_t i = 0; i < 100; ++i) {
      EXPECT_EQ(visits[i], 1) << i;
      EXPECT_EQ(in_team[i], values >= kParallelThreshold ? 1 : 0) << "values " << values;
    }
  }
  // One item is never worth a team, however large.
  int one = 0;
  parallel_for(1, int64_t(1) << 30, [&](int64_t) { one = omp_in_parallel() ? 2 : 1; });
  EXPECT_EQ(one, 1);
}

TEST(ParallelFor, TwoDimensionsVisitEveryPairOnceOnBothPaths) {
  set_num_threads(2);
  for (const int64_t values : {int64_t(10), int64_t(1) << 20}) {
    std::vector<int> visits(7 * 5, 0);
    parallel_for_2d(7, 5, values, [&](int64_t i, int64_t j) { ++visits[i * 5 + j]; });
    for (int v : visits) EXPECT_EQ(v, 1) << "values " << values;
  }
}

TEST(DropoutKernel, MaskHoldsZeroOrTheKeepScaleAtTheRateAndOneDrawPerValue) {
  Rng rng(11), copy(11);
  const int64_t n = 200000;
  std::vector<float> mask(n);
  dropout_mask(rng, 0.25f, mask.data(), n);
  int64_t dropped = 0;
  for (float m : mask) {
    ASSERT_TRUE(m == 0.f || m == 1.f / 0.75f) << m;
    dropped += m == 0.f;
  }
  EXPECT_NEAR(double(dropped) / n, 0.25, 0.005);
  for (int64_t i = 0; i < n; ++i) copy.next_u64();
  EXPECT_EQ(rng.state(), copy.state());  // the stream a checkpoint resumes from
}

TEST(DropoutKernel, MaskIsSharedByEveryPositionOfASample) {
  // x [batch 2, positions 3, channels 2]; mask [2, 2].
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<float> mask = {0, 2, 4, 0};
  std::vector<float> y(12);
  dropout_apply(x.data(), mask.data(), y.data(), 2, 3, 2);
  EXPECT_EQ(y, (std::vector<float>{0, 4, 0, 8, 0, 12, 28, 0, 36, 0, 44, 0}));
}

TEST(PaddingKernel, PadsWithZerosAndCropsBack) {
  // One 2x2 image of 1 channel, padded 1 on top and 2 on the right: 3 x 4.
  const Padding2D p{1, 2, 2, 1, 1, 0, 0, 2};
  const std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> y(12, -1.f), dx(4);
  zero_pad2d_forward(p, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  zero_pad2d_backward(p, y.data(), dx.data());
  EXPECT_EQ(dx, x);
}

TEST(NormalizationKernel, BatchStatisticsMatchADirectComputationOnOneThreadAndOnTwo) {
  const int64_t C = 8;
  for (const int64_t rows : {int64_t(50), int64_t(20000)}) {  // below and above the threshold
    Rng rng(3);
    std::vector<float> x(rows * C);
    for (float& v : x) v = rng.normal(5.f, 2.f);
    std::vector<float> mean(C), var(C), inv(C);
    std::vector<double> scratch;
    set_num_threads(2);
    batch_norm_statistics(x.data(), rows, C, 1e-3f, mean.data(), var.data(), inv.data(), scratch);
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, q = 0;
      for (int64_t r = 0; r < rows; ++r) s += x[r * C + c];
      const double m = s / rows;
      for (int64_t r = 0; r < rows; ++r) q += (x[r * C + c] - m) * (x[r * C + c] - m);
      EXPECT_NEAR(mean[c], m, 1e-5 * std::abs(m));
      EXPECT_NEAR(var[c], q / rows, 1e-4 * q / rows);
      EXPECT_NEAR(inv[c], 1.0 / std::sqrt(q / rows + 1e-3), 1e-4 * inv[c]);
    }
    std::vector<float> mean1(C), var1(C), inv1(C);
    set_num_threads(1);
    batch_norm_statistics(x.data(), rows, C, 1e-3f, mean1.data(), var1.data(), inv1.data(), scratch);
    set_num_threads(2);
    for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(mean1[c], mean[c], 1e-6 * std::abs(mean[c]));
  }
}

// The per-channel sums run a block of channels at a time, then the whole vectors left, then the last
// channels one by one: every channel count below takes a different mix of the three, on one thread
// and on two.
TEST(NormalizationKernel, BatchSumsMatchARowLoopForEveryChannelCount) {
  for (const int64_t C : {1, 3, 8, 13, 16, 24, 32, 37, 64, 72, 130}) {
    const int64_t rows = 3000;  // rows * C is above the threads' threshold from C = 11 on
    Rng rng{uint64_t(C)};
    std::vector<float> x(rows * C), dy(rows * C), beta(C);
    for (float& v : x) v = rng.normal(3.f, 2.f);
    for (float& v : dy) v = rng.normal(0.f, 1.f);
    for (float& v : beta) v = rng.normal(0.f, 1.f);
    const std::vector<float> gamma(C, 1.5f);
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> mean(C), var(C), inv(C), scale(C), y(rows * C), dx(rows * C), work(2 * C);
      std::vector<double> scratch;
      batch_norm_statistics(x.data(), rows, C, 1e-3f, mean.data(), var.data(), inv.data(), scratch);
      batch_norm_forward(x.data(), mean.data(), inv.data(), gamma.data(), beta.data(), scale.data(), y.data(), rows, C,
                         true);
      for (const bool masked : {false, true}) {
        std::vector<float> dgamma(C), dbeta(C);
        batch_norm_backward(x.data(), dy.data(), mean.data(), inv.data(), scale.data(), true, dgamma.data(),
                            dbeta.data(), dx.data(), rows, C, work.data(), scratch, masked ? beta.data() : nullptr);
        for (int64_t c = 0; c < C; ++c) {
          double s = 0, q = 0, g_sum = 0, gx_sum = 0;
          for (int64_t r = 0; r < rows; ++r) {
            const float v = x[r * C + c];
            s += v;
            q += double(v) * v;
            const float g = masked && !(y[r * C + c] > 0.f) ? 0.f : dy[r * C + c];
            g_sum += g;
            gx_sum += double(g) * ((v - mean[c]) * inv[c]);
          }
          const double m = s / rows;
          ASSERT_FLOAT_EQ(mean[c], float(m)) << "C=" << C << " c=" << c << " threads=" << threads;
          ASSERT_FLOAT_EQ(var[c], float(q / rows - m * m)) << "C=" << C << " c=" << c;
          ASSERT_FLOAT_EQ(dbeta[c], float(g_sum)) << "C=" << C << " c=" << c << " masked=" << masked;
          ASSERT_NEAR(dgamma[c], gx_sum, 1e-5 * (1 + std::abs(gx_sum))) << "C=" << C << " c=" << c;
        }
      }
    }
  }
  set_num_threads(2);
}

// A convolution's output handed over in bfloat16: each value reads as the float32 it stands for, so
// the passes give what they give on those float32 values, bit for bit.
TEST(NormalizationKernel, BatchPassesOnBfloat16InputMatchThoseOnItsValues) {
  for (const int64_t C : {5, 32, 37}) {
    const int64_t rows = 2000;
    Rng rng{uint64_t(C) + 100};
    std::vector<float> x(rows * C), dy(rows * C), gamma(C), beta(C);
    for (float& v : x) v = rng.normal(1.f, 2.f);
    for (float& v : dy) v = rng.normal(0.f, 1.f);
    for (int64_t c = 0; c < C; ++c) {
      gamma[c] = rng.normal(1.f, 0.5f);
      beta[c] = rng.normal(0.f, 1.f);
    }
    std::vector<uint16_t> x16(x.size());
    kernels::to_bf16(x.data(), x16.data(), rows * C);
    std::vector<float> values(x.size());
    for (size_t i = 0; i < x.size(); ++i) values[i] = std::bit_cast<float>(uint32_t(x16[i]) << 16);
    struct Passes {
      std::vector<float> mean, var, inv, scale, y, dx, dgamma, dbeta, work;
    };
    auto run = [&](auto* input, bool relu) {
      Passes p{std::vector<float>(C), std::vector<float>(C), std::vector<float>(C), std::vector<float>(C),
               std::vector<float>(rows * C), std::vector<float>(rows * C), std::vector<float>(C),
               std::vector<float>(C), std::vector<float>(2 * C)};
      std::vector<double> scratch;
      batch_norm_statistics(input, rows, C, 1e-3f, p.mean.data(), p.var.data(), p.inv.data(), scratch);
      batch_norm_forward(input, p.mean.data(), p.inv.data(), gamma.data(), beta.data(), p.scale.data(), p.y.data(),
                         rows, C, relu);
      batch_norm_backward(input, dy.data(), p.mean.data(), p.inv.data(), p.scale.data(), true, p.dgamma.data(),
                          p.dbeta.data(), p.dx.data(), rows, C, p.work.data(), scratch, relu ? beta.data() : nullptr);
      return p;
    };
    for (const bool relu : {false, true}) {
      SCOPED_TRACE("C=" + std::to_string(C) + (relu ? " relu" : ""));
      const Passes a = run(static_cast<const uint16_t*>(x16.data()), relu);
      const Passes b = run(static_cast<const float*>(values.data()), relu);
      EXPECT_EQ(a.mean, b.mean);
      EXPECT_EQ(a.var, b.var);
      EXPECT_EQ(a.y, b.y);
      EXPECT_EQ(a.dx, b.dx);
      EXPECT_EQ(a.dgamma, b.dgamma);
      EXPECT_EQ(a.dbeta, b.dbeta);
      // dx written in bfloat16 (for a bfloat16 convolution before): the float32 dx rounded, with the
      // batch's statistics and with fixed ones.
      for (const bool batch_statistics : {true, false}) {
        std::vector<float> dx(rows * C), dgamma(C), dbeta(C), work(2 * C);
        std::vector<uint16_t> dx16(rows * C), want(rows * C);
        std::vector<double> scratch;
        batch_norm_backward(x16.data(), dy.data(), a.mean.data(), a.inv.data(), a.scale.data(), batch_statistics,
                            dgamma.data(), dbeta.data(), dx.data(), rows, C, work.data(), scratch,
                            relu ? beta.data() : nullptr);
        batch_norm_backward(x16.data(), dy.data(), a.mean.data(), a.inv.data(), a.scale.data(), batch_statistics,
                            dgamma.data(), dbeta.data(), dx16.data(), rows, C, work.data(), scratch,
                            relu ? beta.data() : nullptr);
        kernels::to_bf16(dx.data(), want.data(), rows * C);
        EXPECT_EQ(dx16, want) << (batch_statistics ? "batch statistics" : "fixed statistics");
      }
      // y written in bfloat16 (for a bfloat16 convolution after): the float32 y rounded.
      std::vector<float> scale(C);
      std::vector<uint16_t> y16(rows * C), want(rows * C);
      batch_norm_forward(x16.data(), a.mean.data(), a.inv.data(), gamma.data(), beta.data(), scale.data(), y16.data(),
                         rows, C, relu);
      kernels::to_bf16(a.y.data(), want.data(), rows * C);
      EXPECT_EQ(y16, want);
    }
  }
}

TEST(NormalizationKernel, MovingAveragesAndFixedStatisticsByHand) {
  const float mean[2] = {1.f, -2.f}, var[2] = {4.f, 0.25f};
  float moving_mean[2] = {0.f, 0.f}, moving_var[2] = {1.f, 1.f};
  batch_norm_update_moving(mean, var, 0.75f, moving_mean, moving_var, 2);
  EXPECT_FLOAT_EQ(moving_mean[0], 0.25f);
  EXPECT_FLOAT_EQ(moving_mean[1], -0.5f);
  EXPECT_FLOAT_EQ(moving_var[0], 1.75f);
  EXPECT_FLOAT_EQ(moving_var[1], 0.8125f);
  float m[2], inv[2];
  batch_norm_inference_statistics(mean, var, 0.f, m, inv, 2);
  EXPECT_FLOAT_EQ(inv[0], 0.5f);
  EXPECT_FLOAT_EQ(inv[1], 2.f);
  // y = (x - mean) * gamma * inv_std + beta, and the backward through fixed statistics is dy * scale.
  const float x[4] = {3.f, -2.f, 1.f, -1.f}, gamma[2] = {2.f, 1.f}, beta[2] = {0.5f, 0.f};
  float scale[2], y[4];
  batch_norm_forward(x, m, inv, gamma, beta, scale, y, 2, 2);
  EXPECT_FLOAT_EQ(y[0], 2.5f);
  EXPECT_FLOAT_EQ(y[1], 0.f);
  EXPECT_FLOAT_EQ(y[2], 0.5f);
  EXPECT_FLOAT_EQ(y[3], 2.f);
  const float dy[4] = {1.f, 1.f, 2.f, -1.f};
  float dx[4], dgamma[2], dbeta[2], work[4];
  std::vector<double> scratch;
  batch_norm_backward(x, dy, m, inv, scale, false, dgamma, dbeta, dx, 2, 2, work, scratch);
  EXPECT_FLOAT_EQ(dx[0], 1.f);
  EXPECT_FLOAT_EQ(dx[3], -2.f);
  EXPECT_FLOAT_EQ(dbeta[0], 3.f);   // sum of dy
  EXPECT_FLOAT_EQ(dgamma[0], 1.f);   // sum of dy * xhat: 1 * 1 + 2 * 0
  EXPECT_FLOAT_EQ(dgamma[1], -2.f);  // 1 * 0 + (-1) * 2
}

TEST(NormalizationKernel, FeatureStatisticsAndForwardByHand) {
  const float x[6] = {1.f, 10.f, 2.f, 10.f, 3.f, 10.f};  // [3 rows, 2 features]
  float mean[2], var[2], inv[2], y[6];
  feature_statistics(x, 3, 2, mean, var);
  EXPECT_FLOAT_EQ(mean[0], 2.f);
  EXPECT_FLOAT_EQ(var[0], 2.f / 3.f);
  EXPECT_FLOAT_EQ(mean[1], 10.f);
  EXPECT_FLOAT_EQ(var[1], 0.f);
  normalization_inverse_std(var, 1e-7f, inv, 2);
  EXPECT_FLOAT_EQ(inv[1], 1e7f);  // a constant feature is divided by epsilon, not by zero
  normalization_forward(x, mean, inv, y, 3, 2);
  EXPECT_FLOAT_EQ(y[0], -1.f / std::sqrt(2.f / 3.f));
  EXPECT_FLOAT_EQ(y[3], 0.f);
}

TEST(ElementwiseKernel, OperatorsFillAndGather) {
  const float a[3] = {1.f, 6.f, -3.f}, b[3] = {2.f, 3.f, 0.5f};
  float out[3];
  binary(BinaryOp::Divide, a, b, out, 3);
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_FLOAT_EQ(out[1], 2.f);
  EXPECT_FLOAT_EQ(out[2], -6.f);
  binary_scalar(BinaryOp::Subtract, a, 1.f, out, 3);
  EXPECT_FLOAT_EQ(out[2], -4.f);
  fill(out, 3, 7.f);
  EXPECT_FLOAT_EQ(out[1], 7.f);
  // Enough rows for the threaded path: each row lands where its index says.
  set_num_threads(2);
  const int64_t rows = 4096, width = 64;
  std::vector<float> src(rows * width), dst(rows * width);
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(i);
  std::vector<int64_t> idx(rows);
  for (int64_t i = 0; i < rows; ++i) idx[i] = (i * 37) % rows;
  for (bool threads : {false, true}) {
    gather_rows(src.data(), width, idx.data(), rows, dst.data(), threads);
    for (int64_t i = 0; i < rows; i += 97) EXPECT_EQ(dst[i * width + 5], src[idx[i] * width + 5]) << i;
  }
}
