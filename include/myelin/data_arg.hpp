// DataArg: the arrays fit, evaluate and predict take (and a Dataset's generator yields) for models
// with several inputs or outputs, in Keras's forms.
#pragma once
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin {

/// Arrays for fit/evaluate/predict (inputs x, targets y, sample weights): one tensor, a list
/// `{xa, xb}` ordered as the model's inputs (or outputs), or a map `{{"a", xa}, {"b", xb}}` keyed by
/// input (or output) layer name. Tensors share their storage: nothing is copied.
class DataArg {
 public:
  /// No arrays (an option left unset).
  DataArg() = default;
  DataArg(const Tensor& one) : kind_(Kind::One), one_(one) {}
  DataArg(Tensor&& one) : kind_(Kind::One), one_(std::move(one)) {}
  DataArg(std::vector<Tensor> list) : kind_(Kind::List), list_(std::move(list)) {}
  DataArg(std::initializer_list<Tensor> list) : kind_(Kind::List), list_(list) {}
  DataArg(std::map<std::string, Tensor> by_name) : kind_(Kind::Map), map_(std::move(by_name)) {}
  DataArg(std::initializer_list<std::pair<const std::string, Tensor>> by_name) : kind_(Kind::Map), map_(by_name) {}

  enum class Kind { None, One, List, Map };
  Kind kind() const { return kind_; }
  bool empty() const { return kind_ == Kind::None; }
  const Tensor& one() const { return *one_; }
  const std::vector<Tensor>& list() const { return list_; }
  const std::map<std::string, Tensor>& map() const { return map_; }

 private:
  Kind kind_ = Kind::None;
  std::optional<Tensor> one_;  // optional: an empty DataArg allocates nothing
  std::vector<Tensor> list_;
  std::map<std::string, Tensor> map_;
};

}  // namespace myelin
