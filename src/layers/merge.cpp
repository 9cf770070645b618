#include "myelin/layers/merge.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/merge.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/conv2d.hpp"

namespace myelin::layers {

namespace {
std::string label(const Layer& l) { return "layer '" + l.name() + "' (" + l.class_name() + ")"; }

// "(None, 8) and (None, 9)", as Keras prints the shapes of a failed merge.
std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (i) s += i + 1 == shapes.size() ? " and " : ", ";
    s += shape_to_string(with_batch(-1, shapes[i]), true);
  }
  return s;
}

kernels::MergeOp op_of(const std::string& class_name) {
  if (class_name == "Add") return kernels::MergeOp::Add;
  if (class_name == "Subtract") return kernels::MergeOp::Subtract;
  if (class_name == "Multiply") return kernels::MergeOp::Multiply;
  if (class_name == "Average") return kernels::MergeOp::Average;
  if (class_name == "Maximum") return kernels::MergeOp::Maximum;
  return kernels::MergeOp::Minimum;
}
}  // namespace

ElementwiseMerge::ElementwiseMerge(std::string name) { name_ = std::move(name); }
ElementwiseMerge::~ElementwiseMerge() = default;
ElementwiseMerge::ElementwiseMerge(ElementwiseMerge&&) noexcept = default;

Shape ElementwiseMerge::build(const Shape&, Rng&) {
  throw ValueError(label(*this) + " takes a list of at least 2 inputs");
}
const Tensor& ElementwiseMerge::forward(const Tensor&, bool) {
  throw ValueError(label(*this) + " takes a list of at least 2 inputs");
}
const Tensor& ElementwiseMerge::backward(const Tensor&) {
  throw ValueError(label(*this) + " takes a list of at least 2 inputs");
}

Shape ElementwiseMerge::output_shape_for(const std::vector<Shape>& shapes) const {
  if (shapes.size() < 2)
    throw ValueError(label(*this) + " takes a list of at least 2 inputs, got " + std::to_string(shapes.size()));
  // Keras's rule: shapes aligned at their last axes; on each axis equal sizes, or one of them 1.
  Shape out = shapes[0];
  for (const auto& s : shapes) {
    if (s.size() > out.size()) out.insert(out.begin(), s.size() - out.size(), 1);
    for (size_t i = 1; i <= s.size(); ++i) {
      int64_t& o = out[out.size() - i];
      const int64_t d = s[s.size() - i];
      if (o == 1)
        o = d;
      else if (d != 1 && d != o)
        throw ShapeError(label(*this) + " got inputs of different shapes: " + shapes_text(shapes) +
                         ", which do not broadcast (on each axis the sizes must agree or be 1)");
    }
  }
  return out;
}

std::optional<LayerPlan> ElementwiseMerge::plan_inputs(const std::vector<Shape>& shapes) const {
  return LayerPlan{output_shape_for(shapes)};
}

Shape ElementwiseMerge::build_inputs(const std::vector<Shape>& shapes, Rng&) {
  out_shape_ = output_shape_for(shapes);
  plan_.reset();
  for (const auto& s : shapes)
    if (s != out_shape_) {
      plan_ = std::make_unique<kernels::BroadcastPlan>(kernels::plan_broadcast(shapes, out_shape_));
      break;
    }
  x_.assign(shapes.size(), Tensor());
  dx_.assign(shapes.size(), Tensor());
  built_ = true;
  return out_shape_;
}

const Tensor& ElementwiseMerge::forward_inputs(const std::vector<const Tensor*>& inputs, bool) {
  Tensor& y = output_buffer(y_);
  xs_.resize(inputs.size());  // kept members: a step allocates nothing once the sizes are known
  for (size_t j = 0; j < inputs.size(); ++j) {
    xs_[j] = inputs[j]->data();
    x_[j].alias(*inputs[j], inputs[j]->shape());
  }
  wrote_bf16_ = false;
  if (!plan_) {  // equal shapes: the residual block's case, kept to one flat loop
    y.resize(inputs[0]->shape());
    wrote_bf16_ = bf16_write_ && fuses_next_ && inputs.size() == 2 && bf16_handover();
    if (wrote_bf16_)
      kernels::add(xs_[0], xs_[1], reinterpret_cast<uint16_t*>(y.data()), y.size(), true);
    else
      kernels::merge_forward(op_of(class_name()), xs_, y.data(), y.size(), fuses_next_);
    return y;
  }
  const int64_t batch = inputs[0]->dim(0);
  shape_buf_.assign(1, batch);
  shape_buf_.insert(shape_buf_.end(), out_shape_.begin(), out_shape_.end());
  y.resize(shape_buf_);
  kernels::merge_forward_broadcast(op_of(class_name()), *plan_, xs_, y.data(), batch);
  return y;
}

bool ElementwiseMerge::can_fuse_next(const Layer& next) const {
  const auto* act = dynamic_cast<const Activation*>(&next);
  return class_name() == "Add" && !plan_ && act && act->activation() == ActivationKind::ReLU;
}

void ElementwiseMerge::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) {
  if (fuses_next_) {  // an Add with the relu after it (can_fuse_next): one masked gradient for all
    for (auto& g : input_grads) g = needs_input_grad_ ? &dx_[0] : nullptr;
    if (!needs_input_grad_) return;
    dx_[0].resize(dy.shape());
    if (wrote_bf16_)
      kernels::relu_backward(dy.data(), reinterpret_cast<const uint16_t*>(y_.data()), dx_[0].data(), dy.size());
    else
      kernels::activation_backward(ActivationKind::ReLU, dy.data(), y_.data(), nullptr, dx_[0].data(), 1, dy.size());
    return;
  }
  xs_.resize(x_.size());
  dxs_.assign(x_.size(), nullptr);
  for (size_t j = 0; j < x_.size(); ++j) {
    xs_[j] = x_[j].data();
    if (!needs_input_grad_) continue;
    dx_[j].resize(x_[j].shape());
    dxs_[j] = dx_[j].data();
  }
  const kernels::MergeOp op = op_of(class_name());
  if (!needs_input_grad_) {
    // No gradient wanted: nothing to compute.
  } else if (!plan_) {
    kernels::merge_backward(op, xs_, dy.data(), dxs_, dy.size());
  } else {
    const bool needs_scratch = op == kernels::MergeOp::Multiply || op == kernels::MergeOp::Maximum ||
                               op == kernels::MergeOp::Minimum;
    if (needs_scratch) scratch_.resize(dy.shape());
    kernels::merge_backward_broadcast(op, *plan_, xs_, dy.data(), dxs_, needs_scratch ? scratch_.data() : nullptr,
                                      dy.dim(0));
  }
  for (size_t j = 0; j < x_.size(); ++j) input_grads[j] = needs_input_grad_ ? &dx_[j] : nullptr;
}

Shape Subtract::output_shape_for(const std::vector<Shape>& shapes) const {
  if (shapes.size() != 2)
    throw ValueError(label(*this) + " takes exactly 2 inputs, got " + std::to_string(shapes.size()));
  return ElementwiseMerge::output_shape_for(shapes);
}

Concatenate::Concatenate(int axis, std::string name) : axis_(axis) {
  if (axis == 0) throw ValueError("Concatenate: axis 0 is the batch axis; give an axis of the samples (1.. or -1..)");
  name_ = std::move(name);
}

Shape Concatenate::build(const Shape&, Rng&) {
  throw ValueError(label(*this) + " takes a list of at least 2 inputs");
}
const Tensor& Concatenate::forward(const Tensor&, bool) {
  throw ValueError(label(*this) + " takes a list of at least 2 inputs");
}
const Tensor& Concatenate::backward(const Tensor&) {
  throw ValueError(label(*this) + " takes a list of at least 2 inputs");
}

Shape Concatenate::build_inputs(const std::vector<Shape>& shapes, Rng&) {
  if (shapes.size() < 2)
    throw ValueError(label(*this) + " takes a list of at least 2 inputs, got " + std::to_string(shapes.size()));
  const int rank = int(shapes[0].size());
  // Keras counts the batch as axis 0: axis 1 is a sample's first axis, -1 its last.
  const int a = axis_ < 0 ? rank + axis_ : axis_ - 1;
  if (a < 0 || a >= rank)
    throw ShapeError(label(*this) + ": axis " + std::to_string(axis_) + " is outside inputs of shape " +
                     shape_to_string(with_batch(-1, shapes[0]), true));
  sample_axis_ = size_t(a);
  Shape out = shapes[0];
  out[sample_axis_] = 0;
  widths_.clear();
  for (const auto& s : shapes) {
    bool fits = int(s.size()) == rank;
    for (size_t d = 0; fits && d < s.size(); ++d) fits = d == sample_axis_ || s[d] == shapes[0][d];
    if (!fits)
      throw ShapeError(label(*this) + " got inputs whose shapes differ outside axis " + std::to_string(axis_) + ": " +
                       shapes_text(shapes));
    widths_.push_back(s[sample_axis_]);
    out[sample_axis_] += s[sample_axis_];
  }
  inner_ = 1;
  for (size_t d = sample_axis_ + 1; d < out.size(); ++d) inner_ *= out[d];
  out_shape_ = out;
  dx_.assign(shapes.size(), Tensor());
  built_ = true;
  return out;
}

const Tensor& Concatenate::forward_inputs(const std::vector<const Tensor*>& inputs, bool) {
  Tensor& y = output_buffer(y_);
  const int64_t batch = inputs[0]->dim(0);
  shape_buf_.assign(1, batch);
  shape_buf_.insert(shape_buf_.end(), out_shape_.begin(), out_shape_.end());
  y.resize(shape_buf_);
  xs_.resize(inputs.size());
  for (size_t j = 0; j < inputs.size(); ++j) xs_[j] = inputs[j]->data();
  int64_t outer = batch;
  for (size_t d = 0; d < sample_axis_; ++d) outer *= out_shape_[d];
  kernels::concat_forward(xs_, widths_, y.data(), outer, inner_);
  return y;
}

void Concatenate::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) {
  if (!needs_input_grad_) {
    for (auto& g : input_grads) g = nullptr;
    return;
  }
  const int64_t batch = dy.dim(0);
  int64_t outer = batch;
  for (size_t d = 0; d < sample_axis_; ++d) outer *= out_shape_[d];
  dxs_.resize(dx_.size());
  for (size_t j = 0; j < dx_.size(); ++j) {
    shape_buf_.assign(1, batch);
    shape_buf_.insert(shape_buf_.end(), out_shape_.begin(), out_shape_.end());
    shape_buf_[sample_axis_ + 1] = widths_[j];
    dx_[j].resize(shape_buf_);
    dxs_[j] = dx_[j].data();
  }
  kernels::concat_backward(dy.data(), widths_, dxs_, outer, inner_);
  for (size_t j = 0; j < dx_.size(); ++j) input_grads[j] = &dx_[j];
}

std::optional<LayerPlan> Concatenate::plan_inputs(const std::vector<Shape>& shapes) const {
  Concatenate probe(axis_, name_);  // build_inputs on a copy: it only checks shapes and keeps sizes
  Rng unused(0);
  return LayerPlan{probe.build_inputs(shapes, unused)};
}

nlohmann::json Concatenate::get_config() const {
  auto c = Layer::get_config();
  c["axis"] = axis_;
  return c;
}

}  // namespace myelin::layers
