// Internal: the CSV parsing shared by read_csv (whole file into tensors) and CsvDataset (streamed),
// so both accept the same files and word their errors alike, naming file, 1-based line and column.
// Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/file_reader.hpp"

namespace myelin::data::detail {

/// Reads the records of a CSV file: lines split into unquoted, trimmed cells. Skips the first
/// `skip_rows` lines, blank lines and a UTF-8 byte-order mark. Knows the column names (once set) so
/// that errors can name a cell's column.
class CsvRecordReader {
 public:
  /// Opens `path` (plain or gzip); `max_line_bytes` and `block_bytes` are passed to LineReader.
  CsvRecordReader(const std::string& path, char delimiter, int skip_rows, size_t max_line_bytes,
                  size_t block_bytes = size_t{1} << 16);

  /// Reads the next record into `cells`; false at the end of the file. Throws IOError naming the
  /// file, line and column for an unterminated quote or text after a closing quote, and for a line
  /// longer than max_line_bytes.
  bool next(std::vector<std::string>& cells);
  /// 1-based line number of the record last returned.
  int64_t line_number() const { return lines_.line_number(); }
  const std::string& path() const { return lines_.path(); }

  /// Column names that error messages add to column numbers (with `named`: names from a header).
  void set_column_names(std::vector<std::string> names, bool named) {
    names_ = std::move(names);
    named_ = named;
  }
  /// "'file', line N" for the record last returned (or the given line).
  std::string where_line() const { return where_line(line_number()); }
  std::string where_line(int64_t line) const;
  /// "'file', line N, column C ("name")" for 0-based column `col` of the record last returned.
  std::string where_cell(size_t col) const;

 private:
  bool split(const std::string& line, std::vector<std::string>& cells, size_t& bad_col, std::string& bad_what) const;
  bool quoted(const std::string& line, size_t& i, std::string& cell, size_t col, size_t& bad_col,
              std::string& bad_what) const;
  bool is_trim(char c) const { return (c == ' ' || c == '\t') && c != delim_; }

  LineReader lines_;
  char delim_;
  bool whitespace_;
  int skip_rows_;
  std::string line_;
  std::vector<std::string> names_;
  bool named_ = false;
};

/// Throws ValueError, prefixed with `context` (e.g. "read_csv('file')"), for a delimiter that cannot
/// separate cells.
void check_csv_delimiter(const std::string& context, char delimiter);

/// The 0-based index of the target column among `names`, chosen by name (when `target_column` is not
/// empty) or by index (negative counts from the end). Throws ValueError, prefixed with `context`,
/// naming the columns when there is no such column, or more than one has the name.
int64_t csv_target_index(const std::string& context, const std::vector<std::string>& names,
                         const std::string& target_column, int target_index);

/// Parses a whole cell as a finite float32; on failure returns false with the reason in `why`.
bool parse_csv_float(const std::string& s, float& out, std::string& why);

/// Parses one record of `ncols` cells: the target column (`target`, -1 for none) into *y, the others
/// in order into x[0..]. Throws IOError naming the file, line and column (as `reader` locates them)
/// for a wrong cell count or a cell that is not a finite number. `counted_from` says which line
/// fixed the cell count ("the header" or "the first data line").
void parse_csv_record(const CsvRecordReader& reader, const std::vector<std::string>& cells, size_t ncols,
                      int64_t target, const char* counted_from, float* x, float* y);

}  // namespace myelin::data::detail
