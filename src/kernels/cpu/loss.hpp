// Loss values and their gradients over flat arrays, Keras's definitions.
//
// Shapes: element-wise losses see n values; cross-entropies see `rows` rows of k classes (the class
// axis last). sample_weight may be null; otherwise it holds one weight per sample, and a sample
// spans `per_sample` consecutive values (element-wise) or rows (cross-entropies). Each function
// returns the weighted mean loss over the values (or rows) and, when grad is not null, writes
// d(mean loss)/d(y_pred) into it (same size as y_pred). Probabilities are clipped to
// [1e-7, 1 - 1e-7] as Keras does. Totals are summed in double, in index order. The cross-entropies
// from logits also write the probabilities they compute on their way (softmax or sigmoid of y_pred,
// the same values as the activation kernels') when `probabilities` is not null (same size as y_pred);
// from probabilities they leave it alone.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Keras's class_weight as per-sample weights: out[r] = weight of row r's class * sample_weight[r]
/// (sample_weight may be null: 1). A row's class is its target rounded when width is 1, else the
/// arg-max of its (one-hot) row; `classes` holds n_classes class indices in ascending order with their
/// weights in `class_weights`, and a class not among them weighs 1.
void class_sample_weights(const float* y_true, int64_t rows, int64_t width, const int* classes,
                          const float* class_weights, int64_t n_classes, const float* sample_weight, float* out);

enum class RegressionLoss { MeanSquared, MeanAbsolute, Huber };

/// Mean of w * f(y_pred - y_true): e^2, |e|, or Huber's 0.5 e^2 within delta and
/// delta (|e| - delta / 2) beyond (delta is read for Huber only).
double regression_loss(RegressionLoss kind, float delta, const float* y_true, const float* y_pred,
                       const float* sample_weight, float* grad, int64_t n, int64_t per_sample);

/// Binary cross-entropy of n independent outputs: y_pred holds probabilities, or logits when
/// from_logits (then computed stably as max(z, 0) - z y + log(1 + e^-|z|), gradient sigmoid(z) - y).
double binary_crossentropy(const float* y_true, const float* y_pred, const float* sample_weight, float* grad,
                           float* probabilities, int64_t n, int64_t per_sample, bool from_logits);

/// Categorical cross-entropy against target distributions y_true [rows, k]. From probabilities,
/// each row is first renormalised to sum 1 (Keras); from logits, softmax and log-sum-exp are fused.
double categorical_crossentropy(const float* y_true, const float* y_pred, const float* sample_weight, float* grad,
                                float* probabilities, int64_t rows, int64_t k, int64_t per_sample, bool from_logits);

/// Categorical cross-entropy against one class index per row (labels[r] truncated to an integer,
/// which the caller has checked lies in [0, k): see checks.hpp's first_label_outside).
double sparse_categorical_crossentropy(const float* labels, const float* y_pred, const float* sample_weight,
                                       float* grad, float* probabilities, int64_t rows, int64_t k, int64_t per_sample,
                                       bool from_logits);

}  // namespace myelin::kernels
