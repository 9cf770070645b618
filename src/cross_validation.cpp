#include "myelin/cross_validation.hpp"

#include <cmath>

#include "myelin/error.hpp"

namespace myelin {

CrossValidationResult cross_validate(const std::function<Sequential()>& make_model, const Tensor& x, const Tensor& y,
                                     const FitOptions& fit_options, const CrossValidateOptions& o) {
  if (x.rows() != y.rows())
    throw ShapeError("cross_validate: x has " + std::to_string(x.rows()) + " rows but y has " +
                     std::to_string(y.rows()));
  const std::vector<FoldIndices> folds = o.stratified ? StratifiedKFold(o.k, o.shuffle, o.random_state).split(y)
                                                      : KFold(o.k, o.shuffle, o.random_state).split(x.rows());
  CrossValidationResult result;
  for (const auto& [train_idx, test_idx] : folds) {
    Tensor x_train = x.gather_rows(train_idx), x_test = x.gather_rows(test_idx);
    if (o.preprocess) std::tie(x_train, x_test) = o.preprocess(x_train, x_test);
    Sequential model = make_model();
    model.fit(x_train, y.gather_rows(train_idx), fit_options);
    result.folds.push_back(model.evaluate(x_test, y.gather_rows(test_idx)));
  }
  for (const auto& [key, unused] : result.folds.front()) {
    double sum = 0, sq = 0;
    for (const auto& f : result.folds) sum += f[key];
    const double mean = sum / double(result.folds.size());
    for (const auto& f : result.folds) sq += (f[key] - mean) * (f[key] - mean);
    result.mean.set(key, mean);
    result.std.set(key, std::sqrt(sq / double(result.folds.size())));
  }
  return result;
}

}  // namespace myelin
