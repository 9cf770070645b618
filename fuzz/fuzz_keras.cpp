// libFuzzer target for Keras 3's .keras reader (myelin::io::load_keras): the zip (libzip, with
// myelin's limits on entry names, sizes and ratios), config.json, and model.weights.h5 read from
// memory through HDF5 at the paths Keras's layout names. Architectures are capped by the same
// budget load_keras applies. A myelin::Error is the expected answer to a bad file; anything else is
// a finding.
#include <cstdint>

#include "fuzz_input.hpp"
#include "io/keras_file.hpp"
#include "myelin/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = myelin_fuzz::input_file().write(data, size);
  try {
    myelin::Model model = myelin::io::load_keras(path);
    (void)model;
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
