// Reshape, ZeroPadding2D and SpatialDropout2D: shapes, forward cases worked by hand, gradients
// against central finite differences, dropout statistics, config and errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gradient_check.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/reshape.hpp"
#include "myelin/layers/spatial_dropout2d.hpp"
#include "myelin/layers/zero_padding2d.hpp"

using namespace myelin;
using namespace myelin::layers;
using myelin::test::gradients_close;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

TEST(Reshape, InfersMinusOneAndRoundTrips) {
  Rng rng(0);
  Reshape r({-1, 4});
  EXPECT_EQ(r.build({2, 3, 2}, rng), (Shape{3, 4}));
  const Tensor x = random_tensor({5, 2, 3, 2}, rng, -1, 1);
  const Tensor& y = r.forward(x, true);
  EXPECT_EQ(y.shape(), (Shape{5, 3, 4}));
  EXPECT_EQ(y.to_vector(), x.to_vector());  // row-major order is kept
  const Tensor& dx = r.backward(y);
  EXPECT_EQ(dx.shape(), x.shape());
  EXPECT_EQ(r.get_config()["target_shape"], nlohmann::json({-1, 4}));
}

TEST(Reshape, MismatchedSizesNameTheLayerAndBothShapes) {
  Rng rng(0);
  Reshape r({5, 5}, std::nullopt);
  r.set_name("reshape_7");
  try {
    r.build({4, 6}, rng);
    FAIL() << "no ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("reshape_7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(4, 6)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(5, 5)"), std::string::npos) << msg;
  }
  Reshape bad({-1, 5});
  EXPECT_THROW(bad.build({4, 6}, rng), ShapeError);  // 24 values are not a multiple of 5
  EXPECT_THROW(Reshape({-1, -1}), ValueError);
  EXPECT_THROW(Reshape({0, 3}), ValueError);
}

// 2x2 one-channel image padded one row above and below and two columns on the right only.
TEST(ZeroPadding2D, ForwardAndBackwardByHand) {
  Rng rng(0);
  ZeroPadding2D p(1, 1, 0, 2);
  EXPECT_EQ(p.build({2, 2, 1}, rng), (Shape{4, 4, 1}));
  const Tensor x({1, 2, 2, 1}, {1, 2, 3, 4});
  EXPECT_EQ(p.forward(x, true).to_vector(),
            (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0}));
  Tensor dy({1, 4, 4, 1});
  for (int i = 0; i < 16; ++i) dy[i] = float(i);
  // The gradient is dy's inner block: rows 1-2, columns 0-1.
  EXPECT_EQ(p.backward(dy).to_vector(), (std::vector<float>{4, 5, 8, 9}));
  EXPECT_EQ(p.get_config()["padding"], nlohmann::json({{1, 1}, {0, 2}}));
  EXPECT_EQ(ZeroPadding2D({1, 2}).get_config()["padding"], nlohmann::json({{1, 1}, {2, 2}}));
  EXPECT_THROW(ZeroPadding2D(-1), ValueError);
  ZeroPadding2D q;
  EXPECT_THROW(q.build({3, 3}, rng), ShapeError);
}

TEST(ZeroPadding2D, GradientMatchesFiniteDifferences) {
  Rng rng(2);
  ZeroPadding2D p(2, 0, 1, 3);
  const Shape out = p.build({3, 5, 4}, rng);
  EXPECT_EQ(out, (Shape{5, 9, 4}));
  Tensor x = random_tensor({2, 3, 5, 4}, rng, -1, 1);
  const Tensor w = random_tensor(with_batch(2, out), rng, -1, 1);
  auto loss = [&] { return weighted_sum(p.forward(x, true), w); };
  const Tensor num = numerical_gradient(loss, x, 1e-2);
  p.forward(x, true);
  EXPECT_TRUE(gradients_close(p.backward(w), num, 1e-4, 1e-3));
}

// Whole channels are dropped: within a (sample, channel) every pixel is kept (times 1/(1-rate))
// or zeroed together; about `rate` of the channels go; the gradient uses the same mask.
TEST(SpatialDropout2D, DropsWholeChannelsAndScalesTheRest) {
  Rng rng(4);
  SpatialDropout2D d(0.25f);
  d.build({3, 4, 50}, rng);
  const Tensor x = random_tensor({40, 3, 4, 50}, rng, 0.5f, 1.5f);
  const Tensor y = d.forward(x, true).clone();
  int dropped = 0;
  for (int64_t n = 0; n < 40; ++n)
    for (int64_t c = 0; c < 50; ++c) {
      const int64_t first = (n * 12) * 50 + c;
      const bool zero = y[first] == 0.f;
      dropped += zero;
      for (int64_t p = 0; p < 12; ++p) {
        const int64_t i = (n * 12 + p) * 50 + c;
        EXPECT_FLOAT_EQ(y[i], zero ? 0.f : x[i] / 0.75f);
      }
    }
  // 2000 channels at rate 0.25: 500 expected, standard deviation about 19.
  EXPECT_GT(dropped, 400);
  EXPECT_LT(dropped, 600);
  const Tensor dy = Tensor::full(x.shape(), 1.f);
  const Tensor dx = d.backward(dy).clone();
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(dx[i], y[i] == 0.f ? 0.f : 1.f / 0.75f);
  // Inference is the identity.
  EXPECT_EQ(d.forward(x, false).to_vector(), x.to_vector());
}

TEST(SpatialDropout2D, ConfigAndErrors) {
  EXPECT_FLOAT_EQ(SpatialDropout2D(0.3f).get_config()["rate"].get<float>(), 0.3f);
  EXPECT_THROW(SpatialDropout2D(1.f), ValueError);
  Rng rng(0);
  SpatialDropout2D d(0.1f);
  EXPECT_THROW(d.build({16}, rng), ShapeError);
}
