// Metric counters over flat arrays: each adds one batch into running sums.
//
// sample_weight may be null (every value counts 1); otherwise a sample spans `per_sample`
// consecutive values (or rows) and value i weighs sample_weight[i / per_sample]. Sums are kept in
// double and added in index order.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Weighted counts of binary decisions: positive prediction y_pred > threshold, positive target
/// y_true > 0.5. Binary accuracy, precision and recall are ratios of these.
struct BinaryCounts {
  double tp = 0, fp = 0, fn = 0, tn = 0;
};
/// Adds n values' decisions into `counts`.
void count_binary(const float* y_true, const float* y_pred, const float* sample_weight, int64_t n, int64_t per_sample,
                  float threshold, BinaryCounts& counts);

/// Rows of y_pred [rows, k] whose arg-max (the first one on ties) equals the target class: adds
/// each row's weight into `total`, and into `hits` when it matches. y_true holds a class index per
/// row when true_width is 1, or a row of k scores (one-hot) whose arg-max is the class when it is k.
void count_argmax_hits(const float* y_true, int64_t true_width, const float* y_pred, const float* sample_weight,
                       int64_t rows, int64_t k, int64_t per_sample, double& hits, double& total);

enum class ErrorKind { Squared, Absolute };
/// Adds w (y_pred - y_true)^2 (or |y_pred - y_true|), computed in double, into `sum` and w into
/// `count` for n values.
void sum_errors(ErrorKind kind, const float* y_true, const float* y_pred, const float* sample_weight, int64_t n,
                int64_t per_sample, double& sum, double& count);

/// Number of i with a[i] == b[i].
int64_t count_equal(const float* a, const float* b, int64_t n);
/// Whether every value is a whole number (NaN and infinities are not).
bool all_whole(const float* x, int64_t n);

/// Exact area under the ROC curve of n scores against 0/1 labels (label > 0.5 is positive), by
/// Mann-Whitney U with tied scores at their average rank; 0 when either class is absent.
double roc_auc(const float* scores, const float* labels, int64_t n);

}  // namespace myelin::kernels
