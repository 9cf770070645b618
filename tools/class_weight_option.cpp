// `--class-weight`: "balanced" or explicit "class:weight" pairs, turned into fit's class_weight.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "cli.hpp"

namespace cli {

std::map<int, double> parse_class_weight(const std::string& spec, const myelin::Tensor* targets) {
  std::map<int, double> weights;
  if (spec == "balanced") {
    // scikit-learn's "balanced": n_samples / (n_classes * count of the class), over the classes present.
    if (!targets) throw UserError("--class-weight balanced counts the classes of the data in memory; it is not available with --stream");
    std::map<int, int64_t> counts;
    const int64_t rows = targets->rows(), width = targets->row_size();
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = targets->data() + r * width;
      const int64_t label = width == 1 ? int64_t(std::lround(row[0])) : int64_t(std::max_element(row, row + width) - row);
      if (label < 0) throw UserError("--class-weight balanced: target " + std::to_string(row[0]) + " at row " +
                                     std::to_string(r) + " is not a class index");
      ++counts[int(label)];
    }
    for (const auto& [c, n] : counts) weights[c] = double(rows) / (double(counts.size()) * double(n));
    return weights;
  }
  std::istringstream in(spec);
  for (std::string entry; std::getline(in, entry, ',');) {
    const size_t colon = entry.find(':');
    size_t used_class = 0, used_weight = 0;
    int c = -1;
    double w = NAN;
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      c = std::stoi(entry.substr(0, colon), &used_class);
      w = std::stod(entry.substr(colon + 1), &used_weight);
    } catch (const std::exception&) {
      used_class = 0;
    }
    if (colon == std::string::npos || used_class != colon || used_weight != entry.size() - colon - 1 || c < 0 ||
        !(std::isfinite(w) && w >= 0))
      throw UserError("--class-weight: '" + entry + "' is not class:weight with a class index >= 0 and a weight >= 0 "
                      "(e.g. --class-weight 0:1,1:4, or --class-weight balanced)");
    if (!weights.emplace(c, w).second) throw UserError("--class-weight: class " + std::to_string(c) + " is given twice");
  }
  if (weights.empty()) throw UserError("--class-weight: no class:weight pairs in '" + spec + "'");
  return weights;
}

}  // namespace cli
