#include "kernels/cpu/loss.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/softmax_lanes.hpp"

namespace myelin::kernels {

namespace {
// Keras's clipping constant for probabilities.
constexpr float kEps = 1e-7f;

// The weight of loss value i, when each sample has per_sample of them.
inline float weight_of(const float* sample_weight, int64_t i, int64_t per_sample) {
  return sample_weight ? sample_weight[i / per_sample] : 1.f;
}

// The softmax of one row of logits into `grad_row` (to be turned into the gradient) and into
// `probabilities` (either may be null); returns the row's log-sum-exp (activation.hpp's softmax_row).
double softmax_into(const float* z, float* grad_row, float* probabilities, int64_t k) {
  const double lse = softmax_row(z, grad_row ? grad_row : probabilities, k);
  if (grad_row && probabilities) std::memcpy(probabilities, grad_row, size_t(k) * sizeof(float));
  return lse;
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

double binary_crossentropy(const float* t, const float* p, const float* sw, float* grad, float* probabilities,
                           int64_t n, int64_t per, bool from_logits) {
  const float inv_n = 1.f / float(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float y = t[i], w = weight_of(sw, i, per);
    if (from_logits) {
      const float z = p[i];
      total += w * (std::max(z, 0.f) - z * y + std::log1p(std::exp(-std::fabs(z))));
      if (grad || probabilities) {
        const float q = sigmoid(z);
        if (grad) grad[i] = w * (q - y) * inv_n;
        if (probabilities) probabilities[i] = q;
      }
    } else {
      const float q = std::clamp(p[i], kEps, 1.f - kEps);
      total += -w * (y * std::log(double(q)) + (1 - y) * std::log(1.0 - q));
      if (grad) grad[i] = (p[i] == q) ? w * (q - y) / (q * (1.f - q)) * inv_n : 0.f;
    }
  }
  return total / double(n);
}

namespace {
// One row's target as the cross-entropies' short path needs it: the weight of each class (zero in
// the lanes past the row's end), their sum, and sum over classes of weight * (max - logit), the
// row's loss before y_sum * log(sum of exp).
struct ShortRowTarget {
  Floats y;
  float y_sum;
  double part;
};

// A cross-entropy from logits whose rows fit one vector (k <= kLanes), as the general loops below
// compute it but for two costs (bench/README.md, "The step's loss"):
// - the softmax stays in a register from the logits' load to the gradient's store, where the
//   general loops store it and reload it to scale it;
// - without sample weights, the log(sum of exp) of rows whose targets sum to 1 are added as the log
//   of the product of up to 64 sums: each sum lies in [1, kLanes] (the row's largest logit
//   contributes exp(0) = 1), so the product stays below 2^256, and one std::log replaces 64, which
//   cost 12 ns each.
// target_of(r, logits in lanes, their max) gives row r's ShortRowTarget.
template <class TargetOf>
double crossentropy_short_logits(TargetOf target_of, const float* z, const float* sw, float* grad,
                                 float* probabilities, int64_t rows, int64_t k, int64_t per) {
  constexpr int64_t kSumsPerLog = 64;
  const float inv_rows = 1.f / float(rows);
  double total = 0, sums_product = 1;
  int64_t sums_in_product = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const Floats zr = load_first(z + r * k, k, -std::numeric_limits<float>::infinity());
    const SoftmaxLanes row = softmax_lanes(zr);
    const ShortRowTarget target = target_of(r, zr, row.max);
    const float w = sw ? weight_of(sw, r, per) : 1.f;
    if (sw) {
      total += double(w) * (target.part + double(target.y_sum) * std::log(row.sum));
    } else if (target.y_sum == 1.f) {
      total += target.part;
      sums_product *= row.sum;
      if (++sums_in_product == kSumsPerLog) {
        total += std::log(std::exchange(sums_product, 1.0));
        sums_in_product = 0;
      }
    } else {
      total += target.part + double(target.y_sum) * std::log(row.sum);
    }
    if (probabilities) store_first(probabilities + r * k, k, row.probabilities);
    if (grad) {
      const float scale = sw ? w / float(rows) : inv_rows;
      store_first(grad + r * k, k, row.probabilities * (target.y_sum * scale) - target.y * scale);
    }
  }
  return (total + std::log(sums_product)) / double(rows);
}
}  // namespace

double categorical_crossentropy(const float* t, const float* p, const float* sw, float* grad, float* probabilities,
                                int64_t rows, int64_t k, int64_t per, bool from_logits) {
  if (from_logits && k <= kLanes) {
    const Ints lane = lane_indices();
    const auto target_of = [&](int64_t r, Floats zr, float max) {
      const Floats y = load_first(t + r * k, k, 0.f);
      // Every term is y * (max - z) >= 0 for weights >= 0: summed in float, no digits cancel.
      const Floats part = lane < int32_t(k) ? y * (max - zr) : Floats{};
      return ShortRowTarget{y, sum_lanes(y), double(sum_lanes(part))};
    };
    return crossentropy_short_logits(target_of, p, sw, grad, probabilities, rows, k, per);
  }
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = p + r * k;
    const float* y = t + r * k;
    float* gr = grad ? grad + r * k : nullptr;
    // A row's loss times its sample's weight: its gradient scales alike.
    const float w = weight_of(sw, r, per), inv_rows = w / float(rows);
    const double before = total;
    if (from_logits) {
      const double lse = softmax_into(z, gr, probabilities ? probabilities + r * k : nullptr, k);
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
                                       float* probabilities, int64_t rows, int64_t k, int64_t per, bool from_logits) {
  if (from_logits && k <= kLanes) {
    const Ints lane = lane_indices();
    const auto target_of = [&](int64_t r, Floats, float max) {
      const int32_t y = static_cast<int32_t>(labels[r]);
      return ShortRowTarget{lane == y ? Floats{} + 1.f : Floats{}, 1.f, double(max) - p[r * k + y]};
    };
    return crossentropy_short_logits(target_of, p, sw, grad, probabilities, rows, k, per);
  }
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = p + r * k;
    float* gr = grad ? grad + r * k : nullptr;
    // A row's loss times its sample's weight: its gradient scales alike.
    const float w = weight_of(sw, r, per), inv_rows = w / float(rows);
    const double before = total;
    const int64_t y = static_cast<int64_t>(labels[r]);
    if (from_logits) {
      total += softmax_into(z, gr, probabilities ? probabilities + r * k : nullptr, k) - z[y];
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
