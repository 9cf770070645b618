#include "myelin/layers/pooling1d.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/conv.hpp"
#include "kernels/cpu/pool.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

namespace {
// "MaxPooling1D 'pool'", or the class alone before the model names the layer.
std::string label(const std::string& cls, const std::string& name) {
  return name.empty() ? cls : cls + " '" + name + "'";
}

void check_sequence_shape(const std::string& cls, const std::string& name, const Shape& s) {
  if (s.size() != 2 || shape_size(s) <= 0)
    throw ShapeError(label(cls, name) + " needs a per-sample input of shape (steps, channels), got " +
                     shape_to_string(s));
}
}  // namespace

Pooling1D::Pooling1D(const char* cls, int64_t pool_size, std::optional<int64_t> strides, std::string padding,
                     std::optional<Shape> input_shape)
    : pool_size_(pool_size), strides_(strides.value_or(pool_size)), padding_(std::move(padding)) {
  const std::string who(cls);
  if (pool_size_ <= 0) throw ValueError(who + ": pool_size must be positive, got " + std::to_string(pool_size_));
  if (strides_ <= 0) throw ValueError(who + ": strides must be positive, got " + std::to_string(strides_));
  if (padding_ != "valid" && padding_ != "same")
    throw ValueError(who + ": padding must be 'valid' or 'same', got '" + padding_ + "'");
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> Pooling1D::plan(const Shape& input_shape) const {
  check_sequence_shape(class_name(), name_, input_shape);
  const auto a = kernels::conv_axis(input_shape[0], pool_size_, strides_, 1, padding_ == "same");
  if (a.out <= 0)
    throw ShapeError(label(class_name(), name_) + ": pool_size " + std::to_string(pool_size_) +
                     " does not fit input " + shape_to_string(input_shape) + " with padding 'valid'");
  return LayerPlan{{a.out, input_shape[1]}};
}

Shape Pooling1D::build(const Shape& input_shape, Rng&) {
  plan(input_shape);
  steps_ = input_shape[0];
  channels_ = input_shape[1];
  const auto a = kernels::conv_axis(steps_, pool_size_, strides_, 1, padding_ == "same");
  out_steps_ = a.out;
  pad_begin_ = a.pad_begin;
  built_ = true;
  return {out_steps_, channels_};
}

nlohmann::json Pooling1D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["pool_size"] = nlohmann::json::array({pool_size_});  // Keras 3 writes 1-tuples
  c["strides"] = nlohmann::json::array({strides_});
  c["padding"] = padding_;
  c["data_format"] = "channels_last";
  return c;
}

// The sequence as an image one row high.
#define MYELIN_POOL1D_GEOMETRY(batch) \
  kernels::Pool2DGeometry { batch, 1, steps_, channels_, 1, out_steps_, 1, pool_size_, 1, strides_, 0, pad_begin_ }

MaxPooling1D::MaxPooling1D(int64_t pool_size, std::optional<int64_t> strides, std::string padding,
                           std::optional<Shape> input_shape)
    : Pooling1D("MaxPooling1D", pool_size, strides, std::move(padding), std::move(input_shape)) {}

const Tensor& MaxPooling1D::forward(const Tensor& x, bool training) {
  Tensor& y = output_buffer(y_);
  shape_buf_ = {x.rows(), out_steps_, channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  // Inference needs no winners' positions: skipping them saves a write as large as the output.
  const bool keep = training || backward_follows_;
  if (keep) argmax_.resize(y.size());  // within capacity after the first batch: no allocation
  kernels::max_pool_forward(MYELIN_POOL1D_GEOMETRY(x.rows()), x.data(), y.data(), keep ? argmax_.data() : nullptr);
  argmax_ready_ = keep;
  return y;
}

const Tensor& MaxPooling1D::backward(const Tensor& dy) {
  if (!argmax_ready_)
    throw Error(label(class_name(), name_) + ": backward needs a forward pass that keeps the winners' positions (a model's inference pass does not)");
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::max_pool_backward(MYELIN_POOL1D_GEOMETRY(dy.rows()), dy.data(), argmax_.data(), dx.data(),
                             mask_nonpositive_input_ ? y_.data() : nullptr);
  return dx;
}

AveragePooling1D::AveragePooling1D(int64_t pool_size, std::optional<int64_t> strides, std::string padding,
                                   std::optional<Shape> input_shape)
    : Pooling1D("AveragePooling1D", pool_size, strides, std::move(padding), std::move(input_shape)) {}

const Tensor& AveragePooling1D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  shape_buf_ = {x.rows(), out_steps_, channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  kernels::avg_pool_forward(MYELIN_POOL1D_GEOMETRY(x.rows()), x.data(), y.data());
  return y;
}

const Tensor& AveragePooling1D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::avg_pool_backward(MYELIN_POOL1D_GEOMETRY(dy.rows()), dy.data(), dx.data());
  return dx;
}

#undef MYELIN_POOL1D_GEOMETRY

GlobalPooling1D::GlobalPooling1D(bool keepdims, std::optional<Shape> input_shape) : keepdims_(keepdims) {
  input_shape_ = std::move(input_shape);
}

std::optional<LayerPlan> GlobalPooling1D::plan(const Shape& input_shape) const {
  check_sequence_shape(class_name(), name_, input_shape);
  return LayerPlan{keepdims_ ? Shape{1, input_shape[1]} : Shape{input_shape[1]}};
}

Shape GlobalPooling1D::build(const Shape& input_shape, Rng&) {
  const Shape out = plan(input_shape)->output_shape;
  steps_ = input_shape[0];
  channels_ = input_shape[1];
  built_ = true;
  return out;
}

nlohmann::json GlobalPooling1D::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["data_format"] = "channels_last";
  c["keepdims"] = keepdims_;
  return c;
}

// The global kernels reduce over all positions of a sample: the steps here, as the pixels there.
const Tensor& GlobalAveragePooling1D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  if (keepdims_) shape_buf_ = {x.rows(), 1, channels_};  // assignments reuse the vector's storage
  else shape_buf_ = {x.rows(), channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  const Tensor* mask = input_mask();
  if (mask) {
    if (mask->shape() != Shape{x.rows(), steps_})
      throw ShapeError("GlobalAveragePooling1D '" + name_ + "': mask " + shape_to_string(mask->shape()) +
                       " does not fit input " + shape_to_string(x.shape()));
    mask_.alias(*mask, mask->shape());
    masked_ = true;
    kernels::global_avg_pool_masked_forward(x.rows(), steps_, channels_, x.data(), mask->data(), y.data());
  } else {
    masked_ = false;
    kernels::global_avg_pool_forward(x.rows(), steps_, channels_, x.data(), y.data());
  }
  return y;
}

const Tensor& GlobalAveragePooling1D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  if (masked_)
    kernels::global_avg_pool_masked_backward(dy.rows(), steps_, channels_, dy.data(), mask_.data(), dx.data());
  else
    kernels::global_avg_pool_backward(dy.rows(), steps_, channels_, dy.data(), dx.data());
  return dx;
}

const Tensor& GlobalMaxPooling1D::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  if (keepdims_) shape_buf_ = {x.rows(), 1, channels_};
  else shape_buf_ = {x.rows(), channels_};
  in_shape_buf_ = x.shape();
  y.resize(shape_buf_);
  argmax_.resize(y.size());
  kernels::global_max_pool_forward(x.rows(), steps_, channels_, x.data(), y.data(), argmax_.data());
  return y;
}

const Tensor& GlobalMaxPooling1D::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(in_shape_buf_);
  kernels::global_max_pool_backward(dy.rows(), steps_, channels_, dy.data(), argmax_.data(), dx.data());
  return dx;
}

}  // namespace myelin::layers
