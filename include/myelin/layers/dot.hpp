// Dot: Keras 3's merge layer that takes the dot product of two inputs along one axis of each, for
// every sample (keras.ops' batched dot).
//
// `Dot(1)({a, b})` with a and b of shape (None, n) gives (None, 1), the per-sample dot products;
// `Dot(2)({a, b})` with a (None, m, n) and b (None, k, n) gives (None, m, k); `Dot({1, 2})` pairs
// a's axis 1 with b's axis 2. Axes count the batch as axis 0, as Keras's do; negative ones count
// from the end. The output's shape is a's per-sample shape without its axis, then b's without its
// axis, and (None, 1) when nothing is left. normalize=true divides each input by its L2 norm along
// its axis first, max(norm, 1e-7) as Keras 3's normalize, so that the dot is the cosine similarity.
//
// Inputs of per-sample rank 1 or 2 (batch, n) and (batch, m, n); higher ranks are a ShapeError.
#pragma once
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class Dot : public Layer {
  MYELIN_LAYER_MOVABLE(Dot)
  bool writes_lent_output() const override { return true; }
  /// `Dot(1)`, `Dot(-1, true)` (cosine similarity); `Dot({1, 2})` pairs axis 1 of the first input with
  /// axis 2 of the second.
  explicit Dot(int axes, bool normalize = false, std::string name = "");
  Dot(std::vector<int> axes, bool normalize = false, std::string name = "");

  std::string class_name() const override { return "Dot"; }
  int num_inputs() const override { return -1; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  Shape build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) override;
  std::optional<LayerPlan> plan_inputs(const std::vector<Shape>& input_shapes) const override;
  const Tensor& forward_inputs(const std::vector<const Tensor*>& inputs, bool training) override;
  void backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) override;
  nlohmann::json get_config() const override;

  /// The axes as given: one (both inputs) or two.
  const std::vector<int>& axes() const { return axes_; }
  bool normalize() const { return normalize_; }

 private:
  // One sample's product: op(a) (M, K) · op(b) (K, N) over the stored row-major matrices.
  struct Geometry {
    int64_t M = 0, N = 0, K = 0, lda = 0, ldb = 0, a_size = 0, b_size = 0;
    bool trans_a = false, trans_b = false;
  };
  // The geometry for these per-sample shapes; ShapeError/ValueError naming the layer.
  Geometry geometry(const std::vector<Shape>& s, Shape* out_shape, int64_t* axis1,
                                int64_t* axis2) const;
  std::vector<int> axes_;
  bool normalize_;
  Geometry g_;
  Shape in1_, in2_, out_shape_, shape_buf_;
  int64_t axis1_ = 0, axis2_ = 0;  // the contracted per-sample axes
  const Tensor* x1_ = nullptr;
  const Tensor* x2_ = nullptr;
  Tensor n1_, n2_, inv1_, inv2_, y_, d1_, d2_, dx1_, dx2_;
};

}  // namespace myelin::layers
