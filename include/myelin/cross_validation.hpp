// k-fold cross-validation of a model factory, as users do with scikit-learn's cross_validate.
#pragma once
#include <functional>
#include <vector>

#include "myelin/data/preprocessing.hpp"
#include "myelin/history.hpp"
#include "myelin/model.hpp"

namespace myelin {

struct CrossValidateOptions {
  int k = 5;
  /// Keep class proportions in each fold (y must hold class labels).
  bool stratified = false;
  bool shuffle = true;
  uint64_t random_state = 0;
  /// Called with each fold's training part before fitting, for preprocessing fitted on the
  /// training rows only (e.g. a StandardScaler); it returns the transformed (train, test) x.
  std::function<std::pair<Tensor, Tensor>(const Tensor& x_train, const Tensor& x_test)> preprocess;
};

struct CrossValidationResult {
  /// Evaluation scores of each fold's held-out part ({"loss": ..., "accuracy": ...}).
  std::vector<Logs> folds;
  /// Mean and (population) standard deviation of each score across the folds.
  Logs mean, std;
};

/// Trains a fresh model from `make_model` (which returns it compiled) on each fold's training rows
/// with `fit_options`, evaluates it on the fold's held-out rows, and reports per-fold and mean scores.
CrossValidationResult cross_validate(const std::function<Sequential()>& make_model, const Tensor& x, const Tensor& y,
                                     const FitOptions& fit_options = {}, const CrossValidateOptions& options = {});

}  // namespace myelin
