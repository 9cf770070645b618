// Reader for numeric CSV files (plain or gzip-compressed) into feature and target tensors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin::data {

/// How read_csv interprets a file. The defaults read the common case, as pandas.read_csv does:
/// comma-separated, first line holds the column names, the target is the last column.
struct CsvOptions {
  /// Cell separator. With ' ' any run of spaces and tabs separates cells (like numpy.loadtxt's
  /// default), so space-aligned files read as expected.
  char delimiter = ',';
  /// Lines skipped at the top before anything else is read (e.g. a metadata line).
  int skip_rows = 0;
  /// Whether the first line after the skipped ones holds column names. Without a header the
  /// columns are named "0", "1", ... (0-based, as pandas does with header=None).
  bool header = true;
  /// Target column by name (needs a header). Takes precedence over target_index when non-empty.
  std::string target_column;
  /// Target column by 0-based index; negative counts from the end, so the default -1 is the last column.
  int target_index = -1;
  /// Read every column as a feature; y is then empty with shape {n, 0}.
  bool no_target = false;
  /// Longest line accepted, in bytes (without the line end): a longer line is an IOError naming the
  /// file and line, raised before more of it is read, so a file without line ends cannot exhaust memory.
  int64_t max_line_bytes = int64_t{1} << 20;
};

/// The contents of a CSV file split into features and target.
struct CsvData {
  Tensor x;                                ///< {n, features}: every column except the target
  Tensor y;                                ///< {n, 1}: the target column ({n, 0} with no_target)
  std::vector<std::string> feature_names;  ///< names of x's columns, in order
  std::string target_name;                 ///< name of the target column (empty with no_target)
};

/// Reads a numeric CSV file (gzip-compressed files, detected by their magic bytes, too).
///
/// Cells are trimmed of spaces and tabs and may be quoted ("1.5"); "\n" and "\r\n" line ends
/// both work; blank lines are skipped; a UTF-8 byte-order mark is ignored. Every data line
/// must have as many cells as the header (or, without one, the first data line).
///
/// Throws IOError naming the file, the 1-based line and the 1-based column (and its name) for a
/// missing (empty, NA or NaN) cell, a non-numeric or infinite cell, a value out of float range,
/// a wrong cell count, an unterminated quote or a line longer than max_line_bytes; IOError if the
/// file cannot be read or has no data lines; ValueError if the options name a target that does not exist or contradict each other.
CsvData read_csv(const std::string& path, const CsvOptions& options = {});

}  // namespace myelin::data
