// TextVectorization: turns a batch of UTF-8 strings into rows of token ids, as Keras 3's
// keras.layers.TextVectorization with output_mode="int".
//
// It is not a graph Layer: myelin's graph carries float32 tensors, and strings cannot travel
// through it. It runs on the data before the model, or, as Keras's
// Sequential([Input(shape=(1,), dtype="string"), vectorizer, ...]), at the front of a model that
// carries it (Model::set_text_vectorization): that model fits, evaluates and predicts on strings, and
// its saved file keeps the vocabulary. Its output, a {batch, length} Tensor of ids, is what an
// embedding takes; ids travel as float32, exact because the vocabulary is capped at 2^24 tokens.
//
// The steps for each text, in Keras's order:
//  1. standardize:
//     - "lower": lowercases A-Z, the Latin-1 capitals U+00C0-U+00DE (not U+00D7 ×), Latin
//       Extended-A U+0100-U+017F (pairs; U+0130 İ -> i, U+0178 Ÿ -> ÿ), Greek U+0386-U+03AB and
//       Cyrillic U+0400-U+042F, by Unicode's simple one-to-one mapping. Everything else stays
//       as it is (ß, ǅ, Armenian, ...). Keras lowercases ASCII only (tf.strings.lower without an
//       encoding): on ASCII text the two agree.
//     - "strip_punctuation": removes the 32 ASCII punctuation characters
//       !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ (Keras's DEFAULT_STRIP_REGEX); other punctuation
//       (« » — …) stays.
//     - "lower_and_strip_punctuation" (the default): lower, then strip; nullopt: neither.
//  2. split:
//     - "whitespace" (the default): on runs of ASCII whitespace (space, \t \n \v \f \r), no empty
//       tokens (tf.strings.split); a no-break space U+00A0 does not split.
//     - "character": one token per Unicode code point, spaces included (tf.strings.unicode_split).
//     - nullopt: the whole (standardized) text is one token.
//  3. look up: "" (the padding token) -> 0, a token outside the vocabulary -> 1 ("[UNK]"), the
//     vocabulary's i-th token -> i + 2.
//  4. pad with 0 or truncate to output_sequence_length; without it, to the batch's longest row.
//
// adapt() counts tokens and keeps them by descending count, ties broken by descending byte order
// of the tokens (Keras sorts with np.lexsort((tokens, counts))[::-1]: "ties broken by sort order
// of the tokens (high to low)"; for UTF-8 byte order is code point order). max_tokens counts the
// padding and OOV tokens, so adapt keeps max_tokens - 2 learned tokens.
//
// Text is UTF-8, checked strictly (no overlong forms, surrogates or code points past U+10FFFF):
// invalid bytes are a ValueError naming the text's index and byte offset, where Keras would pass
// them through or replace them. A text longer than max_text_bytes is refused (Keras has no limit).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "myelin/tensor.hpp"

namespace myelin::data {

/// Keras's keyword arguments of TextVectorization that myelin supports, with its defaults.
struct TextVectorizationOptions {
  /// Largest vocabulary, counting "" and "[UNK]"; at least 3. nullopt: no cap (but 2^24 at most).
  std::optional<int64_t> max_tokens;
  /// "lower_and_strip_punctuation", "lower", "strip_punctuation", or nullopt for none.
  std::optional<std::string> standardize = "lower_and_strip_punctuation";
  /// "whitespace", "character", or nullopt for none.
  std::optional<std::string> split = "whitespace";
  /// Only "int" (one id per token).
  std::string output_mode = "int";
  /// Row length of every output (pad with 0 / truncate); nullopt: the batch's longest row.
  std::optional<int64_t> output_sequence_length;
  /// A fixed vocabulary (no adapt then): tokens in id order from 2, optionally preceded by the
  /// pair "", "[UNK]" (as get_vocabulary() returns it). read_vocabulary_file reads Keras's
  /// `vocabulary=path` files.
  std::optional<std::vector<std::string>> vocabulary;
  /// Longest text accepted, in bytes (myelin's; Keras has none): a longer one is a ValueError.
  int64_t max_text_bytes = int64_t{1} << 20;
  std::string name = "text_vectorization";
};

class TextVectorization {
 public:
  /// Throws ValueError for an unknown standardize, split or output_mode, max_tokens below 3,
  /// output_sequence_length below 1, max_text_bytes below 1, or a bad vocabulary (see set_vocabulary).
  explicit TextVectorization(TextVectorizationOptions options = {});

  /// Learns the vocabulary from `texts` (replacing an earlier one). Throws ValueError if the layer
  /// was given a vocabulary (as Keras), for a text that is invalid UTF-8 or too long (naming its
  /// index), if the texts hold no token at all, or if the vocabulary would exceed 2^24 tokens
  /// (set max_tokens).
  void adapt(const std::vector<std::string>& texts);

  /// Maps each text to its token ids: a {texts.size(), length} Tensor of float ids (exact integers).
  /// Throws ValueError before any vocabulary is set, for an invalid or too long text (naming its
  /// index); ResourceError if the padded output would not fit in this process's memory.
  Tensor operator()(const std::vector<std::string>& texts) const;
  /// The same ids, row by row, without padding or truncation.
  std::vector<std::vector<int64_t>> token_ids(const std::vector<std::string>& texts) const;

  /// Replaces the vocabulary: tokens in id order from 2, with or without a leading "", "[UNK]".
  /// Throws ValueError naming the index for an empty list, a repeated token, "" or "[UNK]"
  /// elsewhere, invalid UTF-8, or more tokens than max_tokens (or 2^24) allows.
  void set_vocabulary(const std::vector<std::string>& vocabulary);

  /// "", "[UNK]", then the tokens by id (without the first two if include_special_tokens is false).
  std::vector<std::string> get_vocabulary(bool include_special_tokens = true) const;
  /// Size of get_vocabulary(): the number of distinct ids the layer outputs (2 before any vocabulary).
  int64_t vocabulary_size() const { return int64_t(tokens_.size()) + 2; }
  const TextVectorizationOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }

  /// The tokens one text standardizes and splits into (what adapt counts and the call looks up).
  /// `index` only names the text in errors.
  std::vector<std::string> tokenize(std::string_view text, int64_t index = 0) const;

  /// Keras 3's get_config(): max_tokens, standardize, split, ngrams (null), output_mode,
  /// output_sequence_length, pad_to_max_tokens (false), sparse (false), ragged (false), vocabulary
  /// (the tokens without "" and "[UNK]", or null before any), idf_weights (null), encoding
  /// ("utf-8"), vocabulary_size, has_input_vocabulary (Keras's hidden key: whether the vocabulary
  /// was given rather than adapted), name, trainable; max_text_bytes only when not the default.
  /// Unlike Keras, which saves an adapted vocabulary as a separate asset, the config carries it.
  nlohmann::json get_config() const;
  /// A layer from get_config()'s dict (Keras's too). Throws ValueError naming the key for a value
  /// of the wrong type, and for options myelin does not support (ngrams, pad_to_max_tokens,
  /// sparse, ragged, idf_weights, an encoding other than UTF-8, output_mode other than "int").
  static TextVectorization from_config(const nlohmann::json& config);

 private:
  void install(std::vector<std::string> tokens);

  TextVectorizationOptions options_;
  bool has_input_vocabulary_ = false;
  std::vector<std::string> tokens_;                    // learned or given tokens, id - 2 -> token
  std::unordered_map<std::string, int64_t> index_;     // token -> id
};

/// Reads a vocabulary file as Keras's `vocabulary=path` takes it: one token per line, "\n" or
/// "\r\n" line ends, in id order from 2. As Keras's own vocabulary asset (written by
/// get_vocabulary()), the file may begin with the special tokens: an empty line 1 and "[UNK]" on
/// line 2 are skipped. Empty lines at the end are ignored; a UTF-8 byte-order mark is skipped.
/// gzip-compressed files are read too. Throws IOError naming the file and the 1-based line for an
/// empty line, invalid UTF-8 (with the byte offset in the line), a repeated token (naming the line
/// of its first occurrence), "[UNK]" past line 2, a line longer than max_line_bytes, more than 2^24
/// tokens, or a file without any token; IOError if the file cannot be read.
std::vector<std::string> read_vocabulary_file(const std::string& path, int64_t max_line_bytes = int64_t{1} << 20);
/// The same rules on a vocabulary held in memory (Keras's vocabulary.txt asset inside a .keras
/// file): `where` names it in the IOErrors, as "'model.keras' (assets/.../vocabulary.txt)".
std::vector<std::string> parse_vocabulary(std::string_view text, const std::string& where,
                                          int64_t max_line_bytes = int64_t{1} << 20);

}  // namespace myelin::data

namespace myelin::layers {
/// The Keras name: `layers::TextVectorization`. It lives in data/ because it runs before the model.
using data::TextVectorization;
using data::TextVectorizationOptions;
}  // namespace myelin::layers
