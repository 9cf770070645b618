// libFuzzer target for myelin::data::IdxDataset (memory-mapped raw IDX image and label files).
// The input is split in two files:
//   bytes 0-1: big-endian length of the images file (cut to what is there);
//   byte 2:    add_channel (bit 0), scale 1 instead of 1/255 (bit 1), first of the odd read() sizes;
//   then the images file, then the labels file.
// Everything is read twice, in file order and shuffled; both epochs must hold the same rows.
// A myelin::Error is the expected answer to bad files; anything else (a crash, a sanitizer report,
// another exception, an allocation beyond -malloc_limit_mb) is a finding.
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

using Row = std::vector<uint32_t>;  // one row's image then label, as float bits (NaNs compare too)

std::vector<Row> read_epoch(myelin::data::IdxDataset& d, int first_piece) {
  static const int64_t pieces[] = {1, 3, 7, 2, 5, 64};
  const myelin::Shape sample = d.x_shape();
  // Bounded by the file's bytes, except after a leading 0 (no rows): then it may overflow.
  int64_t per_row = 1;
  bool overflow = false;
  for (int64_t s : sample) overflow = overflow || __builtin_mul_overflow(per_row, s, &per_row);
  myelin::Tensor x, y;
  std::vector<Row> rows;
  for (int i = first_piece;; ++i) {
    const int64_t want = pieces[i % 6];
    const int64_t n = d.read(want, x, y);
    if (n < 0 || n > want) std::abort();
    myelin::Shape expected{n};
    expected.insert(expected.end(), sample.begin(), sample.end());
    if (x.shape() != expected || y.shape() != myelin::Shape{n, 1}) std::abort();
    if (overflow && n > 0) std::abort();
    for (int64_t r = 0; r < n; ++r) {
      Row row(static_cast<size_t>(per_row + 1));
      if (per_row) std::memcpy(row.data(), x.data() + r * per_row, static_cast<size_t>(per_row) * sizeof(float));
      std::memcpy(row.data() + per_row, y.data() + r, sizeof(float));
      rows.push_back(std::move(row));
    }
    if (n < want) break;
  }
  if (d.read(1, x, y) != 0) std::abort();
  if (static_cast<int64_t>(rows.size()) != d.size()) std::abort();
  return rows;
}

// A second in-memory file: the first (myelin_fuzz::input_file) holds the images.
myelin_fuzz::InputFile& labels_file() {
  static myelin_fuzz::InputFile f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t images_bytes = std::min<size_t>((size_t{data[0]} << 8) | data[1], size - 3);
  const uint8_t pick = data[2];
  myelin::data::IdxDatasetOptions o;
  o.add_channel = (pick & 1) != 0;
  if (pick & 2) o.scale = 1.0f;
  const int first_piece = pick >> 2;

  const std::string& images = myelin_fuzz::input_file().write(data + 3, images_bytes);
  const std::string& labels = labels_file().write(data + 3 + images_bytes, size - 3 - images_bytes);
  bool read_once = false;
  try {
    myelin::data::IdxDataset d(images, labels, o);
    if (d.size() < 0 || d.y_shape() != myelin::Shape{1}) std::abort();
    if (o.add_channel && (d.x_shape().empty() || d.x_shape().back() != 1)) std::abort();

    std::vector<Row> in_order = read_epoch(d, first_piece);  // read() before start_epoch: file order
    read_once = true;
    d.start_epoch(static_cast<uint64_t>(size), true);
    std::vector<Row> shuffled = read_epoch(d, first_piece + 1);
    std::sort(in_order.begin(), in_order.end());
    std::sort(shuffled.begin(), shuffled.end());
    if (in_order != shuffled) std::abort();
  } catch (const myelin::Error& e) {
    // The files do not change between epochs: files read whole once must read again.
    if (read_once) {
      std::fprintf(stderr, "second epoch failed after a clean first one: %s\n", e.what());
      std::abort();
    }
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
