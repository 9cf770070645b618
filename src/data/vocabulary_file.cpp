// read_vocabulary_file: the one-token-per-line files Keras's `vocabulary=path` and its saved
// vocabulary assets use (declared in myelin/data/text_vectorization.hpp).
#include <string_view>
#include <unordered_map>

#include "data/file_reader.hpp"
#include "data/utf8.hpp"
#include "myelin/data/text_vectorization.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

namespace {
// As TextVectorization: ids travel as float32, exact up to 2^24; two ids are the special tokens.
constexpr int64_t kMaxTokens = (int64_t{1} << 24) - 2;
}  // namespace

namespace {

// The rules of a vocabulary file, fed one line at a time (without its line end); `where` names the
// file in errors.
class VocabularyLines {
 public:
  explicit VocabularyLines(std::string where) : where_(std::move(where)) {}

  void add(std::string line, int64_t n) {
    if (n == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (line.empty()) {
      // Empty lines are the padding token: allowed as line 1 (before "[UNK]") and at the very end.
      if (empty_run_start_ == 0) empty_run_start_ = n;
      return;
    }
    if (empty_run_start_ != 0) {
      if (!(empty_run_start_ == 1 && n == 2 && line == "[UNK]"))
        throw IOError(at(empty_run_start_) +
                      "empty line: the empty token is the padding token, reserved for id 0 (only Keras's "
                      "saved form, an empty line 1 followed by '[UNK]', may hold it)");
      empty_run_start_ = 0;  // Keras's saved form: line 1 empty, line 2 "[UNK]"
      return;
    }
    if (line == "[UNK]")
      throw IOError(at(n) + "'[UNK]' is the OOV token, reserved for id 1 (it may only be line 2, after an empty line 1)");
    const size_t bad = detail::utf8_invalid_offset(line);
    if (bad != std::string_view::npos)
      throw IOError(at(n) + "not valid UTF-8 at byte " + std::to_string(bad) + " of the line");
    const auto [it, fresh] = first_line_.emplace(line, n);
    if (!fresh)
      throw IOError(at(n) + "repeats the token '" + (line.size() <= 40 ? line : line.substr(0, 40) + "...") +
                    "' of line " + std::to_string(it->second));
    if (int64_t(tokens_.size()) == kMaxTokens)
      throw IOError(at(n) + "more than 2^24 - 2 = " + std::to_string(kMaxTokens) +
                    " tokens, the most whose ids float32 holds exactly");
    tokens_.push_back(std::move(line));
  }

  std::vector<std::string> finish() {
    if (tokens_.empty()) throw IOError(where_ + ": no token in the vocabulary file");
    return std::move(tokens_);
  }

 private:
  std::string at(int64_t line) const { return where_ + ", line " + std::to_string(line) + ": "; }

  std::string where_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> first_line_;  // token -> the line it was first on
  int64_t empty_run_start_ = 0;  // first line of the current run of empty lines (0: none)
};

}  // namespace

std::vector<std::string> read_vocabulary_file(const std::string& path, int64_t max_line_bytes) {
  if (max_line_bytes < 1) throw ValueError("read_vocabulary_file: max_line_bytes must be positive");
  detail::LineReader lines(path, size_t(max_line_bytes));
  VocabularyLines vocabulary("'" + path + "'");
  std::string line;
  while (lines.next(line)) vocabulary.add(std::move(line), lines.line_number());
  return vocabulary.finish();
}

std::vector<std::string> parse_vocabulary(std::string_view text, const std::string& where, int64_t max_line_bytes) {
  if (max_line_bytes < 1) throw ValueError("parse_vocabulary: max_line_bytes must be positive");
  VocabularyLines vocabulary(where);
  int64_t n = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (int64_t(line.size()) > max_line_bytes)
      throw IOError(where + ", line " + std::to_string(n + 1) + ": longer than " + std::to_string(max_line_bytes) + " bytes");
    vocabulary.add(std::string(line), ++n);
  }
  return vocabulary.finish();
}

}  // namespace myelin::data
