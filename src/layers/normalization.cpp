#include "myelin/layers/normalization.hpp"

#include <nlohmann/json.hpp>

#include "kernels/cpu/normalization.hpp"
#include "myelin/error.hpp"

namespace myelin::layers {

namespace {
// Keras divides by max(sqrt(variance), epsilon) so a constant feature does not blow up.
constexpr float kEpsilon = 1e-7f;
}  // namespace

Normalization::Normalization(std::optional<Shape> input_shape, std::vector<float> mean, std::vector<float> variance) {
  input_shape_ = std::move(input_shape);
  if (mean.size() != variance.size())
    throw ValueError("Normalization: mean has " + std::to_string(mean.size()) + " values but variance has " +
                     std::to_string(variance.size()));
  if (!mean.empty()) {
    features_ = int64_t(mean.size());
    mean_ = Tensor({features_}, mean);
    variance_ = Tensor({features_}, variance);
    update_inverse_std();
  }
}

void Normalization::update_inverse_std() {
  inv_std_.resize(size_t(features_));
  kernels::normalization_inverse_std(variance_.data(), kEpsilon, inv_std_.data(), features_);
}

void Normalization::adapt(const Tensor& data) {
  const int64_t f = data.ndim() >= 2 ? data.dim(-1) : 1;
  if (built_ && f != features_)
    throw ShapeError("Normalization '" + name_ + "': adapt() got " + std::to_string(f) + " features, built for " +
                     std::to_string(features_));
  if (data.size() == 0) throw ValueError("Normalization: adapt() needs at least one row");
  features_ = f;
  mean_ = Tensor({f});
  variance_ = Tensor({f});
  kernels::feature_statistics(data.data(), data.size() / f, f, mean_.data(), variance_.data());
  update_inverse_std();
}

std::optional<LayerPlan> Normalization::plan(const Shape& input_shape) const {
  if (input_shape.empty()) throw ShapeError("Normalization '" + name_ + "' needs a non-scalar input");
  if (features_ != 0 && input_shape.back() != features_)
    throw ShapeError("Normalization '" + name_ + "' has statistics for " + std::to_string(features_) +
                     " features but receives input shape " + shape_to_string(with_batch(-1, input_shape), true));
  LayerPlan p{input_shape};
  p.non_trainable_values = 2 * input_shape.back();  // mean and variance
  return p;
}

Shape Normalization::build(const Shape& input_shape, Rng&) {
  plan(input_shape);
  if (features_ == 0) {
    // Not adapted: the identity until adapt() or loaded weights say otherwise.
    features_ = input_shape.back();
    mean_ = Tensor({features_});
    variance_ = Tensor::full({features_}, 1.f);
    update_inverse_std();
  }
  built_ = true;
  return input_shape;
}

const Tensor& Normalization::forward(const Tensor& x, bool) {
  Tensor& y = output_buffer(y_);
  // Loaded weights may have replaced the statistics since the last batch.
  update_inverse_std();
  y.resize(x.shape());
  kernels::normalization_forward(x.data(), mean_.data(), inv_std_.data(), y.data(), x.size() / features_, features_);
  return y;
}

const Tensor& Normalization::backward(const Tensor& dy) {
  Tensor& dx = input_grad_buffer(dx_);
  dx.resize(dy.shape());
  kernels::channel_scale(dy.data(), inv_std_.data(), dx.data(), dy.size() / features_, features_);
  return dx;
}

std::vector<Param> Normalization::own_params() {
  return {{"mean", &mean_, nullptr, nullptr, false}, {"variance", &variance_, nullptr, nullptr, false}};
}

nlohmann::json Normalization::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["axis"] = -1;
  return c;
}

}  // namespace myelin::layers
