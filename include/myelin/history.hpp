// History: what fit() returns, the per-epoch logs (loss, metrics, val_*), as Keras's History.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace myelin {

/// Named values of one epoch or one evaluation: {"loss": 0.31, "accuracy": 0.89, "val_loss": ...}.
using Logs = std::map<std::string, double>;

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
