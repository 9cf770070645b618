#include "kernels/cpu/metric.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace myelin::kernels {

namespace {
inline double weight_of(const float* sample_weight, int64_t i, int64_t per_sample) {
  return sample_weight ? double(sample_weight[i / per_sample]) : 1.0;
}

int64_t argmax(const float* x, int64_t k) {
  int64_t best = 0;
  for (int64_t c = 1; c < k; ++c)
    if (x[c] > x[best]) best = c;
  return best;
}
}  // namespace

void count_binary(const float* t, const float* p, const float* sw, int64_t n, int64_t per, float threshold,
                  BinaryCounts& counts) {
  for (int64_t i = 0; i < n; ++i) {
    const double w = weight_of(sw, i, per);
    const bool predicted = p[i] > threshold, actual = t[i] > 0.5f;
    (predicted ? (actual ? counts.tp : counts.fp) : (actual ? counts.fn : counts.tn)) += w;
  }
}

void count_argmax_hits(const float* t, int64_t true_width, const float* p, const float* sw, int64_t rows, int64_t k,
                       int64_t per, double& hits, double& total) {
  for (int64_t r = 0; r < rows; ++r) {
    const double w = weight_of(sw, r, per);
    const int64_t target = true_width == 1 ? static_cast<int64_t>(t[r]) : argmax(t + r * k, k);
    hits += (argmax(p + r * k, k) == target) * w;
    total += w;
  }
}

void sum_errors(ErrorKind kind, const float* t, const float* p, const float* sw, int64_t n, int64_t per, double& sum,
                double& count) {
  for (int64_t i = 0; i < n; ++i) {
    const double e = double(p[i]) - t[i], w = weight_of(sw, i, per);
    sum += kind == ErrorKind::Squared ? w * e * e : w * std::fabs(e);
    count += w;
  }
}

int64_t count_equal(const float* a, const float* b, int64_t n) {
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) hits += a[i] == b[i];
  return hits;
}

bool all_whole(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (x[i] != std::floor(x[i])) return false;
  return true;
}

double roc_auc(const float* scores, const float* labels, int64_t n) {
  // Mann-Whitney U: AUC = (sum of positive ranks - P(P+1)/2) / (P N), ties at their average rank.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  double pos_rank_sum = 0;
  int64_t pos = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double avg_rank = 0.5 * double(i + j) + 1.0;
    for (int64_t m = i; m <= j; ++m)
      if (labels[order[m]] > 0.5f) pos_rank_sum += avg_rank, ++pos;
    i = j + 1;
  }
  const int64_t neg = n - pos;
  if (pos == 0 || neg == 0) return 0.0;  // undefined: Keras reports 0 as well
  return (pos_rank_sum - 0.5 * double(pos) * double(pos + 1)) / (double(pos) * double(neg));
}

}  // namespace myelin::kernels
