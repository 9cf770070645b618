// What compile takes for models with several outputs, in Keras's forms: one value for all, a list in
// the order of the model's outputs, or a map keyed by the names of the output layers.
#pragma once
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "myelin/losses.hpp"
#include "myelin/data_arg.hpp"
#include "myelin/metrics.hpp"

namespace myelin {

/// compile()'s loss: one loss for every output ("mse", a loss object), a list `{"mse", "mae"}` in
/// output order, or a map `{{"class", "sparse_categorical_crossentropy"}, {"box", "mse"}}` by output
/// name (every output needs one).
class LossesArg {
 public:
  LossesArg(const char* name) : one_(name) {}
  LossesArg(const std::string& name) : one_(name) {}
  LossesArg(LossArg one) : one_(std::move(one)) {}
  LossesArg(std::shared_ptr<Loss> loss) : one_(std::move(loss)) {}
  template <class L, class = std::enable_if_t<std::is_base_of_v<Loss, std::decay_t<L>>>>
  LossesArg(L&& loss) : one_(std::forward<L>(loss)) {}
  LossesArg(std::initializer_list<LossArg> list) : list_(list), is_list_(true) {}
  LossesArg(std::vector<LossArg> list) : list_(std::move(list)), is_list_(true) {}
  LossesArg(std::initializer_list<std::pair<const std::string, LossArg>> by_name) : map_(by_name), is_map_(true) {}
  LossesArg(std::map<std::string, LossArg> by_name) : map_(std::move(by_name)), is_map_(true) {}

  bool is_list() const { return is_list_; }
  bool is_map() const { return is_map_; }
  /// The one loss (when neither a list nor a map).
  const LossArg& one() const { return one_; }
  const std::vector<LossArg>& list() const { return list_; }
  const std::map<std::string, LossArg>& map() const { return map_; }

 private:
  LossArg one_{std::shared_ptr<Loss>()};
  std::vector<LossArg> list_;
  std::map<std::string, LossArg> map_;
  bool is_list_ = false, is_map_ = false;
};

/// compile()'s loss_weights: the total loss is the sum of each output's loss times its weight.
/// A list in output order or a map by output name (outputs left out weigh 1); empty: all 1.
class LossWeights {
 public:
  LossWeights() = default;
  LossWeights(std::initializer_list<double> list) : list_(list) {}
  LossWeights(std::vector<double> list) : list_(std::move(list)) {}
  LossWeights(std::initializer_list<std::pair<const std::string, double>> by_name) : map_(by_name) {}
  LossWeights(std::map<std::string, double> by_name) : map_(std::move(by_name)) {}
  bool empty() const { return list_.empty() && map_.empty(); }
  const std::vector<double>& list() const { return list_; }
  const std::map<std::string, double>& map() const { return map_; }

 private:
  std::vector<double> list_;
  std::map<std::string, double> map_;
};

/// compile()'s metrics (or weighted_metrics): a list `{"accuracy"}` computed for every output, or a
/// map `{{"class", {"accuracy"}}}` by output name (outputs left out get none). A metric object (not a
/// name) may serve one output only, as it holds that output's counts.
class MetricsArg {
 public:
  MetricsArg() = default;
  MetricsArg(std::initializer_list<MetricArg> list) : list_(list) {}
  MetricsArg(std::vector<MetricArg> list) : list_(std::move(list)) {}
  MetricsArg(std::initializer_list<std::pair<const std::string, std::vector<MetricArg>>> by_name)
      : map_(by_name), is_map_(true) {}
  MetricsArg(std::map<std::string, std::vector<MetricArg>> by_name) : map_(std::move(by_name)), is_map_(true) {}
  bool is_map() const { return is_map_; }
  bool empty() const { return list_.empty() && map_.empty(); }
  const std::vector<MetricArg>& list() const { return list_; }
  const std::map<std::string, std::vector<MetricArg>>& map() const { return map_; }

 private:
  std::vector<MetricArg> list_;
  std::map<std::string, std::vector<MetricArg>> map_;
  bool is_map_ = false;
};

/// Keras's compile() keyword arguments beside the optimizer and the loss.
struct CompileOptions {
  LossWeights loss_weights;
  /// Metrics computed without sample weights (Keras 3's `metrics`).
  MetricsArg metrics;
  /// Metrics computed with fit's or evaluate's sample weights (and class weights): Keras's
  /// `weighted_metrics`. Logged under the metric's name, or "weighted_<name>" when a plain metric
  /// of the same output already has that name.
  MetricsArg weighted_metrics;
};

}  // namespace myelin
