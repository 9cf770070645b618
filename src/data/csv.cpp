#include "myelin/data/csv.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include "data/file_reader.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

namespace {

// Formats and throws errors that point at a cell, naming file, line and column.
class Where {
 public:
  Where(const std::string& path, const std::vector<std::string>& names, bool named)
      : path_(path), names_(names), named_(named) {}

  std::string line(int64_t line) const { return "'" + path_ + "', line " + std::to_string(line); }

  std::string cell(int64_t line_no, size_t col) const {
    std::string s = line(line_no) + ", column " + std::to_string(col + 1);
    if (named_ && col < names_.size()) s += " (\"" + names_[col] + "\")";
    return s;
  }

 private:
  const std::string& path_;
  const std::vector<std::string>& names_;
  bool named_;
};

class Splitter {
 public:
  explicit Splitter(char delim) : delim_(delim), whitespace_(delim == ' ') {}

  // Splits one line into unquoted, trimmed cells. On an unterminated quote or stray text after a
  // closing quote returns false with the 0-based column and reason in bad_col / bad_what.
  bool split(const std::string& line, std::vector<std::string>& cells, size_t& bad_col, std::string& bad_what) const {
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

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t'; }
  // Trimmed characters: spaces and tabs, except the delimiter itself (tab-separated files).
  bool is_trim(char c) const { return (c == ' ' || c == '\t') && c != delim_; }

  // Reads a quoted cell starting at line[i] == '"'; "" inside stands for one quote.
  static bool quoted(const std::string& line, size_t& i, std::string& cell, size_t col, size_t& bad_col,
                     std::string& bad_what) {
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

  static bool stray(size_t col, size_t& bad_col, std::string& bad_what) {
    bad_col = col;
    bad_what = "unexpected text after the closing quote";
    return false;
  }

  char delim_;
  bool whitespace_;
};

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t") == std::string::npos; }

bool is_missing_marker(const std::string& s) {
  static const char* const markers[] = {"NA", "N/A", "NaN", "nan", "NAN", "-nan", "null", "NULL", "None", "?"};
  for (const char* m : markers)
    if (s == m) return true;
  return false;
}

// Parses a whole cell as a finite float32; on failure returns false with the reason.
bool parse_float(const std::string& s, float& out, std::string& why) {
  if (s.empty()) {
    why = "missing value (empty cell)";
    return false;
  }
  if (is_missing_marker(s)) {
    why = "missing value (\"" + s + "\")";
    return false;
  }
  const char* first = s.data();
  const char* last = s.data() + s.size();
  // from_chars does not take a leading '+', which CSV writers sometimes emit.
  if (*first == '+' && s.size() > 1 && first[1] != '-' && first[1] != '+') ++first;
  double d = 0;
  const auto [ptr, ec] = std::from_chars(first, last, d, std::chars_format::general);
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

}  // namespace

CsvData read_csv(const std::string& path, const CsvOptions& options) {
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    throw ValueError("read_csv('" + path + "'): the delimiter cannot be a quote or a line end");
  if (options.skip_rows < 0)
    throw ValueError("read_csv('" + path + "'): skip_rows must be >= 0, got " + std::to_string(options.skip_rows));
  if (options.no_target && (!options.target_column.empty() || options.target_index != -1))
    throw ValueError("read_csv('" + path + "'): no_target contradicts the target column given");
  if (!options.target_column.empty() && options.target_index != -1)
    throw ValueError("read_csv('" + path + "'): give target_column or target_index, not both");
  if (!options.target_column.empty() && !options.header)
    throw ValueError("read_csv('" + path + "'): target_column \"" + options.target_column +
                     "\" needs header=true to name the columns");

  detail::LineReader reader(path);
  const Splitter splitter(options.delimiter);
  std::vector<std::string> names;
  const Where where(path, names, options.header);
  std::string line;
  std::vector<std::string> cells;
  size_t bad_col = 0;
  std::string bad_what;

  auto next_line = [&]() {
    while (reader.next(line)) {
      if (reader.line_number() == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
      if (reader.line_number() <= options.skip_rows || is_blank(line)) continue;
      if (!splitter.split(line, cells, bad_col, bad_what))
        throw IOError(where.cell(reader.line_number(), bad_col) + ": " + bad_what);
      return true;
    }
    return false;
  };

  bool have_row = next_line();
  if (options.header) {
    if (!have_row) throw IOError("'" + path + "' has no header line" + (options.skip_rows ? " after the skipped rows" : ""));
    names = cells;
    have_row = next_line();
  }
  if (!have_row) throw IOError("'" + path + "' has no data lines");
  const size_t ncols = options.header ? names.size() : cells.size();
  if (!options.header)
    for (size_t c = 0; c < ncols; ++c) names.push_back(std::to_string(c));

  // Which column is the target (-1: none).
  int64_t target = -1;
  if (!options.no_target) {
    if (!options.target_column.empty()) {
      for (size_t c = 0; c < ncols; ++c) {
        if (names[c] != options.target_column) continue;
        if (target >= 0)
          throw ValueError("read_csv('" + path + "'): more than one column is named \"" + options.target_column + "\"");
        target = static_cast<int64_t>(c);
      }
      if (target < 0) {
        std::string all;
        for (const auto& nm : names) all += (all.empty() ? "" : ", ") + nm;
        throw ValueError("read_csv('" + path + "'): no column named \"" + options.target_column + "\"; columns are: " + all);
      }
    } else {
      target = options.target_index < 0 ? static_cast<int64_t>(ncols) + options.target_index : options.target_index;
      if (target < 0 || target >= static_cast<int64_t>(ncols))
        throw ValueError("read_csv('" + path + "'): target_index " + std::to_string(options.target_index) +
                         " is out of range for " + std::to_string(ncols) + " columns");
    }
  }

  CsvData out;
  for (size_t c = 0; c < ncols; ++c) {
    if (static_cast<int64_t>(c) == target)
      out.target_name = names[c];
    else
      out.feature_names.push_back(names[c]);
  }
  const int64_t nfeat = static_cast<int64_t>(out.feature_names.size());

  std::vector<float> xs, ys;
  int64_t rows = 0;
  do {
    if (cells.size() != ncols)
      throw IOError(where.line(reader.line_number()) + ": expected " + std::to_string(ncols) + " cells (as " +
                    (options.header ? "the header" : "the first data line") + " has), found " +
                    std::to_string(cells.size()));
    for (size_t c = 0; c < ncols; ++c) {
      float v = 0;
      std::string why;
      if (!parse_float(cells[c], v, why)) throw IOError(where.cell(reader.line_number(), c) + ": " + why);
      (static_cast<int64_t>(c) == target ? ys : xs).push_back(v);
    }
    ++rows;
  } while (next_line());

  out.x = Tensor({rows, nfeat}, xs);
  out.y = Tensor({rows, target >= 0 ? int64_t{1} : int64_t{0}}, ys);
  return out;
}

}  // namespace myelin::data
