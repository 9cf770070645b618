#include "myelin/history.hpp"

#include "myelin/error.hpp"

namespace myelin {

double Logs::operator[](const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw ValueError("no '" + key + "' in these logs (has: " + keys() + ")");
  return it->second;
}

std::string Logs::keys() const {
  std::string known;
  for (const auto& [k, v] : values_) known += (known.empty() ? "" : ", ") + k;
  return known;
}

const std::vector<double>& History::operator[](const std::string& key) const {
  auto it = history.find(key);
  if (it == history.end() || it->second.empty()) {
    std::string known;
    for (const auto& [k, v] : history) known += (known.empty() ? "" : ", ") + k;
    throw ValueError("History has no '" + key + "' (has: " + known + ")");
  }
  return it->second;
}

void History::append(int epoch, const Logs& logs) {
  epochs.push_back(epoch);
  for (const auto& [k, v] : logs) history[k].push_back(v);
}

}  // namespace myelin
