#include "data/csv_parse.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include "myelin/error.hpp"

namespace myelin::data::detail {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t") == std::string::npos; }

bool is_missing_marker(const std::string& s) {
  static const char* const markers[] = {"NA", "N/A", "NaN", "nan", "NAN", "-nan", "null", "NULL", "None", "?"};
  for (const char* m : markers)
    if (s == m) return true;
  return false;
}

bool stray(size_t col, size_t& bad_col, std::string& bad_what) {
  bad_col = col;
  bad_what = "unexpected text after the closing quote";
  return false;
}

}  // namespace

CsvRecordReader::CsvRecordReader(const std::string& path, char delimiter, int skip_rows, size_t max_line_bytes,
                                 size_t block_bytes)
    : lines_(path, max_line_bytes, block_bytes), delim_(delimiter), whitespace_(delimiter == ' '), skip_rows_(skip_rows) {}

bool CsvRecordReader::next(std::vector<std::string>& cells) {
  while (lines_.next(line_)) {
    if (lines_.line_number() == 1 && line_.compare(0, 3, "\xEF\xBB\xBF") == 0) line_.erase(0, 3);
    if (lines_.line_number() <= skip_rows_ || is_blank(line_)) continue;
    size_t bad_col = 0;
    std::string bad_what;
    if (!split(line_, cells, bad_col, bad_what)) throw IOError(where_cell(bad_col) + ": " + bad_what);
    return true;
  }
  return false;
}

std::string CsvRecordReader::where_line(int64_t line) const {
  return "'" + lines_.path() + "', line " + std::to_string(line);
}

std::string CsvRecordReader::where_cell(size_t col) const {
  std::string s = where_line() + ", column " + std::to_string(col + 1);
  if (named_ && col < names_.size()) s += " (\"" + names_[col] + "\")";
  return s;
}

// Splits one line into unquoted, trimmed cells. On an unterminated quote or stray text after a
// closing quote returns false with the 0-based column and reason in bad_col / bad_what.
bool CsvRecordReader::split(const std::string& line, std::vector<std::string>& cells, size_t& bad_col,
                            std::string& bad_what) const {
  cells.clear();
  const size_t n = line.size();
  size_t i = 0;
  if (whitespace_) {
    for (;;) {
      while (i < n && is_space(line[i])) ++i;
      if (i >= n) return true;
      std::string cell;
      if (line[i] == '"') {
        if (!quoted(line, i, cell, cells.size(), bad_col, bad_what)) return false;
        if (i < n && !is_space(line[i])) return stray(cells.size(), bad_col, bad_what);
      } else {
        const size_t start = i;
        while (i < n && !is_space(line[i])) ++i;
        cell.assign(line, start, i - start);
      }
      cells.push_back(std::move(cell));
    }
  }
  for (;;) {
    while (i < n && is_trim(line[i])) ++i;
    std::string cell;
    if (i < n && line[i] == '"') {
      if (!quoted(line, i, cell, cells.size(), bad_col, bad_what)) return false;
      while (i < n && is_trim(line[i])) ++i;
      if (i < n && line[i] != delim_) return stray(cells.size(), bad_col, bad_what);
    } else {
      const size_t start = i;
      while (i < n && line[i] != delim_) ++i;
      size_t end = i;
      while (end > start && is_trim(line[end - 1])) --end;
      cell.assign(line, start, end - start);
    }
    cells.push_back(std::move(cell));
    if (i >= n) return true;
    ++i;  // the delimiter
  }
}

// Reads a quoted cell starting at line[i] == '"'; "" inside stands for one quote.
bool CsvRecordReader::quoted(const std::string& line, size_t& i, std::string& cell, size_t col, size_t& bad_col,
                             std::string& bad_what) const {
  ++i;
  for (;;) {
    if (i >= line.size()) {
      bad_col = col;
      bad_what = "unterminated quote (quoted cells cannot span lines)";
      return false;
    }
    if (line[i] == '"') {
      if (i + 1 < line.size() && line[i + 1] == '"') {
        cell += '"';
        i += 2;
        continue;
      }
      ++i;
      return true;
    }
    cell += line[i++];
  }
}

void check_csv_delimiter(const std::string& context, char delimiter) {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r')
    throw ValueError(context + ": the delimiter cannot be a quote or a line end");
}

int64_t csv_target_index(const std::string& context, const std::vector<std::string>& names,
                         const std::string& target_column, int target_index) {
  const int64_t ncols = static_cast<int64_t>(names.size());
  if (target_column.empty()) {
    const int64_t target = target_index < 0 ? ncols + target_index : target_index;
    if (target < 0 || target >= ncols)
      throw ValueError(context + ": target_index " + std::to_string(target_index) + " is out of range for " +
                       std::to_string(ncols) + " columns");
    return target;
  }
  int64_t target = -1;
  for (int64_t c = 0; c < ncols; ++c) {
    if (names[c] != target_column) continue;
    if (target >= 0) throw ValueError(context + ": more than one column is named \"" + target_column + "\"");
    target = c;
  }
  if (target < 0) {
    std::string all;
    for (const auto& nm : names) all += (all.empty() ? "" : ", ") + nm;
    throw ValueError(context + ": no column named \"" + target_column + "\"; columns are: " + all);
  }
  return target;
}

bool parse_csv_float(const std::string& s, float& out, std::string& why) {
  if (s.empty()) {
    why = "missing value (empty cell)";
    return false;
  }
  const char* first = s.data();
  const char* last = s.data() + s.size();
  // from_chars does not take a leading '+', which CSV writers sometimes emit.
  if (*first == '+' && s.size() > 1 && first[1] != '-' && first[1] != '+') ++first;
  double d = 0;
  const auto [ptr, ec] = std::from_chars(first, last, d, std::chars_format::general);
  // Missing-value markers are looked for only when the cell is not a plain number: that keeps them
  // out of the common path, where comparing every cell with each marker took a third of the time.
  if ((ec != std::errc() || ptr != last || std::isnan(d)) && is_missing_marker(s)) {
    why = "missing value (\"" + s + "\")";
    return false;
  }
  if (ec == std::errc::result_out_of_range) {
    why = "value out of range: \"" + s + "\"";
    return false;
  }
  if (ec != std::errc() || ptr != last) {
    why = "not a number: \"" + s + "\"";
    return false;
  }
  if (std::isnan(d)) {
    why = "missing value (\"" + s + "\")";
    return false;
  }
  if (!std::isfinite(d)) {
    why = "infinite value: \"" + s + "\"";
    return false;
  }
  if (std::fabs(d) > std::numeric_limits<float>::max()) {
    why = "value out of float32 range: \"" + s + "\"";
    return false;
  }
  out = static_cast<float>(d);
  return true;
}

void parse_csv_record(const CsvRecordReader& reader, const std::vector<std::string>& cells, size_t ncols,
                      int64_t target, const char* counted_from, float* x, float* y) {
  if (cells.size() != ncols)
    throw IOError(reader.where_line() + ": expected " + std::to_string(ncols) + " cells (as " + counted_from +
                  " has), found " + std::to_string(cells.size()));
  for (size_t c = 0; c < ncols; ++c) {
    float v = 0;
    std::string why;
    if (!parse_csv_float(cells[c], v, why)) throw IOError(reader.where_cell(c) + ": " + why);
    if (static_cast<int64_t>(c) == target)
      *y = v;
    else
      *x++ = v;
  }
}

}  // namespace myelin::data::detail
