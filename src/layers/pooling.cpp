#include "myelin/layers/pooling.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/pool.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

namespace {
std::string size2_text(Size2 s) { return "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")"; }

void check_image_shape(const std::string& cls, const std::string& name, const Shape& s) {
  if (s.size() != 3 || shape_size(s) <= 0)
    throw ShapeError(cls + " '" + name + "' needs a per-sample input of shape (height, width, channels), got " +
                     shape_to_string(s));
}
}  // namespace

Size2 size2_from_list(std::initializer_list<int64_t> values) {
  if (values.size() == 1) return Size2(*values.begin());
  if (values.size() == 2) return Size2(*values.begin(), *(values.begin() + 1));
  throw ValueError("a 2-D size needs one or two numbers, got " + std::to_string(values.size()));
}

Pooling2D::Pooling2D(Size2 pool_size, std::optional<Size2> strides, std::string padding, std::optional<Shape> input_shape)
    : pool_size_(pool_size), strides_(strides.value_or(pool_size)), padding_(std::move(padding)) {
  if (pool_size_.h <= 0 || pool_size_.w <= 0)
    throw ValueError("pooling: pool_size must be positive, got " + size2_text(pool_size_));
  if (strides_.h <= 0 || strides_.w <= 0) throw ValueError("pooling: strides must be positive, got " + size2_text(strides_));
  if (padding_ != "valid" && padding_ != "same")
    throw ValueError("pooling: padding must be 'valid' or 'same', got '" + padding_ + "'");
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Pooling2D::plan(const Shape& input_shape) const {
  check_image_shape(class_name(), name_, input_shape);
  const bool same = padding_ == "same";
  const auto ah = kernels::conv_axis(input_shape[0], pool_size_.h, strides_.h, 1, same);
  const auto aw = kernels::conv_axis(input_shape[1], pool_size_.w, strides_.w, 1, same);
  if (ah.out <= 0 || aw.out <= 0)
    throw ShapeError(class_name() + " '" + name_ + "': pool_size " + size2_text(pool_size_) + " does not fit input " +
                     shape_to_string(input_shape) + " with padding 'valid'");
  return LayerPlan{{ah.out, aw.out, input_shape[2]}};
}

Shape Pooling2D::build(const Shape& input_shape, Rng&) {
  plan(input_shape);
  in_h_ = input_shape[0];
  in_w_ = input_shape[1];
  channels_ = input_shape[2];
  const bool same = padding_ == "same";
  const auto ah = kernels::conv_axis(in_h_, pool_size_.h, strides_.h, 1, same);
  const auto aw = kernels::conv_axis(in_w_, pool_size_.w, strides_.w, 1, same);
  out_h_ = ah.out;
  out_w_ = aw.out;
  pad_top_ = ah.pad_begin;
  pad_left_ = aw.pad_begin;
  built_ = true;
  return {out_h_, out_w_, channels_};
}

nlohmann::json Pooling2D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["pool_size"] = {pool_size_.h, pool_size_.w};
  c["strides"] = {strides_.h, strides_.w};
  c["padding"] = padding_;
  c["data_format"] = "channels_last";
  return c;
}

#define MYELIN_POOL_GEOMETRY(batch) \
  kernels::Pool2DGeometry { batch, in_h_, in_w_, channels_, out_h_, out_w_, pool_size_.h, pool_size_.w, strides_.h, strides_.w, pad_top_, pad_left_ }

MaxPooling2D::MaxPooling2D(Size2 pool_size, std::optional<Size2> strides, std::string padding,
                           std::optional<Shape> input_shape)
    : Pooling2D(pool_size, strides, std::move(padding), std::move(input_shape)) {}

const Tensor& MaxPooling2D::forward(const Tensor& x, bool training) {
  if (takes_fused_input_) return x;  // the convolution before pooled already (Layer::can_fuse_next)
  Tensor& y = output_buffer(y_);
  shape_buf_ = {x.rows(), out_h_, out_w_, channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  // Inference needs no winners' positions: skipping them saves a write as large as the output.
  const bool keep = training || backward_follows_;
  if (keep) argmax_.resize(y.size());  // within capacity after the first batch: no allocation
  kernels::max_pool_forward(MYELIN_POOL_GEOMETRY(x.rows()), x.data(), y.data(), keep ? argmax_.data() : nullptr);
  argmax_ready_ = keep;
  return y;
}

const Tensor& MaxPooling2D::backward(const Tensor& dy) {
  if (takes_fused_input_) return dy;
  Tensor& dx = input_grad_buffer(dx_);
  if (!argmax_ready_) throw Error("layer '" + name() + "': backward needs a forward pass that keeps the winners' positions (a model's inference pass does not)");
  dx.resize(in_shape_buf_);
  kernels::max_pool_backward(MYELIN_POOL_GEOMETRY(dy.rows()), dy.data(), argmax_.data(), dx.data(),
                             mask_nonpositive_input_ ? y_.data() : nullptr);
  return dx;
}

AveragePooling2D::AveragePooling2D(Size2 pool_size, std::optional<Size2> strides, std::string padding,
                                   std::optional<Shape> input_shape)
    : Pooling2D(pool_size, strides, std::move(padding), std::move(input_shape)) {}

const Tensor& AveragePooling2D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  shape_buf_ = {x.rows(), out_h_, out_w_, channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  kernels::avg_pool_forward(MYELIN_POOL_GEOMETRY(x.rows()), x.data(), y.data());
  return y;
}

const Tensor& AveragePooling2D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::avg_pool_backward(MYELIN_POOL_GEOMETRY(dy.rows()), dy.data(), dx.data());
  return dx;
}

#undef MYELIN_POOL_GEOMETRY

GlobalPooling2D::GlobalPooling2D(bool keepdims, std::optional<Shape> input_shape) : keepdims_(keepdims) {
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> GlobalPooling2D::plan(const Shape& input_shape) const {
  check_image_shape(class_name(), name_, input_shape);
  return LayerPlan{keepdims_ ? Shape{1, 1, input_shape[2]} : Shape{input_shape[2]}};
}

Shape GlobalPooling2D::build(const Shape& input_shape, Rng&) {
  const Shape out = plan(input_shape)->output_shape;
  hw_ = input_shape[0] * input_shape[1];
  channels_ = input_shape[2];
  built_ = true;
  return out;
}

nlohmann::json GlobalPooling2D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["data_format"] = "channels_last";
  c["keepdims"] = keepdims_;
  return c;
}

const Tensor& GlobalAveragePooling2D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  if (keepdims_) shape_buf_ = {x.rows(), 1, 1, channels_};  // assignments reuse the vector's storage
  else shape_buf_ = {x.rows(), channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  kernels::global_avg_pool_forward(x.rows(), hw_, channels_, x.data(), y.data());
  return y;
}

const Tensor& GlobalAveragePooling2D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::global_avg_pool_backward(dy.rows(), hw_, channels_, dy.data(), dx.data());
  return dx;
}

const Tensor& GlobalMaxPooling2D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  if (keepdims_) shape_buf_ = {x.rows(), 1, 1, channels_};  // assignments reuse the vector's storage
  else shape_buf_ = {x.rows(), channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  argmax_.resize(y.size());
  kernels::global_max_pool_forward(x.rows(), hw_, channels_, x.data(), y.data(), argmax_.data());
  return y;
}

const Tensor& GlobalMaxPooling2D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::global_max_pool_backward(dy.rows(), hw_, channels_, dy.data(), argmax_.data(), dx.data());
  return dx;
}

}  // namespace myelin::layers
