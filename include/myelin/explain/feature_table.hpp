// A tabular model's attributions as a table: one row per feature, the largest contribution first.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin::explain {

struct FeatureAttribution {
  std::string feature;  ///< the column's name ("3" when the data has no header)
  double value;         ///< the input's value
  double attribution;   ///< its contribution to the score
};

/// Row `row` of x {rows, features} and of its attributions (same shape), sorted by |attribution|,
/// largest first (ties: column order). `names` (data::CsvData::feature_names) labels the columns;
/// empty: "0", "1", ... Throws ShapeError when the shapes differ or names has the wrong length,
/// ValueError when row is out of range.
std::vector<FeatureAttribution> feature_table(const Tensor& x, const Tensor& attributions, int64_t row,
                                              const std::vector<std::string>& names = {});
/// Prints the table: a header line "feature  value  attribution", then one aligned line per row.
void print_feature_table(std::ostream& out, const std::vector<FeatureAttribution>& table);

}  // namespace myelin::explain
