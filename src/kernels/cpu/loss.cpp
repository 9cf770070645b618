#include "kernels/cpu/loss.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/activation.hpp"

namespace myelin::kernels {

namespace {
// Keras's clipping constant for probabilities.
constexpr float kEps = 1e-7f;

// The weight of loss value i, when each sample has per_sample of them.
inline float weight_of(const float* sample_weight, int64_t i, int64_t per_sample) {
  return sample_weight ? sample_weight[i / per_sample] : 1.f;
}

// Totals are summed in double, in index order, so a loss does not depend on the vector width.
template <class F, class G>
double elementwise_mean(const float* t, const float* p, const float* sw, float* grad, int64_t n, int64_t per,
                        F value, G derivative) {
  const float inv_n = 1.f / float(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = p[i] - t[i], w = weight_of(sw, i, per);
    total += double(w) * value(e);
    if (grad) grad[i] = w * derivative(e) * inv_n;
  }
  return total / double(n);
}
}  // namespace

double regression_loss(RegressionLoss kind, float delta, const float* t, const float* p, const float* sw,
                       float* grad, int64_t n, int64_t per) {
  switch (kind) {
    case RegressionLoss::MeanSquared:
      return elementwise_mean(t, p, sw, grad, n, per, [](float e) { return double(e) * e; },
                              [](float e) { return 2.f * e; });
    case RegressionLoss::MeanAbsolute:
      return elementwise_mean(t, p, sw, grad, n, per, [](float e) { return std::fabs(double(e)); },
                              [](float e) { return float((e > 0) - (e < 0)); });
    case RegressionLoss::Huber: {
      const float d = delta;
      return elementwise_mean(
          t, p, sw, grad, n, per,
          [d](float e) {
            const double a = std::fabs(e);
            return a <= d ? 0.5 * a * a : d * (a - 0.5 * d);
          },
          [d](float e) { return std::fabs(e) <= d ? e : d * float((e > 0) - (e < 0)); });
    }
  }
  return 0;
}

double binary_crossentropy(const float* t, const float* p, const float* sw, float* grad, int64_t n, int64_t per,
                           bool from_logits) {
  const float inv_n = 1.f / float(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float y = t[i], w = weight_of(sw, i, per);
    if (from_logits) {
      const float z = p[i];
      total += w * (std::max(z, 0.f) - z * y + std::log1p(std::exp(-std::fabs(z))));
      if (grad) {
        grad[i] = w * (sigmoid(z) - y) * inv_n;
      }
    } else {
      const float q = std::clamp(p[i], kEps, 1.f - kEps);
      total += -w * (y * std::log(double(q)) + (1 - y) * std::log(1.0 - q));
      if (grad) grad[i] = (p[i] == q) ? w * (q - y) / (q * (1.f - q)) * inv_n : 0.f;
    }
  }
  return total / double(n);
}

double categorical_crossentropy(const float* t, const float* p, const float* sw, float* grad, int64_t rows, int64_t k,
                                int64_t per, bool from_logits) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = p + r * k;
    const float* y = t + r * k;
    float* gr = grad ? grad + r * k : nullptr;
    // A row's loss times its sample's weight: its gradient scales alike.
    const float w = weight_of(sw, r, per), inv_rows = w / float(rows);
    const double before = total;
    if (from_logits) {
      // The softmax goes straight into the gradient row when there is one (null: log-sum-exp only).
      const double lse = softmax_row(z, gr, k);
      float ysum = 0;
      for (int64_t c = 0; c < k; ++c) {
        total += y[c] * (lse - z[c]);
        ysum += y[c];
      }
      if (gr)
        for (int64_t c = 0; c < k; ++c) gr[c] = (gr[c] * ysum - y[c]) * inv_rows;
    } else {
      // Keras renormalises the probabilities, then clips them.
      double s = 0;
      float ysum = 0;
      for (int64_t c = 0; c < k; ++c) s += z[c], ysum += y[c];
      for (int64_t c = 0; c < k; ++c) {
        const float q_raw = float(z[c] / s), q = std::clamp(q_raw, kEps, 1.f - kEps);
        total -= y[c] * std::log(double(q));
        // Where the probability was clipped the loss is flat in it: zero gradient, as Keras.
        if (gr) gr[c] = (float(ysum / s) - (q == q_raw ? y[c] / z[c] : 0.f)) * inv_rows;
      }
    }
    if (sw) total = before + double(w) * (total - before);
  }
  return total / double(rows);
}

double sparse_categorical_crossentropy(const float* labels, const float* p, const float* sw, float* grad,
                                       int64_t rows, int64_t k, int64_t per, bool from_logits) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = p + r * k;
    float* gr = grad ? grad + r * k : nullptr;
    // A row's loss times its sample's weight: its gradient scales alike.
    const float w = weight_of(sw, r, per), inv_rows = w / float(rows);
    const double before = total;
    const int64_t y = static_cast<int64_t>(labels[r]);
    if (from_logits) {
      total += softmax_row(z, gr, k) - z[y];
      if (gr) {
        for (int64_t c = 0; c < k; ++c) gr[c] *= inv_rows;
        gr[y] -= inv_rows;
      }
    } else {
      double s = 0;
      for (int64_t c = 0; c < k; ++c) s += z[c];
      const float q = std::clamp(float(z[y] / s), kEps, 1.f - kEps);
      total -= std::log(double(q));
      if (gr) {
        for (int64_t c = 0; c < k; ++c) gr[c] = float(1.0 / s) * inv_rows;
        gr[y] -= inv_rows / std::max(z[y], kEps);
      }
    }
    if (sw) total = before + double(w) * (total - before);
  }
  return total / double(rows);
}

void class_sample_weights(const float* y_true, int64_t rows, int64_t width, const int* classes,
                          const float* class_weights, int64_t n_classes, const float* sample_weight, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = y_true + r * width;
    const int64_t label = width == 1 ? int64_t(std::lround(row[0])) : std::max_element(row, row + width) - row;
    const int* hit = std::lower_bound(classes, classes + n_classes, label);
    const float cw = hit != classes + n_classes && *hit == label ? class_weights[hit - classes] : 1.f;
    out[r] = cw * (sample_weight ? sample_weight[r] : 1.f);
  }
}

}  // namespace myelin::kernels
