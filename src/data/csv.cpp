#include "myelin/data/csv.hpp"

#include "data/csv_parse.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

CsvData read_csv(const std::string& path, const CsvOptions& options) {
  const std::string context = "read_csv('" + path + "')";
  detail::check_csv_delimiter(context, options.delimiter);
  if (options.skip_rows < 0)
    throw ValueError(context + ": skip_rows must be >= 0, got " + std::to_string(options.skip_rows));
  if (options.max_line_bytes <= 0)
    throw ValueError(context + ": max_line_bytes must be positive, got " + std::to_string(options.max_line_bytes));
  if (options.no_target && (!options.target_column.empty() || options.target_index != -1))
    throw ValueError(context + ": no_target contradicts the target column given");
  if (!options.target_column.empty() && options.target_index != -1)
    throw ValueError(context + ": give target_column or target_index, not both");
  if (!options.target_column.empty() && !options.header)
    throw ValueError(context + ": target_column \"" + options.target_column + "\" needs header=true to name the columns");

  detail::CsvRecordReader reader(path, options.delimiter, options.skip_rows,
                                 static_cast<size_t>(options.max_line_bytes));
  std::vector<std::string> cells;
  std::vector<std::string> names;

  bool have_row = reader.next(cells);
  if (options.header) {
    if (!have_row) throw IOError("'" + path + "' has no header line" + (options.skip_rows ? " after the skipped rows" : ""));
    names = cells;
    have_row = reader.next(cells);
  }
  if (!have_row) throw IOError("'" + path + "' has no data lines");
  const size_t ncols = options.header ? names.size() : cells.size();
  if (!options.header)
    for (size_t c = 0; c < ncols; ++c) names.push_back(std::to_string(c));
  reader.set_column_names(names, options.header);

  const int64_t target =
      options.no_target ? -1 : detail::csv_target_index(context, names, options.target_column, options.target_index);

  CsvData out;
  for (size_t c = 0; c < ncols; ++c) {
    if (static_cast<int64_t>(c) == target)
      out.target_name = names[c];
    else
      out.feature_names.push_back(names[c]);
  }
  const int64_t nfeat = static_cast<int64_t>(out.feature_names.size());
  const char* counted_from = options.header ? "the header" : "the first data line";

  std::vector<float> xs, ys;
  int64_t rows = 0;
  do {
    xs.resize(xs.size() + static_cast<size_t>(nfeat));
    float y = 0;
    detail::parse_csv_record(reader, cells, ncols, target, counted_from, xs.data() + xs.size() - nfeat, &y);
    if (target >= 0) ys.push_back(y);
    ++rows;
  } while (reader.next(cells));

  out.x = Tensor({rows, nfeat}, xs);
  out.y = Tensor({rows, target >= 0 ? int64_t{1} : int64_t{0}}, ys);
  return out;
}

}  // namespace myelin::data
