#include "myelin/layers/dot.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/dot.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

namespace {

constexpr float kEpsilon = 1e-7f;  // Keras 3's backend.epsilon(), normalize's floor on the norm

std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (const auto& x : shapes) s += (s.empty() ? "" : " and ") + shape_to_string(with_batch(-1, x), true);
  return s;
}

// [outer, n, inner] along per-sample axis `axis` of `shape`, for `batch` samples.
void layout(const Shape& shape, int64_t axis, int64_t batch, int64_t* outer, int64_t* n, int64_t* inner) {
  *outer = batch;
  *inner = 1;
  for (int64_t i = 0; i < axis; ++i) *outer *= shape[size_t(i)];
  *n = shape[size_t(axis)];
  for (size_t i = size_t(axis) + 1; i < shape.size(); ++i) *inner *= shape[i];
}

}  // namespace

Dot::Dot(int axes, bool normalize, std::string name) : Dot(std::vector<int>{axes}, normalize, std::move(name)) {}

Dot::Dot(std::vector<int> axes, bool normalize, std::string name) : axes_(std::move(axes)), normalize_(normalize) {
  name_ = std::move(name);
  if (axes_.size() != 1 && axes_.size() != 2)
    throw ValueError("Dot: axes must be one integer or a pair, got " + std::to_string(axes_.size()) + " integers");
  for (int a : axes_)
    if (a == 0) throw ValueError("Dot: axis 0 is the batch; the dot product is taken along a sample's axes (1, 2, -1, ...)");
}

Dot::Geometry Dot::geometry(const std::vector<Shape>& s, Shape* out_shape, int64_t* axis1, int64_t* axis2) const {
  const std::string who = "Dot '" + name_ + "'";
  if (s.size() != 2) throw ValueError(who + " takes exactly 2 inputs, got " + std::to_string(s.size()));
  for (const auto& x : s)
    if (x.empty() || x.size() > 2)
      throw ShapeError(who + " supports inputs of shape (batch, n) or (batch, m, n), got " + shapes_text(s));
  int64_t p[2];
  for (int j = 0; j < 2; ++j) {
    const int a = axes_[axes_.size() == 2 ? size_t(j) : 0];
    const int64_t ndim = int64_t(s[size_t(j)].size()) + 1;  // with the batch
    const int64_t full = a < 0 ? a + ndim : a;
    if (full < 1 || full >= ndim)
      throw ShapeError(who + ": axis " + std::to_string(a) + " does not fit input " + std::to_string(j) + " of shape " +
                       shape_to_string(with_batch(-1, s[size_t(j)]), true) + " (inputs " + shapes_text(s) + ")");
    p[j] = full - 1;
  }
  if (s[0][size_t(p[0])] != s[1][size_t(p[1])])
    throw ShapeError(who + ": the dot product needs axes of one size, got " + std::to_string(s[0][size_t(p[0])]) +
                     " and " + std::to_string(s[1][size_t(p[1])]) + " (inputs " + shapes_text(s) + ", axes " +
                     std::to_string(p[0] + 1) + " and " + std::to_string(p[1] + 1) + ")");
  Geometry g;
  const Shape& a = s[0];
  const Shape& b = s[1];
  // a as op(A) (M, K): a vector is one row; a matrix is transposed when its first axis is contracted.
  if (a.size() == 1) g.M = 1, g.K = a[0], g.trans_a = false, g.lda = a[0];
  else if (p[0] == 1) g.M = a[0], g.K = a[1], g.trans_a = false, g.lda = a[1];
  else g.M = a[1], g.K = a[0], g.trans_a = true, g.lda = a[1];
  // b as op(B) (K, N): a vector is one column; a matrix is transposed when its last axis is contracted.
  if (b.size() == 1) g.N = 1, g.trans_b = false, g.ldb = 1;
  else if (p[1] == 0) g.N = b[1], g.trans_b = false, g.ldb = b[1];
  else g.N = b[0], g.trans_b = true, g.ldb = b[1];
  g.a_size = shape_size(a);
  g.b_size = shape_size(b);
  if (out_shape) {
    out_shape->clear();
    for (size_t i = 0; i < a.size(); ++i)
      if (int64_t(i) != p[0]) out_shape->push_back(a[i]);
    for (size_t i = 0; i < b.size(); ++i)
      if (int64_t(i) != p[1]) out_shape->push_back(b[i]);
    if (out_shape->empty()) out_shape->push_back(1);  // Keras keeps (batch, 1) for vectors
  }
  if (axis1) *axis1 = p[0];
  if (axis2) *axis2 = p[1];
  return g;
}

std::optional<LayerPlan> Dot::plan_inputs(const std::vector<Shape>& s) const {
  Shape out;
  geometry(s, &out, nullptr, nullptr);
  return LayerPlan{out};
}

Shape Dot::build_inputs(const std::vector<Shape>& s, Rng&) {
  g_ = geometry(s, &out_shape_, &axis1_, &axis2_);
  in1_ = s[0];
  in2_ = s[1];
  built_ = true;
  return out_shape_;
}

Shape Dot::build(const Shape& input_shape, Rng&) {
  throw ValueError("Dot '" + name_ + "' takes [a, b], got one input " + shape_to_string(with_batch(-1, input_shape), true));
}
const Tensor& Dot::forward(const Tensor&, bool) { throw ValueError("Dot '" + name_ + "' takes [a, b], got one input"); }
const Tensor& Dot::backward(const Tensor&) { throw ValueError("Dot '" + name_ + "' takes [a, b], got one input"); }

const Tensor& Dot::forward_inputs(const std::vector<const Tensor*>& in, bool) {
  const int64_t batch = in[0]->rows();
  if (in.size() != 2 || in[0]->shape() != with_batch(batch, in1_) || in[1]->shape() != with_batch(batch, in2_))
    throw ShapeError("Dot '" + name_ + "' built for " + shapes_text({in1_, in2_}) + ", got other shapes");
  x1_ = in[0];
  x2_ = in[1];
  const Tensor* a = x1_;
  const Tensor* b = x2_;
  if (normalize_) {
    int64_t outer, n, inner;
    layout(in1_, axis1_, batch, &outer, &n, &inner);
    n1_.resize(a->shape());
    inv1_.resize({outer * inner});
    kernels::l2_normalize(a->data(), n1_.data(), inv1_.data(), outer, n, inner, kEpsilon);
    layout(in2_, axis2_, batch, &outer, &n, &inner);
    n2_.resize(b->shape());
    inv2_.resize({outer * inner});
    kernels::l2_normalize(b->data(), n2_.data(), inv2_.data(), outer, n, inner, kEpsilon);
    a = &n1_;
    b = &n2_;
  }
  const kernels::DotGeometry g{batch, g_.M, g_.N, g_.K, g_.trans_a, g_.trans_b, g_.lda, g_.ldb, g_.a_size, g_.b_size};
  Tensor& y = output_buffer(y_);
  shape_buf_ = with_batch(batch, out_shape_);
  y.resize(shape_buf_);
  kernels::batched_dot(g, a->data(), b->data(), y.data());
  return y;
}

void Dot::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& grads) {
  if (!x1_) throw ValueError("Dot '" + name_ + "': backward before forward");
  const int64_t batch = x1_->rows();
  if (dy.shape() != with_batch(batch, out_shape_))
    throw ShapeError("Dot '" + name_ + "': output gradient " + shape_to_string(dy.shape()) +
                     " does not match the output " + shape_to_string(with_batch(batch, out_shape_)));
  for (auto& g : grads) g = nullptr;
  if (!needs_input_grad_) return;
  const kernels::DotGeometry g{batch, g_.M, g_.N, g_.K, g_.trans_a, g_.trans_b, g_.lda, g_.ldb, g_.a_size, g_.b_size};
  dx1_.resize(x1_->shape());
  dx2_.resize(x2_->shape());
  if (!normalize_) {
    kernels::batched_dot_backward(g, x1_->data(), x2_->data(), dy.data(), dx1_.data(), dx2_.data());
  } else {
    d1_.resize(x1_->shape());
    d2_.resize(x2_->shape());
    kernels::batched_dot_backward(g, n1_.data(), n2_.data(), dy.data(), d1_.data(), d2_.data());
    int64_t outer, n, inner;
    layout(in1_, axis1_, batch, &outer, &n, &inner);
    kernels::l2_normalize_backward(n1_.data(), inv1_.data(), d1_.data(), dx1_.data(), outer, n, inner, kEpsilon);
    layout(in2_, axis2_, batch, &outer, &n, &inner);
    kernels::l2_normalize_backward(n2_.data(), inv2_.data(), d2_.data(), dx2_.data(), outer, n, inner, kEpsilon);
  }
  grads[0] = &dx1_;
  grads[1] = &dx2_;
}

nlohmann::json Dot::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["axes"] = axes_.size() == 1 ? nlohmann::json(axes_[0]) : nlohmann::json(axes_);
  c["normalize"] = normalize_;
  return c;
}

}  // namespace myelin::layers
