// History: what fit() returns, the per-epoch logs (loss, metrics, val_*), as Keras's History.
#pragma once
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace myelin {

/// Named values of one epoch or one evaluation: {"loss": 0.31, "accuracy": 0.89, "val_loss": ...}.
/// Reading a name that is not there throws (naming the ones that are), as a Python dict would,
/// so a mistyped metric never reads as 0.
class Logs {
 public:
  using Map = std::map<std::string, double>;
  Logs() = default;
  Logs(std::initializer_list<Map::value_type> values) : values_(values) {}

  /// The value of `key`; throws ValueError naming the known keys when absent.
  double operator[](const std::string& key) const;
  double at(const std::string& key) const { return (*this)[key]; }
  void set(const std::string& key, double value) { values_[key] = value; }
  bool contains(const std::string& key) const { return values_.count(key) != 0; }
  Map::const_iterator find(const std::string& key) const { return values_.find(key); }
  Map::const_iterator begin() const { return values_.begin(); }
  Map::const_iterator end() const { return values_.end(); }
  size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  /// The known keys, comma-separated (for error messages).
  std::string keys() const;

 private:
  Map values_;
};

struct History {
  /// history["loss"][e] is the training loss of epoch e (0-based), and so on for every key.
  std::map<std::string, std::vector<double>> history;
  /// The epochs run (0-based), in order.
  std::vector<int> epochs;

  /// The values of one key; throws ValueError naming the key and the known ones when absent.
  const std::vector<double>& operator[](const std::string& key) const;
  /// The last epoch's value of a key.
  double last(const std::string& key) const { return (*this)[key].back(); }
  void append(int epoch, const Logs& logs);
};

}  // namespace myelin
