#include "myelin/layers/batch_normalization.hpp"

#include <omp.h>

#include <cmath>

#include "myelin/error.hpp"
#include "myelin/io/config.hpp"

namespace myelin::layers {

namespace {
// Below this many elements the OpenMP fork/join costs more than the work.
constexpr int64_t kParallelThreshold = 1 << 15;

// Per-channel sums over the rows of a [rows, C] block: f(begin, end, s1, s2) adds rows [begin, end)
// into s1[C] and s2[C]. Rows are cut into one fixed chunk per thread and the chunks' partial sums
// (in double) are added in order, so the result depends on the thread count only through rounding.
template <class F>
void reduce_rows(int64_t rows, int64_t C, std::vector<double>& scratch, std::vector<double>& s1,
                 std::vector<double>& s2, F f) {
  const int nt = rows * C < kParallelThreshold ? 1 : omp_get_max_threads();
  scratch.assign(size_t(nt) * 2 * C, 0.0);  // within capacity after the first batch
  if (nt == 1) {
    f(int64_t(0), rows, scratch.data(), scratch.data() + C);
  } else {
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t begin = rows * t / n, end = rows * (t + 1) / n;
      f(begin, end, scratch.data() + size_t(t) * 2 * C, scratch.data() + size_t(t) * 2 * C + C);
    }
  }
  s1.assign(C, 0.0);
  s2.assign(C, 0.0);
  for (int t = 0; t < nt; ++t)
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += scratch[size_t(t) * 2 * C + c];
      s2[c] += scratch[size_t(t) * 2 * C + C + c];
    }
}

template <class F>
void for_rows(int64_t rows, int64_t C, F f) {
  if (rows * C < kParallelThreshold) {
    for (int64_t r = 0; r < rows; ++r) f(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) f(r);
}
}  // namespace

BatchNormalization::BatchNormalization(BatchNormalizationOptions options) : options_(std::move(options)) {
  if (!(options_.momentum >= 0.f && options_.momentum <= 1.f))
    throw ValueError("BatchNormalization: momentum must be in [0, 1], got " + std::to_string(options_.momentum));
  if (!(options_.epsilon > 0.f))
    throw ValueError("BatchNormalization: epsilon must be positive, got " + std::to_string(options_.epsilon));
  input_shape_ = options_.input_shape;
  name_ = options_.name;
}

std::optional<LayerPlan> BatchNormalization::plan(const Shape& input_shape) const {
  if (input_shape.empty() || shape_size(input_shape) <= 0)
    throw ShapeError("BatchNormalization '" + name_ + "' needs an input with a channel axis, got " +
                     shape_to_string(input_shape));
  // Keras counts the batch axis: for a per-sample rank r the last axis is -1 or r.
  if (options_.axis != -1 && options_.axis != int(input_shape.size()))
    throw ValueError("BatchNormalization '" + name_ + "': only the last axis is supported (axis=-1 or " +
                     std::to_string(input_shape.size()) + " for input " + shape_to_string(input_shape) + "), got " +
                     std::to_string(options_.axis));
  LayerPlan p{input_shape};
  p.trainable_values = input_shape.back() * ((options_.scale ? 1 : 0) + (options_.center ? 1 : 0));
  p.non_trainable_values = 2 * input_shape.back();  // the moving mean and variance
  // gamma and beta even when fixed, and four per-channel vectors of statistics.
  p.buffer_values = input_shape.back() * (4 + (options_.scale ? 0 : 1) + (options_.center ? 0 : 1));
  return p;
}

Shape BatchNormalization::build(const Shape& input_shape, Rng& rng) {
  plan(input_shape);
  channels_ = input_shape.back();
  per_sample_ = shape_size(input_shape);
  const Shape s{channels_};
  gamma_ = Tensor(s);
  beta_ = Tensor(s);
  moving_mean_ = Tensor(s);
  moving_variance_ = Tensor(s);
  initializers::fill(options_.gamma_initializer, gamma_, channels_, channels_, rng);
  initializers::fill(options_.beta_initializer, beta_, channels_, channels_, rng);
  initializers::fill(options_.moving_mean_initializer, moving_mean_, channels_, channels_, rng);
  initializers::fill(options_.moving_variance_initializer, moving_variance_, channels_, channels_, rng);
  if (!options_.scale) gamma_.fill(1.f);
  if (!options_.center) beta_.fill(0.f);
  if (options_.scale) gamma_grad_ = Tensor(s);
  if (options_.center) beta_grad_ = Tensor(s);
  mean_.assign(channels_, 0.f);
  inv_std_.assign(channels_, 0.f);
  scale_.assign(channels_, 0.f);
  shift_.assign(channels_, 0.f);
  built_ = true;
  return input_shape;
}

const Tensor& BatchNormalization::forward(const Tensor& x, bool training) {
  const int64_t C = channels_, rows = x.size() / C;
  // Keras 3's rule: a frozen layer normalises with its moving statistics and leaves them alone.
  last_training_ = training && trainable_;
  if (last_training_) {
    reduce_rows(rows, C, scratch_, sum1_, sum2_, [&](int64_t begin, int64_t end, double* s, double* q) {
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = x.data() + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          s[c] += xr[c];
          q[c] += double(xr[c]) * xr[c];
        }
      }
    });
    const float m = options_.momentum;
    for (int64_t c = 0; c < C; ++c) {
      const double mean = sum1_[c] / rows;
      const double var = std::max(sum2_[c] / rows - mean * mean, 0.0);  // biased, as Keras normalises with
      mean_[c] = float(mean);
      inv_std_[c] = float(1.0 / std::sqrt(var + options_.epsilon));
      moving_mean_[c] = moving_mean_[c] * m + float(mean) * (1.f - m);
      moving_variance_[c] = moving_variance_[c] * m + float(var) * (1.f - m);
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean_[c] = moving_mean_[c];
      inv_std_[c] = 1.f / std::sqrt(moving_variance_[c] + options_.epsilon);
    }
  }
  // y = (x - mean) * scale + beta with scale = gamma / std. (Folding the mean into a shift,
  // x * scale + shift, would cancel catastrophically for a channel of large, nearly constant values.)
  for (int64_t c = 0; c < C; ++c) scale_[c] = gamma_[c] * inv_std_[c];
  y_.resize(x.shape());
  const float* a = scale_.data();
  const float* mu = mean_.data();
  const float* b = beta_.data();
  for_rows(rows, C, [&](int64_t r) {
    const float* xr = x.data() + r * C;
    float* yr = y_.data() + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mu[c]) * a[c] + b[c];
  });
  x_.alias(x, x.shape());
  return y_;
}

const Tensor& BatchNormalization::backward(const Tensor& dy) {
  const int64_t C = channels_, rows = dy.size() / C;
  // sum1 = sum(dy), sum2 = sum(dy * xhat) per channel, xhat = (x - mean) * inv_std.
  const float* mean = mean_.data();
  const float* inv = inv_std_.data();
  // A frozen layer needs neither sum: it has no gradients, and its forward ran in inference mode.
  if (trainable_) {
    reduce_rows(rows, C, scratch_, sum1_, sum2_, [&](int64_t begin, int64_t end, double* s, double* q) {
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = x_.data() + r * C;
        const float* dr = dy.data() + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          s[c] += dr[c];
          q[c] += double(dr[c]) * ((xr[c] - mean[c]) * inv[c]);
        }
      }
    });
    if (options_.scale)
      for (int64_t c = 0; c < C; ++c) gamma_grad_[c] = float(sum2_[c]);
    if (options_.center)
      for (int64_t c = 0; c < C; ++c) beta_grad_[c] = float(sum1_[c]);
  }
  dx_.resize(dy.shape());
  if (!last_training_) {
    // The statistics were constants: dx = dy * gamma / std.
    const float* a = scale_.data();
    for_rows(rows, C, [&](int64_t r) {
      const float* dr = dy.data() + r * C;
      float* out = dx_.data() + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) out[c] = dr[c] * a[c];
    });
    return dx_;
  }
  // Through the batch statistics: dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)).
  // scale_ holds gamma * inv_std; shift_ takes mean(dy * xhat).
  std::vector<float>& k = shift_;  // scratch
  for (int64_t c = 0; c < C; ++c) k[c] = float(sum2_[c] / rows);
  std::vector<double>& mdy = sum1_;
  for (int64_t c = 0; c < C; ++c) mdy[c] = sum1_[c] / rows;
  const float* a = scale_.data();
  const float* kk = k.data();
  const double* md = mdy.data();
  for_rows(rows, C, [&](int64_t r) {
    const float* xr = x_.data() + r * C;
    const float* dr = dy.data() + r * C;
    float* out = dx_.data() + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = (xr[c] - mean[c]) * inv[c];
      out[c] = a[c] * (dr[c] - float(md[c]) - xhat * kk[c]);
    }
  });
  return dx_;
}

std::vector<Param> BatchNormalization::own_params() {
  std::vector<Param> p;
  if (options_.scale)
    p.push_back({"gamma", &gamma_, &gamma_grad_, options_.gamma_regularizer ? &*options_.gamma_regularizer : nullptr});
  if (options_.center)
    p.push_back({"beta", &beta_, &beta_grad_, options_.beta_regularizer ? &*options_.beta_regularizer : nullptr});
  p.push_back({"moving_mean", &moving_mean_, nullptr, nullptr, false});
  p.push_back({"moving_variance", &moving_variance_, nullptr, nullptr, false});
  return p;
}

nlohmann::json BatchNormalization::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["axis"] = options_.axis;
  c["momentum"] = options_.momentum;
  c["epsilon"] = options_.epsilon;
  c["center"] = options_.center;
  c["scale"] = options_.scale;
  c["beta_initializer"] = io::initializer_to_json(options_.beta_initializer);
  c["gamma_initializer"] = io::initializer_to_json(options_.gamma_initializer);
  c["moving_mean_initializer"] = io::initializer_to_json(options_.moving_mean_initializer);
  c["moving_variance_initializer"] = io::initializer_to_json(options_.moving_variance_initializer);
  c["beta_regularizer"] = io::regularizer_to_json(options_.beta_regularizer);
  c["gamma_regularizer"] = io::regularizer_to_json(options_.gamma_regularizer);
  c["beta_constraint"] = nullptr;
  c["gamma_constraint"] = nullptr;
  return c;
}

}  // namespace myelin::layers
