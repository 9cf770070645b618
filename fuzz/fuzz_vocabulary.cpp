// libFuzzer target for myelin::data::read_vocabulary_file (TextVectorization's vocabulary files,
// plain or gzip-compressed). The first input byte picks the line limit, so that overlong lines are
// reached by small inputs; the rest is the file. What the reader accepts must make a working layer:
// distinct, non-empty, valid UTF-8 tokens whose ids a call returns. A myelin::Error is the expected
// answer to a bad file; anything else is a finding.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "data/utf8.hpp"
#include "fuzz_input.hpp"
#include "myelin/data/text_vectorization.hpp"
#include "myelin/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int64_t max_line_bytes = (data[0] & 1) ? 1 + (data[0] >> 1) : int64_t{1} << 20;
  const std::string& path = myelin_fuzz::input_file().write(data + 1, size - 1);
  try {
    const std::vector<std::string> tokens = myelin::data::read_vocabulary_file(path, max_line_bytes);
    std::set<std::string> distinct;
    for (const auto& t : tokens) {
      if (t.empty() || t == "[UNK]" || int64_t(t.size()) > max_line_bytes) std::abort();
      if (myelin::data::detail::utf8_invalid_offset(t) != std::string::npos) std::abort();
      if (!distinct.insert(t).second) std::abort();
    }
    // Each token looked up whole (no standardization or split) must come back as its own id.
    myelin::data::TextVectorizationOptions o;
    o.standardize = std::nullopt;
    o.split = std::nullopt;
    o.vocabulary = tokens;
    const myelin::data::TextVectorization layer(o);
    if (layer.vocabulary_size() != int64_t(tokens.size()) + 2) std::abort();
    const size_t probe = tokens.size() < 64 ? tokens.size() : 64;
    const std::vector<std::string> texts(tokens.begin(), tokens.begin() + std::ptrdiff_t(probe));
    const myelin::Tensor ids = layer(texts);
    for (size_t i = 0; i < probe; ++i)
      if (ids.at(int64_t(i), 0) != float(i + 2)) std::abort();
  } catch (const myelin::Error& e) {
    myelin_fuzz::note_error(e.what());
  }
  return 0;
}
