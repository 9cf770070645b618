// libFuzzer target for the model file: myelin::io::read_safetensors (8-byte length, JSON header,
// raw data) and, when that succeeds, myelin::load_model on the same bytes (the architecture and
// compile settings in __metadata__, the weights checked against the built model).
// A myelin::Error is the expected answer to a bad file; anything else is a finding.
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "myelin/error.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = myelin_fuzz::input_file().write(data, size);
  try {
    const myelin::io::SafetensorsFile f = myelin::io::read_safetensors(path);
    // The tensors' data came from the file: together they cannot exceed it.
    uint64_t bytes = 0;
    for (const auto& [name, t] : f.tensors) bytes += uint64_t(t.size()) * 4;
    if (bytes > size) std::abort();
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
    return 0;
  }
  try {
    myelin::Sequential model = myelin::load_model(path);
    (void)model;
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
