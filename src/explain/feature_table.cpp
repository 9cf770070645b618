// A tabular row's attributions as a sorted table (see myelin/explain/feature_table.hpp).
#include "myelin/explain/feature_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "myelin/error.hpp"

namespace myelin::explain {

std::vector<FeatureAttribution> feature_table(const Tensor& x, const Tensor& attributions, int64_t row,
                                              const std::vector<std::string>& names) {
  if (x.ndim() != 2)
    throw ShapeError("feature_table: x must be {rows, features}, got " + shape_to_string(x.shape()));
  if (attributions.shape() != x.shape())
    throw ShapeError("feature_table: attributions " + shape_to_string(attributions.shape()) + " differ from x " +
                     shape_to_string(x.shape()));
  const int64_t features = x.dim(1);
  if (!names.empty() && int64_t(names.size()) != features)
    throw ShapeError("feature_table: " + std::to_string(names.size()) + " names for " + std::to_string(features) +
                     " features of x " + shape_to_string(x.shape()));
  if (row < 0 || row >= x.rows())
    throw ValueError("feature_table: row " + std::to_string(row) + " is out of range: x has " +
                     std::to_string(x.rows()) + " rows");
  std::vector<FeatureAttribution> table;
  table.reserve(size_t(features));
  for (int64_t f = 0; f < features; ++f)
    table.push_back({names.empty() ? std::to_string(f) : names[size_t(f)], double(x.at(row, f)),
                     double(attributions.at(row, f))});
  // Stable: equal magnitudes keep the columns' order.
  std::stable_sort(table.begin(), table.end(), [](const FeatureAttribution& a, const FeatureAttribution& b) {
    return std::fabs(a.attribution) > std::fabs(b.attribution);
  });
  return table;
}

void print_feature_table(std::ostream& out, const std::vector<FeatureAttribution>& table) {
  // The feature column as wide as its longest name; numbers right-aligned, 6 significant digits.
  size_t width = std::string("feature").size();
  for (const auto& r : table) width = std::max(width, r.feature.size());
  char line[64];
  out << std::string("feature") + std::string(width - 7, ' ');
  std::snprintf(line, sizeof line, "  %12s  %12s\n", "value", "attribution");
  out << line;
  for (const auto& r : table) {
    out << r.feature << std::string(width - r.feature.size(), ' ');
    std::snprintf(line, sizeof line, "  %12.6g  %12.6g\n", r.value, r.attribution);
    out << line;
  }
}

}  // namespace myelin::explain
