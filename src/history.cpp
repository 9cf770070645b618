#include "myelin/history.hpp"

#include "myelin/error.hpp"

namespace myelin {

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
