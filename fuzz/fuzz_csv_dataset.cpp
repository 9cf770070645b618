// libFuzzer target for myelin::data::CsvDataset (a CSV file streamed in chunks, shuffled through a
// bounded buffer). The first three input bytes pick the options, the rest is the file:
//   byte 0: delimiter, header, target column (as in fuzz_csv);
//   byte 1: chunk_bytes (1 to 16, or the default) and shuffle_buffer (1 to 8), so that lines, cells
//           and line ends fall across chunk boundaries and the buffer fills, drains and shrinks;
//   byte 2: max_line_bytes (1 to 64, or the default) and the first of the odd read() sizes.
// Two epochs are read, the first in file order, the second shuffled; both must hold the same rows.
// A myelin::Error (IOError for a bad file, ValueError for options the file contradicts) is the
// expected answer; anything else is a finding.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzz_input.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"

namespace {

using Row = std::vector<uint32_t>;  // one row's features then target, as float bits

// Reads one whole epoch with read() in odd piece sizes, checking what every call returns.
std::vector<Row> read_epoch(myelin::data::CsvDataset& d, int first_piece) {
  static const int64_t pieces[] = {1, 3, 7, 2, 5, 64};
  const int64_t features = d.x_shape().at(0);
  myelin::Tensor x, y;
  std::vector<Row> rows;
  for (int i = first_piece;; ++i) {
    const int64_t want = pieces[i % 6];
    const int64_t n = d.read(want, x, y);
    if (n < 0 || n > want) std::abort();
    if (x.shape() != myelin::Shape{n, features} || y.shape() != myelin::Shape{n, 1}) std::abort();
    for (int64_t r = 0; r < n; ++r) {
      Row row(static_cast<size_t>(features + 1));
      if (features > 0) std::memcpy(row.data(), x.data() + r * features, static_cast<size_t>(features) * sizeof(float));
      std::memcpy(row.data() + features, y.data() + r, sizeof(float));
      rows.push_back(std::move(row));
    }
    if (n < want) break;  // fewer than asked only at the end of the epoch
  }
  // Once over, the epoch stays over.
  if (d.read(1, x, y) != 0 || x.shape() != myelin::Shape{0, features}) std::abort();
  return rows;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t pick = data[0], sizes = data[1], limits = data[2];
  myelin::data::CsvDatasetOptions o;
  static const char delimiters[] = {',', ';', '\t', ' '};
  o.delimiter = delimiters[pick & 3];
  o.header = (pick & 4) == 0;
  switch ((pick >> 4) & 3) {
    case 0: break;                         // last column
    case 1: o.target_index = 0; break;     // first column
    case 2: o.target_index = 1; break;     // second column (out of range for one column)
    case 3: o.target_column = "y"; break;  // by name (a ValueError without a header)
  }
  o.chunk_bytes = (sizes & 16) ? (sizes & 15) + 1 : o.chunk_bytes;
  o.shuffle_buffer = ((sizes >> 5) & 7) + 1;
  o.max_line_bytes = (limits & 64) ? (limits & 63) + 1 : o.max_line_bytes;
  const int first_piece = limits >> 7;

  const std::string& path = myelin_fuzz::input_file().write(data + 3, size - 3);
  bool read_once = false;
  try {
    myelin::data::CsvDataset d(path, o);
    const int64_t features = d.x_shape().at(0);
    if (d.y_shape() != myelin::Shape{1}) std::abort();
    if (static_cast<int64_t>(d.feature_names().size()) != features) std::abort();
    if (d.size() != -1) std::abort();  // unknown until a full pass

    // First epoch: read() without start_epoch reads the file in order.
    std::vector<Row> in_order = read_epoch(d, first_piece);
    if (d.size() != static_cast<int64_t>(in_order.size())) std::abort();
    read_once = true;

    // Second epoch, shuffled: the same rows, in some order.
    d.start_epoch(static_cast<uint64_t>(size), true);
    std::vector<Row> shuffled = read_epoch(d, first_piece + 1);
    if (d.size() != static_cast<int64_t>(in_order.size())) std::abort();
    std::sort(in_order.begin(), in_order.end());
    std::sort(shuffled.begin(), shuffled.end());
    if (in_order != shuffled) std::abort();
  } catch (const myelin::Error& e) {
    // The file does not change between epochs: one read whole once must read again.
    if (read_once) {
      std::fprintf(stderr, "second epoch failed after a clean first one: %s\n", e.what());
      std::abort();
    }
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
