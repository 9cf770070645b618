// libFuzzer target for myelin::model_from_json (the architecture JSON, as Keras's model.to_json()).
// model_from_json builds the model when the JSON gives its input shape, and a JSON may legitimately
// describe a model of any size; so, as load_model does for files, the target caps the tensor storage
// that building may allocate (64 MiB): an architecture beyond it fails with myelin's IOError, from
// the layers' plans before anything is allocated (model_memory.hpp), instead of exhausting memory.
// Sequential and functional configs (Keras 3's and Keras 2's forms) both go through it.
// A myelin::Error is the expected answer; anything else is a finding.
#include <cstdint>
#include <string>

#include "fuzz_input.hpp"
#include "myelin/error.hpp"
#include "myelin/io/model_io.hpp"
#include "tensor_budget.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    myelin::TensorBudget budget(int64_t(64) << 20, "fuzzed model JSON");
    myelin::Model model = myelin::model_from_json(text);
    (void)model;
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
