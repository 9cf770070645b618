// Pooling layers: Keras's output sizes, forward cases worked by hand (padding excluded from max and
// average), gradients against central finite differences on odd shapes, config and shape errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "gradient_check.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/model.hpp"

using namespace myelin;
using namespace myelin::layers;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {

Shape built(Layer&& layer, const Shape& in) {
  Rng rng(0);
  return layer.build(in, rng);
}

// Distinct values 0.05 apart in shuffled order: every max is unique by far more than the step of
// the finite differences, so the max stays put while one input moves.
Tensor distinct_tensor(const Shape& shape, Rng& rng) {
  Tensor t(shape);
  std::vector<int64_t> order(t.size());
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(order);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = 0.05f * float(order[i]) - 0.025f * float(t.size());
  return t;
}

void check_gradient(Layer& layer, const Shape& in, Rng& rng) {
  const Shape out = layer.build(in, rng);
  Tensor x = distinct_tensor(with_batch(2, in), rng);
  const Tensor w = random_tensor(with_batch(2, out), rng, -1, 1);
  auto loss = [&] { return weighted_sum(layer.forward(x, true), w); };
  const Tensor num = numerical_gradient(loss, x, 1e-3);
  layer.forward(x, true);
  EXPECT_TRUE(gradients_close(layer.backward(w), num, 1e-3, 1e-2));
}

}  // namespace

TEST(Pooling, OutputShapesFollowKeras) {
  EXPECT_EQ(built(MaxPooling2D({2, 2}), {26, 26, 32}), (Shape{13, 13, 32}));
  EXPECT_EQ(built(MaxPooling2D({2, 2}), {11, 11, 64}), (Shape{5, 5, 64}));  // floor((11-2)/2)+1
  EXPECT_EQ(built(MaxPooling2D({2, 2}, std::nullopt, "same"), {11, 11, 64}), (Shape{6, 6, 64}));  // ceil(11/2)
  EXPECT_EQ(built(AveragePooling2D({3, 2}, Size2{1, 2}), {5, 7, 3}), (Shape{3, 3, 3}));
  EXPECT_EQ(built(AveragePooling2D(3, 2, "same"), {5, 8, 1}), (Shape{3, 4, 1}));
  EXPECT_EQ(built(GlobalAveragePooling2D(), {5, 7, 3}), (Shape{3}));
  EXPECT_EQ(built(GlobalMaxPooling2D(true), {5, 7, 3}), (Shape{1, 1, 3}));
}

// 3x3 one-channel image 1..9, pool 2x2 stride 1:
// max windows {1,2,4,5} {2,3,5,6} {4,5,7,8} {5,6,8,9} -> 5 6 8 9; averages 3 4 6 7.
TEST(Pooling, ForwardByHand) {
  Rng rng(0);
  const Tensor x({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  MaxPooling2D mp(2, 1);
  mp.build({3, 3, 1}, rng);
  EXPECT_EQ(mp.forward(x, false).to_vector(), (std::vector<float>{5, 6, 8, 9}));
  AveragePooling2D ap(2, 1);
  ap.build({3, 3, 1}, rng);
  EXPECT_EQ(ap.forward(x, false).to_vector(), (std::vector<float>{3, 4, 6, 7}));

  // 'same', pool 2 stride 2 on 3x3: out 2x2, padding one row below and one column right (not
  // counted): windows {1,2,4,5} {3,6} {7,8} {9}.
  MaxPooling2D mps(2, 2, "same");
  mps.build({3, 3, 1}, rng);
  EXPECT_EQ(mps.forward(x, false).to_vector(), (std::vector<float>{5, 6, 8, 9}));
  AveragePooling2D aps(2, 2, "same");
  aps.build({3, 3, 1}, rng);
  EXPECT_EQ(aps.forward(x, false).to_vector(), (std::vector<float>{3, 4.5f, 7.5f, 9}));

  // A negative image: the max over a padded window is still an image value, never a padding 0.
  const Tensor neg = x * -1.f;
  EXPECT_EQ(mps.forward(neg, false).to_vector(), (std::vector<float>{-1, -3, -7, -9}));

  // Two channels, global pooling: channel 0 = 1..4, channel 1 = 8,6,7,5.
  const Tensor x2({1, 2, 2, 2}, {1, 8, 2, 6, 3, 7, 4, 5});
  GlobalAveragePooling2D gap;
  gap.build({2, 2, 2}, rng);
  EXPECT_EQ(gap.forward(x2, false).to_vector(), (std::vector<float>{2.5f, 6.5f}));
  GlobalMaxPooling2D gmp;
  gmp.build({2, 2, 2}, rng);
  EXPECT_EQ(gmp.forward(x2, false).to_vector(), (std::vector<float>{4, 8}));
}

// Max pooling sends each output's gradient to its window's maximum; overlapping windows add up.
TEST(Pooling, MaxBackwardByHand) {
  Rng rng(0);
  const Tensor x({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  MaxPooling2D mp(2, 1);
  mp.build({3, 3, 1}, rng);
  mp.forward(x, true);
  // Maxima at 5, 6, 8, 9 receive dy = 1, 2, 3, 4.
  EXPECT_EQ(mp.backward(Tensor({1, 2, 2, 1}, {1, 2, 3, 4})).to_vector(),
            (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 3, 4}));
  // Ties: the first maximum in scan order takes the gradient (as TensorFlow).
  MaxPooling2D tie(2, 2);
  tie.build({2, 2, 1}, rng);
  tie.forward(Tensor({1, 2, 2, 1}, {3, 3, 3, 3}), true);
  EXPECT_EQ(tie.backward(Tensor({1, 1, 1, 1}, {1})).to_vector(), (std::vector<float>{1, 0, 0, 0}));
}

TEST(Pooling, GradientsMatchFiniteDifferences) {
  Rng rng(9);
  {
    SCOPED_TRACE("max 2x2 valid, non-square, 3 channels");
    MaxPooling2D l({2, 2});
    check_gradient(l, {5, 7, 3}, rng);
  }
  {
    SCOPED_TRACE("max 3x3 stride 2 same, one channel");
    MaxPooling2D l(3, 2, "same");
    check_gradient(l, {6, 5, 1}, rng);
  }
  {
    SCOPED_TRACE("max 2x3 stride (1, 2) same, 16 channels");
    MaxPooling2D l({2, 3}, Size2{1, 2}, "same");
    check_gradient(l, {4, 5, 16}, rng);
  }
  {
    SCOPED_TRACE("average 2x2 same stride 2, odd sizes");
    AveragePooling2D l(2, 2, "same");
    check_gradient(l, {5, 7, 3}, rng);
  }
  {
    SCOPED_TRACE("average 3x2 stride 1 valid, one channel");
    AveragePooling2D l({3, 2}, Size2{1, 1});
    check_gradient(l, {6, 5, 1}, rng);
  }
  {
    SCOPED_TRACE("average 4x4 same stride 3, many channels");
    AveragePooling2D l(4, 3, "same");
    check_gradient(l, {8, 7, 12}, rng);
  }
  {
    SCOPED_TRACE("global average");
    GlobalAveragePooling2D l;
    check_gradient(l, {3, 5, 4}, rng);
  }
  {
    SCOPED_TRACE("global max, keepdims");
    GlobalMaxPooling2D l(true);
    check_gradient(l, {3, 5, 4}, rng);
  }
}

TEST(Pooling, ConfigHasKerasKeys) {
  auto c = MaxPooling2D({3, 2}, std::nullopt, "same").get_config();
  EXPECT_EQ(c["pool_size"], nlohmann::json({3, 2}));
  EXPECT_EQ(c["strides"], nlohmann::json({3, 2}));  // default: the pool size
  EXPECT_EQ(c["padding"], "same");
  EXPECT_EQ(c["data_format"], "channels_last");
  EXPECT_EQ(AveragePooling2D(2, 1).get_config()["strides"], nlohmann::json({1, 1}));
  EXPECT_EQ(GlobalAveragePooling2D(true).get_config()["keepdims"], true);
  EXPECT_EQ(GlobalMaxPooling2D().get_config()["keepdims"], false);
}

TEST(Pooling, BadArgumentsAndShapesAreRefused) {
  EXPECT_THROW(MaxPooling2D(0), ValueError);
  EXPECT_THROW(AveragePooling2D(2, 2, "causal"), ValueError);
  Rng rng(0);
  MaxPooling2D mp(2);
  EXPECT_THROW(mp.build({10}, rng), ShapeError);
  GlobalMaxPooling2D gmp;
  EXPECT_THROW(gmp.build({4, 4}, rng), ShapeError);
  Sequential model({MaxPooling2D(2, std::nullopt, "valid", Shape{3, 3, 2}), MaxPooling2D(2), MaxPooling2D(2)});
  try {
    model.build();
    FAIL() << "no ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("(None, 1, 1, 2)"), std::string::npos) << msg;  // input of the third layer
    EXPECT_NE(msg.find("max_pooling2d"), std::string::npos) << msg;
  }
}

// An inference forward gives the training forward's output. It records the winners unless told no
// backward follows (a model's inference pass): a backward then is refused with the layer's name
// rather than reading stale positions, and after an inference forward that kept them (an
// explanation's pass) it gives the training backward's gradient.
TEST(Pooling, MaxInferenceMatchesTrainingAndKeepsWinnersOnlyForABackward) {
  Rng rng(4);
  MaxPooling2D layer({2, 2});
  layer.build({9, 7, 5}, rng);
  const Tensor x = distinct_tensor({3, 9, 7, 5}, rng);
  const Tensor trained = layer.forward(x, true).clone();
  const Tensor trained_dx = layer.backward(trained).clone();
  const Tensor inferred = layer.forward(x, false).clone();
  ASSERT_EQ(inferred.shape(), trained.shape());
  for (int64_t i = 0; i < trained.size(); ++i) ASSERT_EQ(inferred[i], trained[i]) << i;
  const Tensor& dx = layer.backward(trained);
  for (int64_t i = 0; i < dx.size(); ++i) ASSERT_EQ(dx[i], trained_dx[i]) << i;
  layer.set_backward_follows(false);
  layer.forward(x, false);
  try {
    layer.backward(trained);
    FAIL() << "backward after an inference forward that kept no winners was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(layer.name()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("winners' positions"), std::string::npos) << e.what();
  }
}

// Below a relu, the pooling masks for it: a window whose maximum is 0 (every input clipped by the
// relu) passes no gradient, one with a positive maximum passes it to that maximum, as relu then
// pooling would. Sequential sets this for a Conv2D(relu) -> MaxPooling2D pair.
TEST(Pooling, MaxBackwardMasksForTheReluBelow) {
  Rng rng(0);
  // Relu outputs: windows (stride 2) {0,0,0,0}, {0,2,0,0}, {0,0,0,0}, {1,0,0,3}.
  const Tensor x({1, 4, 4, 1}, {0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3});
  MaxPooling2D mp(2, 2);
  mp.build({4, 4, 1}, rng);
  mp.set_mask_nonpositive_input(true);
  mp.forward(x, true);
  EXPECT_EQ(mp.backward(Tensor({1, 2, 2, 1}, {10, 20, 30, 40})).to_vector(),
            (std::vector<float>{0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40}));
  mp.set_mask_nonpositive_input(false);  // alone, the first zero of an all-zero window takes it
  mp.forward(x, true);
  EXPECT_EQ(mp.backward(Tensor({1, 2, 2, 1}, {10, 20, 30, 40})).to_vector(),
            (std::vector<float>{10, 0, 0, 20, 0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 40}));
}

// Inputs over 16k values are pooled by rows on all threads (one image too): the same maxima and
// winners as a plain loop, for a batch of one and of several, 'valid' and 'same'.
TEST(Pooling, MaxOverManyRowsMatchesAPlainLoop) {
  for (const int64_t batch : {1, 3})
    for (const char* padding : {"valid", "same"}) {
      SCOPED_TRACE(std::string(padding) + " batch " + std::to_string(batch));
      Rng rng(6);
      MaxPooling2D layer({3, 2}, Size2{2, 2}, padding);
      const Shape out = layer.build({41, 30, 16}, rng);
      const Tensor x = distinct_tensor(with_batch(batch, {41, 30, 16}), rng);
      const Tensor& y = layer.forward(x, true);
      const int64_t pad_top = std::string(padding) == "same" ? (((out[0] - 1) * 2 + 3 - 41) / 2) : 0;
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t i = 0; i < out[0]; ++i)
          for (int64_t j = 0; j < out[1]; ++j)
            for (int64_t c = 0; c < 16; ++c) {
              float m = -1e30f;
              for (int64_t r = i * 2 - pad_top; r < i * 2 - pad_top + 3; ++r)
                for (int64_t q = j * 2; q < j * 2 + 2; ++q)
                  if (r >= 0 && r < 41 && q < 30) m = std::max(m, x[((n * 41 + r) * 30 + q) * 16 + c]);
              ASSERT_EQ(y[((n * out[0] + i) * out[1] + j) * 16 + c], m) << n << " " << i << " " << j << " " << c;
            }
    }
}

// Windows that tile the image take a one-pass backward, other windows zero dx and add into it; both
// keep each window's maximum and winner over its channels a vector at a time, with a last part
// vector. Channel counts below, at and past a vector, windows tiling and not (an odd size, overlaps),
// inputs with ties (the first pixel in scan order wins), with and without the relu mask: the
// maxima and gradients of a plain loop.
TEST(Pooling, MaxWinnersAndGradientsMatchAPlainLoopForEveryChannelCount) {
  struct Case {
    int64_t h, w;
    Size2 pool, strides;
  };
  const Case cases[] = {{8, 6, {2, 2}, {2, 2}}, {7, 7, {2, 2}, {2, 2}}, {7, 8, {3, 3}, {2, 2}}};
  for (const auto& cs : cases)
    for (const int64_t C : {3, 16, 20, 37})
      for (const bool masked : {false, true}) {
        SCOPED_TRACE(std::to_string(cs.h) + "x" + std::to_string(cs.w) + " pool " + std::to_string(cs.pool.h) +
                     " C " + std::to_string(C) + (masked ? " masked" : ""));
        Rng rng{uint64_t(C)};
        MaxPooling2D layer(cs.pool, cs.strides);
        const Shape out = layer.build({cs.h, cs.w, C}, rng);
        const int64_t batch = 2;
        Tensor x(with_batch(batch, {cs.h, cs.w, C}));
        for (int64_t i = 0; i < x.size(); ++i) x[i] = float(int(rng.uniform(0.f, 4.f)) - 1);  // -1..2: ties
        Tensor dy(with_batch(batch, out));
        for (int64_t i = 0; i < dy.size(); ++i) dy[i] = rng.uniform(-1.f, 1.f);
        layer.set_mask_nonpositive_input(masked);
        const Tensor y = layer.forward(x, true).clone();
        const Tensor dx = layer.backward(dy).clone();
        std::vector<float> want_dx(size_t(x.size()), 0.f);
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < out[0]; ++i)
            for (int64_t j = 0; j < out[1]; ++j)
              for (int64_t c = 0; c < C; ++c) {
                int64_t win = -1;
                for (int64_t r = i * cs.strides.h; r < std::min(cs.h, i * cs.strides.h + cs.pool.h); ++r)
                  for (int64_t q = j * cs.strides.w; q < std::min(cs.w, j * cs.strides.w + cs.pool.w); ++q) {
                    const int64_t at = ((n * cs.h + r) * cs.w + q) * C + c;
                    if (win < 0 || x[at] > x[win]) win = at;
                  }
                const int64_t o = ((n * out[0] + i) * out[1] + j) * C + c;
                ASSERT_EQ(y[o], x[win]) << i << " " << j << " " << c;
                if (!masked || x[win] > 0.f) want_dx[size_t(win)] += dy[o];
              }
        for (int64_t i = 0; i < x.size(); ++i) ASSERT_FLOAT_EQ(dx[i], want_dx[size_t(i)]) << i;
      }
}
