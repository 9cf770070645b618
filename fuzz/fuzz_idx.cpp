// libFuzzer target for myelin::data::read_idx (raw and gzip-compressed IDX files).
// A myelin::Error is the expected answer to a bad file; anything else (a crash, a sanitizer report,
// another exception, an allocation beyond -malloc_limit_mb) is a finding.
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "myelin/data/idx.hpp"
#include "myelin/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = myelin_fuzz::input_file().write(data, size);
  try {
    const myelin::Tensor t = myelin::data::read_idx(path);
    // A file that reads must hold what its header says: the element count fits the bytes given
    // (1 to 8 bytes per element after a header of at least 8 bytes), unless gzip expanded it.
    if (size >= 2 && !(data[0] == 0x1f && data[1] == 0x8b) && uint64_t(t.size()) > size) std::abort();
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
