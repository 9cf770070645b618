#include "myelin/layers/embedding.hpp"

#include <sstream>

#include "kernels/cpu/checks.hpp"
#include "kernels/cpu/embedding.hpp"
#include "kernels/cpu/masking.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"

namespace myelin::layers {

Embedding::Embedding(int64_t input_dim, int64_t output_dim, EmbeddingOptions options)
    : input_dim_(input_dim), output_dim_(output_dim), options_(std::move(options)) {
  if (input_dim <= 0 || output_dim <= 0)
    throw ValueError("Embedding: input_dim and output_dim must be positive, got input_dim=" +
                     std::to_string(input_dim) + ", output_dim=" + std::to_string(output_dim));
  if (input_dim > kMaxInputDim)
    throw ValueError("Embedding: input_dim " + std::to_string(input_dim) +
                     " is too large: ids travel as float32, exact only up to 2^24 = " + std::to_string(kMaxInputDim));
  input_shape_ = options_.input_shape;
  name_ = options_.name;
}

std::optional<LayerPlan> Embedding::plan(const Shape& input_shape) const {
  if (input_shape.empty() || shape_size(input_shape) <= 0)
    throw ShapeError("Embedding '" + name_ + "' needs ids of shape (batch, steps, ...), got per-sample shape " +
                     shape_to_string(input_shape));
  if (options_.mask_zero && input_shape.size() != 1)
    throw ShapeError("Embedding '" + name_ + "' with mask_zero needs ids of shape (batch, steps), one mask value per "
                     "step, got per-sample shape " + shape_to_string(input_shape));
  LayerPlan p{input_shape};
  p.output_shape.push_back(output_dim_);
  p.trainable_values = input_dim_ * output_dim_;
  return p;
}

Shape Embedding::build(const Shape& input_shape, Rng& rng) {
  LayerPlan p = *plan(input_shape);
  embeddings_ = Tensor({input_dim_, output_dim_});
  embeddings_grad_ = Tensor({input_dim_, output_dim_});
  initializers::fill(options_.embeddings_initializer, embeddings_, input_dim_, output_dim_, rng);
  built_ = true;
  return p.output_shape;
}

void Embedding::check_ids(const Tensor& x, const char* row_word) const {
  const int64_t index = kernels::first_non_class_index(x.data(), x.size(), input_dim_);
  if (index < 0) return;
  const int64_t per_sample = x.row_size();
  const int64_t row = index / per_sample, at = index % per_sample;
  // The position inside the sample, one index per axis: [5] for (batch, steps) ids.
  std::string position;
  for (int64_t a = x.ndim() - 1, rest = at; a >= 1; --a) {
    const int64_t d = x.shape()[size_t(a)];
    position = std::to_string(rest % d) + (position.empty() ? "" : ", ") + position;
    rest /= d;
  }
  std::ostringstream id;
  id.precision(9);  // enough for any float: 2.5 and 1e+10 read back as given
  id << x[index];
  throw IndexError("Embedding '" + name_ + "': id " + id.str() + " at " + row_word + " " + std::to_string(row) +
                   ", position [" + position + "] is out of range: ids must be whole numbers in [0, " +
                   std::to_string(input_dim_) + ") (input_dim=" + std::to_string(input_dim_) + ")");
}

void Embedding::check_model_input(const Tensor& x) const { check_ids(x, "row"); }

const Tensor& Embedding::forward(const Tensor& x, bool /*training*/) {
  // Every id is checked before any row is read: a bad one names itself rather than reading
  // outside the table.
  check_ids(x, "batch row");
  Tensor& y = output_buffer(y_);
  shape_buf_ = x.shape();  // assigning into a kept vector allocates nothing after the first batch
  shape_buf_.push_back(output_dim_);
  y.resize(shape_buf_);
  kernels::embedding_forward(x.data(), x.size(), embeddings_.data(), output_dim_, y.data());
  if (options_.mask_zero) {
    mask_.resize(x.shape());
    kernels::mask_nonzero_ids(x.data(), x.size(), mask_.data());
  }
  x_.alias(x, x.shape());
  return y;
}

const Tensor& Embedding::backward(const Tensor& dy) {
  if (trainable_)
    kernels::embedding_backward(x_.data(), x_.size(), dy.data(), output_dim_, input_dim_, embeddings_grad_.data(),
                                order_);
  if (!needs_input_grad_) return no_grad_;
  // Ids are not differentiable: nothing flows to the layers below.
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(x_.shape());
  dx.fill(0.f);
  return dx;
}

std::vector<Param> Embedding::own_params() {
  return {{"embeddings", &embeddings_, &embeddings_grad_,
           options_.embeddings_regularizer ? &*options_.embeddings_regularizer : nullptr}};
}

nlohmann::json Embedding::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["input_dim"] = input_dim_;
  c["output_dim"] = output_dim_;
  c["embeddings_initializer"] = io::initializer_to_json(options_.embeddings_initializer);
  c["embeddings_regularizer"] = io::regularizer_to_json(options_.embeddings_regularizer);
  c["activity_regularizer"] = nullptr;
  c["embeddings_constraint"] = nullptr;
  c["mask_zero"] = options_.mask_zero;
  return c;
}

}  // namespace myelin::layers
