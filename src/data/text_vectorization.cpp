#include "myelin/data/text_vectorization.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "data/utf8.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/memory_limit.hpp"

namespace myelin::data {

namespace {

const std::string kPadding = "";
const std::string kOov = "[UNK]";
// Ids travel as float32, which holds every integer up to 2^24 exactly.
constexpr int64_t kMaxVocabulary = int64_t{1} << 24;
// Below this an output's size is not worth a look at the memory limit (which reads /proc).
constexpr int64_t kCheckMemoryBytes = int64_t{64} << 20;

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Keras's DEFAULT_STRIP_REGEX, [!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\'], is exactly the 32
// characters std::ispunct accepts in the C locale; tested byte by byte, so the locale cannot matter.
bool is_ascii_punctuation(char c) {
  const unsigned char b = static_cast<unsigned char>(c);
  return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) ||
         (b >= 0x7B && b <= 0x7E);
}

std::string quoted(const std::string& s) {
  constexpr size_t kShown = 40;
  return "'" + (s.size() <= kShown ? s : s.substr(0, kShown) + "...") + "'";
}

std::string prefix(const TextVectorizationOptions& o) {
  return "TextVectorization '" + o.name + "': ";
}

void check_options(const TextVectorizationOptions& o) {
  const std::string p = prefix(o);
  if (o.standardize && *o.standardize != "lower_and_strip_punctuation" && *o.standardize != "lower" &&
      *o.standardize != "strip_punctuation")
    throw ValueError(p + "standardize must be 'lower_and_strip_punctuation', 'lower', 'strip_punctuation' or "
                     "None, got '" + *o.standardize + "'");
  if (o.split && *o.split != "whitespace" && *o.split != "character")
    throw ValueError(p + "split must be 'whitespace', 'character' or None, got '" + *o.split + "'");
  if (o.output_mode != "int")
    throw ValueError(p + "output_mode '" + o.output_mode + "' is not supported by myelin (only 'int')");
  if (o.max_tokens && (*o.max_tokens < 3 || *o.max_tokens > kMaxVocabulary))
    throw ValueError(p + "max_tokens must be between 3 and 2^24 = " + std::to_string(kMaxVocabulary) +
                     " (it counts the padding and OOV tokens), got " + std::to_string(*o.max_tokens));
  if (o.output_sequence_length && *o.output_sequence_length < 1)
    throw ValueError(p + "output_sequence_length must be positive, got " + std::to_string(*o.output_sequence_length));
  if (o.max_text_bytes < 1)
    throw ValueError(p + "max_text_bytes must be positive, got " + std::to_string(o.max_text_bytes));
}

}  // namespace

TextVectorization::TextVectorization(TextVectorizationOptions options) : options_(std::move(options)) {
  check_options(options_);
  if (options_.vocabulary) {
    set_vocabulary(*options_.vocabulary);
    options_.vocabulary.reset();  // held once, in tokens_
  }
}

std::vector<std::string> TextVectorization::tokenize(std::string_view text, int64_t index) const {
  const std::string p = prefix(options_);
  if (int64_t(text.size()) > options_.max_text_bytes)
    throw ValueError(p + "text " + std::to_string(index) + " is " + std::to_string(text.size()) +
                     " bytes, over the limit of " + std::to_string(options_.max_text_bytes) +
                     " bytes per text (max_text_bytes)");
  const size_t bad = detail::utf8_invalid_offset(text);
  if (bad != std::string_view::npos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", unsigned(static_cast<unsigned char>(text[bad])));
    throw ValueError(p + "text " + std::to_string(index) + " is not valid UTF-8: byte " + hex + " at byte offset " +
                     std::to_string(bad));
  }

  const std::string& mode = options_.standardize ? *options_.standardize : kPadding;
  std::string s = (mode == "lower" || mode == "lower_and_strip_punctuation") ? detail::utf8_lower(text)
                                                                              : std::string(text);
  // ASCII bytes never occur inside a multi-byte UTF-8 sequence, so removing them keeps it valid.
  if (mode == "strip_punctuation" || mode == "lower_and_strip_punctuation")
    s.erase(std::remove_if(s.begin(), s.end(), is_ascii_punctuation), s.end());

  std::vector<std::string> tokens;
  if (!options_.split) {
    tokens.push_back(std::move(s));
  } else if (*options_.split == "whitespace") {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_ascii_space(s[i])) ++i;
      const size_t begin = i;
      while (i < s.size() && !is_ascii_space(s[i])) ++i;
      if (i > begin) tokens.emplace_back(s, begin, i - begin);
    }
  } else {  // "character": one token per code point
    size_t i = 0;
    char32_t cp;
    while (i < s.size()) {
      const size_t n = detail::utf8_decode(s, i, cp);  // valid: checked above
      tokens.emplace_back(s, i, n);
      i += n;
    }
  }
  return tokens;
}

void TextVectorization::adapt(const std::vector<std::string>& texts) {
  const std::string p = prefix(options_);
  if (has_input_vocabulary_)
    throw ValueError(p + "cannot adapt a layer given a fixed vocabulary (the vocabulary argument or set_vocabulary)");
  std::unordered_map<std::string, int64_t> counts;
  for (size_t i = 0; i < texts.size(); ++i)
    for (auto& t : tokenize(texts[i], int64_t(i)))
      if (t != kPadding && t != kOov) ++counts[std::move(t)];  // the reserved tokens are not learned
  if (counts.empty())
    throw ValueError(p + "adapt found no token in " + std::to_string(texts.size()) +
                     " texts: the vocabulary would hold only the padding and OOV tokens");

  std::vector<std::pair<const std::string*, int64_t>> order;
  order.reserve(counts.size());
  for (const auto& [token, n] : counts) order.emplace_back(&token, n);
  // Keras's order: count high to low, ties by the tokens' byte order high to low. The tokens are
  // distinct, so the order is total and does not depend on the hash map's.
  const auto before = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : *a.first > *b.first;
  };
  size_t keep = order.size();
  if (options_.max_tokens) keep = std::min(keep, size_t(*options_.max_tokens - 2));
  if (int64_t(keep) > kMaxVocabulary - 2)
    throw ValueError(p + "adapt found " + std::to_string(order.size()) + " distinct tokens, more than the 2^24 - 2 = " +
                     std::to_string(kMaxVocabulary - 2) + " whose ids float32 holds exactly: set max_tokens");
  std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(keep), order.end(), before);
  std::vector<std::string> tokens;
  tokens.reserve(keep);
  for (size_t i = 0; i < keep; ++i) tokens.push_back(*order[i].first);
  install(std::move(tokens));
}

void TextVectorization::set_vocabulary(const std::vector<std::string>& vocabulary) {
  const std::string p = prefix(options_);
  if (vocabulary.empty()) throw ValueError(p + "cannot set an empty vocabulary");
  // As Keras: a vocabulary that starts with the special tokens (get_vocabulary()'s form) drops them.
  const size_t start = (vocabulary.size() >= 2 && vocabulary[0] == kPadding && vocabulary[1] == kOov) ? 2 : 0;
  const int64_t size = int64_t(vocabulary.size() - start) + 2;
  const int64_t cap = options_.max_tokens ? *options_.max_tokens : kMaxVocabulary;
  if (size > cap)
    throw ValueError(p + "the vocabulary has " + std::to_string(size) + " tokens with the padding and OOV tokens, " +
                     "more than " + (options_.max_tokens ? "max_tokens = " : "2^24 = ") + std::to_string(cap));
  std::unordered_map<std::string_view, size_t> seen;
  seen.reserve(vocabulary.size());
  for (size_t i = start; i < vocabulary.size(); ++i) {
    const std::string& t = vocabulary[i];
    const std::string where = "vocabulary[" + std::to_string(i) + "]";
    if (t == kPadding)
      throw ValueError(p + where + " is the empty string, the padding token, which is reserved for id 0 "
                       "(it may only come first, followed by '[UNK]')");
    if (t == kOov)
      throw ValueError(p + where + " is '[UNK]', the OOV token, which is reserved for id 1 "
                       "(it may only come second, after '')");
    const size_t bad = detail::utf8_invalid_offset(t);
    if (bad != std::string_view::npos)
      throw ValueError(p + where + " is not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
    const auto [it, fresh] = seen.emplace(t, i);
    if (!fresh)
      throw ValueError(p + where + " repeats the token " + quoted(t) + " of vocabulary[" + std::to_string(it->second) +
                       "]");
  }
  install(std::vector<std::string>(vocabulary.begin() + std::ptrdiff_t(start), vocabulary.end()));
  has_input_vocabulary_ = true;
}

void TextVectorization::install(std::vector<std::string> tokens) {
  std::unordered_map<std::string, int64_t> index;
  index.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) index.emplace(tokens[i], int64_t(i) + 2);
  tokens_ = std::move(tokens);
  index_ = std::move(index);
}

std::vector<std::vector<int64_t>> TextVectorization::token_ids(const std::vector<std::string>& texts) const {
  if (tokens_.empty())
    throw ValueError(prefix(options_) + "has no vocabulary: call adapt() or give a vocabulary first");
  std::vector<std::vector<int64_t>> rows(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<std::string> tokens = tokenize(texts[i], int64_t(i));
    rows[i].reserve(tokens.size());
    for (const auto& t : tokens) {
      if (t.empty()) {
        rows[i].push_back(0);
        continue;
      }
      const auto it = index_.find(t);
      rows[i].push_back(it == index_.end() ? 1 : it->second);
    }
  }
  return rows;
}

Tensor TextVectorization::operator()(const std::vector<std::string>& texts) const {
  const std::vector<std::vector<int64_t>> rows = token_ids(texts);
  int64_t length = 0;
  if (options_.output_sequence_length) {
    length = *options_.output_sequence_length;
  } else {
    for (const auto& r : rows) length = std::max(length, int64_t(r.size()));
  }
  const int64_t batch = int64_t(rows.size());
  // A huge output_sequence_length, or one long text among many short ones, could ask for far more
  // memory than the texts take: check before allocating.
  if (batch > 0 && length > (INT64_MAX / 4) / batch)
    throw ResourceError(prefix(options_) + "an output of " + std::to_string(batch) + " x " + std::to_string(length) +
                        " ids is too large to address");
  const int64_t bytes = batch * length * 4;
  if (bytes > kCheckMemoryBytes) {
    const MemoryLimit limit = memory_limit();
    if (bytes > limit.bytes)
      throw ResourceError(prefix(options_) + "an output of " + shape_to_string({batch, length}) + " ids needs " +
                          format_bytes(double(bytes)) + ", more than the " + format_bytes(double(limit.bytes)) +
                          " left (" + limit.source + ")");
  }
  Tensor out(Shape{batch, length});
  float* o = out.data();
  for (int64_t i = 0; i < batch; ++i) {
    const auto& r = rows[size_t(i)];
    const int64_t n = std::min(length, int64_t(r.size()));
    for (int64_t j = 0; j < n; ++j) o[i * length + j] = float(r[size_t(j)]);
  }
  return out;
}

std::vector<std::string> TextVectorization::get_vocabulary(bool include_special_tokens) const {
  std::vector<std::string> v;
  v.reserve(tokens_.size() + 2);
  if (include_special_tokens) {
    v.push_back(kPadding);
    v.push_back(kOov);
  }
  v.insert(v.end(), tokens_.begin(), tokens_.end());
  return v;
}

nlohmann::json TextVectorization::get_config() const {
  const auto opt_string = [](const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(); };
  const auto opt_int = [](const std::optional<int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  nlohmann::json c = {
      {"name", options_.name},
      {"trainable", true},
      {"max_tokens", opt_int(options_.max_tokens)},
      {"standardize", opt_string(options_.standardize)},
      {"split", opt_string(options_.split)},
      {"ngrams", nullptr},
      {"output_mode", options_.output_mode},
      {"output_sequence_length", opt_int(options_.output_sequence_length)},
      {"pad_to_max_tokens", false},
      {"sparse", false},
      {"ragged", false},
      {"vocabulary", tokens_.empty() ? nlohmann::json() : nlohmann::json(tokens_)},
      {"idf_weights", nullptr},
      {"encoding", "utf-8"},
      {"vocabulary_size", vocabulary_size()},
      {"has_input_vocabulary", has_input_vocabulary_},
  };
  if (options_.max_text_bytes != TextVectorizationOptions{}.max_text_bytes) c["max_text_bytes"] = options_.max_text_bytes;
  return c;
}

TextVectorization TextVectorization::from_config(const nlohmann::json& config) {
  std::string who = "TextVectorization";
  if (!config.is_object()) throw ValueError(who + ": the config must be a JSON object, got " + config.dump());
  using io::config_value;
  TextVectorizationOptions o;
  o.name = config_value<std::string>(config, "name", o.name, who);
  who += " '" + o.name + "'";
  static const std::set<std::string> known = {
      "name", "trainable", "dtype", "max_tokens", "standardize", "split", "ngrams", "output_mode",
      "output_sequence_length", "pad_to_max_tokens", "sparse", "ragged", "vocabulary", "idf_weights", "encoding",
      "vocabulary_size", "has_input_vocabulary", "max_text_bytes"};
  for (const auto& [key, value] : config.items())
    if (!known.count(key)) throw ValueError(who + ": unknown config key '" + key + "'");

  const auto opt_string = [&](const char* key, std::optional<std::string> fallback) -> std::optional<std::string> {
    if (!config.contains(key)) return fallback;
    const auto& v = config[key];
    if (v.is_null()) return std::nullopt;
    if (!v.is_string())
      throw ValueError(who + ": config '" + key + "' must be a name or null, got " + v.dump() +
                       " (myelin supports no custom callables here)");
    return v.get<std::string>();
  };
  const auto opt_int = [&](const char* key) -> std::optional<int64_t> {
    if (!config.contains(key) || config[key].is_null()) return std::nullopt;
    return config_value<int64_t>(config, key, 0, who);
  };
  const auto must_be_unset = [&](const char* key) {
    if (!config.contains(key)) return;
    const auto& v = config[key];
    if (!v.is_null() && v != false) throw ValueError(who + ": config '" + key + "' = " + v.dump() + " is not supported by myelin");
  };
  o.max_tokens = opt_int("max_tokens");
  o.standardize = opt_string("standardize", o.standardize);
  o.split = opt_string("split", o.split);
  o.output_mode = config_value<std::string>(config, "output_mode", o.output_mode, who);
  o.output_sequence_length = opt_int("output_sequence_length");
  o.max_text_bytes = config_value<int64_t>(config, "max_text_bytes", o.max_text_bytes, who);
  for (const char* key : {"ngrams", "pad_to_max_tokens", "sparse", "ragged", "idf_weights"}) must_be_unset(key);
  config_value<bool>(config, "trainable", true, who);
  config_value<int64_t>(config, "vocabulary_size", 0, who);
  std::string encoding = config_value<std::string>(config, "encoding", "utf-8", who);
  std::transform(encoding.begin(), encoding.end(), encoding.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (encoding != "utf-8" && encoding != "utf8")
    throw ValueError(who + ": encoding '" + encoding + "' is not supported by myelin (only UTF-8)");

  const bool given = config_value<bool>(config, "has_input_vocabulary", true, who);
  std::optional<std::vector<std::string>> vocabulary;
  if (config.contains("vocabulary") && !config["vocabulary"].is_null()) {
    const auto& v = config["vocabulary"];
    if (v.is_string())
      throw ValueError(who + ": config 'vocabulary' names a file (" + quoted(v.get<std::string>()) +
                       "); a config never makes myelin read a file: read it with read_vocabulary_file and pass the list");
    if (!v.is_array()) throw ValueError(who + ": config 'vocabulary' must be a list of strings, got " + v.dump());
    vocabulary.emplace();
    vocabulary->reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string())
        throw ValueError(who + ": config 'vocabulary'[" + std::to_string(i) + "] must be a string, got " + v[i].dump());
      vocabulary->push_back(v[i].get<std::string>());
    }
  }
  check_options(o);
  TextVectorization layer(o);
  if (vocabulary) {
    layer.set_vocabulary(*vocabulary);
    layer.has_input_vocabulary_ = given;  // an adapted vocabulary saved in the config may be adapted again
  }
  return layer;
}

}  // namespace myelin::data
