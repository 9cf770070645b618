// libFuzzer target for myelin::data::read_csv (plain and gzip-compressed CSV files).
// The first input byte picks the reader's options (delimiter, header, target), the rest is the file,
// so the fuzzer explores the option combinations too. A myelin::Error (IOError for a bad file,
// ValueError for options the file contradicts) is the expected answer; anything else is a finding.
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "myelin/data/csv.hpp"
#include "myelin/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t pick = data[0];
  myelin::data::CsvOptions o;
  static const char delimiters[] = {',', ';', '\t', ' '};
  o.delimiter = delimiters[pick & 3];
  o.header = (pick & 4) == 0;
  o.skip_rows = (pick >> 3) & 1;
  switch ((pick >> 4) & 3) {
    case 0: break;                         // last column
    case 1: o.target_index = 0; break;     // first column
    case 2: o.no_target = true; break;     // features only
    case 3: o.target_column = "y"; break;  // by name (a ValueError without a header)
  }
  const std::string& path = myelin_fuzz::input_file().write(data + 1, size - 1);
  try {
    const myelin::data::CsvData d = myelin::data::read_csv(path, o);
    // What was read must be consistent: as many target rows as feature rows.
    if (d.x.shape().size() != 2 || d.y.shape().size() != 2 || d.x.shape()[0] != d.y.shape()[0]) std::abort();
    if (int64_t(d.feature_names.size()) != d.x.shape()[1]) std::abort();
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
