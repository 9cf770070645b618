// Tests of TextVectorization (Keras's text preprocessing layer) and of the vocabulary file reader:
// vocabularies worked out by hand, Keras's documented example, the text handling (lowercasing,
// punctuation, UTF-8 code points) and the errors bad input must give.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/file_reader.hpp"
#include "expect_error.hpp"
#include "myelin/data/text_vectorization.hpp"
#include "myelin/error.hpp"

namespace fs = std::filesystem;
using myelin::IOError;
using myelin::ResourceError;
using myelin::Shape;
using myelin::Tensor;
using myelin::ValueError;
using myelin::data::read_vocabulary_file;
using myelin::data::TextVectorization;
using myelin::data::TextVectorizationOptions;
using myelin::test::expect_error;

namespace {

using Strings = std::vector<std::string>;
using Values = std::vector<float>;

TextVectorization with_vocabulary(Strings vocabulary, TextVectorizationOptions o = {}) {
  o.vocabulary = std::move(vocabulary);
  return TextVectorization(o);
}

Strings tokens(const std::optional<std::string>& standardize, const std::optional<std::string>& split,
               const std::string& text) {
  TextVectorizationOptions o;
  o.standardize = standardize;
  o.split = split;
  return TextVectorization(o).tokenize(text);
}

// Keras's own docstring example: adapt(["foo bar", "bar baz", "baz bada boom"]) then
// [["foo qux bar"], ["qux baz"]] -> [[4, 1, 3, 0], [1, 2, 0, 0]]. Counts: bar 2, baz 2, then
// foo, bada, boom once each; ties go by the tokens, high to low: baz before bar, foo > boom > bada.
TEST(TextVectorization, ReproducesKerasDocumentedExample) {
  TextVectorization layer({.max_tokens = 5000, .output_sequence_length = 4});
  layer.adapt({"foo bar", "bar baz", "baz bada boom"});
  EXPECT_EQ(layer.get_vocabulary(), (Strings{"", "[UNK]", "baz", "bar", "foo", "boom", "bada"}));
  EXPECT_EQ(layer.vocabulary_size(), 7);
  const Tensor y = layer({"foo qux bar", "qux baz"});
  EXPECT_EQ(y.shape(), (Shape{2, 4}));
  EXPECT_EQ(y.to_vector(), (Values{4, 1, 3, 0, 1, 2, 0, 0}));
}

// Counts: the 3, a 2, cat 2, sat 1, on 1, mat 1 -> the, then the tie cat > a, then sat > on > mat.
TEST(TextVectorization, AdaptOrdersByCountThenTokenDescending) {
  TextVectorization layer;
  layer.adapt({"The cat sat", "on the mat", "a cat, a THE"});
  EXPECT_EQ(layer.get_vocabulary(), (Strings{"", "[UNK]", "the", "cat", "a", "sat", "on", "mat"}));
  EXPECT_EQ(layer.get_vocabulary(false), (Strings{"the", "cat", "a", "sat", "on", "mat"}));
  // Adapting again replaces the vocabulary.
  layer.adapt({"b b a"});
  EXPECT_EQ(layer.get_vocabulary(), (Strings{"", "[UNK]", "b", "a"}));
}

TEST(TextVectorization, MaxTokensCountsThePaddingAndOovTokens) {
  TextVectorization layer({.max_tokens = 4});
  layer.adapt({"x y y z z z", "w w w w"});  // w 4, z 3, y 2, x 1
  EXPECT_EQ(layer.get_vocabulary(), (Strings{"", "[UNK]", "w", "z"}));
  EXPECT_EQ(layer.vocabulary_size(), 4);
  EXPECT_EQ(layer({"w x y z"}).to_vector(), (Values{2, 1, 1, 3}));
  // A cap larger than what was found keeps everything.
  TextVectorization wide({.max_tokens = 100});
  wide.adapt({"x y y"});
  EXPECT_EQ(wide.get_vocabulary(), (Strings{"", "[UNK]", "y", "x"}));
}

TEST(TextVectorization, AdaptSkipsTheReservedTokens) {
  // Without standardization "[UNK]" survives splitting; Keras removes it (and "") from the counts.
  TextVectorization layer({.standardize = std::nullopt});
  layer.adapt({"[UNK] b [UNK] [UNK]"});
  EXPECT_EQ(layer.get_vocabulary(), (Strings{"", "[UNK]", "b"}));
  // split=None: each text is one token, and an empty text is the padding token.
  TextVectorization whole({.split = std::nullopt});
  whole.adapt({"", "Red wine", "red wine!", "beer"});
  EXPECT_EQ(whole.get_vocabulary(), (Strings{"", "[UNK]", "red wine", "beer"}));
  const Tensor y = whole({"RED WINE", "", "water"});
  EXPECT_EQ(y.shape(), (Shape{3, 1}));
  EXPECT_EQ(y.to_vector(), (Values{2, 0, 1}));
}

TEST(TextVectorization, StandardizeModes) {
  const std::string text = "Hello, World! It's 3:30.";
  EXPECT_EQ(tokens("lower_and_strip_punctuation", "whitespace", text), (Strings{"hello", "world", "its", "330"}));
  EXPECT_EQ(tokens("lower", "whitespace", text), (Strings{"hello,", "world!", "it's", "3:30."}));
  EXPECT_EQ(tokens("strip_punctuation", "whitespace", text), (Strings{"Hello", "World", "Its", "330"}));
  EXPECT_EQ(tokens(std::nullopt, "whitespace", text), (Strings{"Hello,", "World!", "It's", "3:30."}));
  // Keras's DEFAULT_STRIP_REGEX is all 32 ASCII punctuation characters; other punctuation stays.
  EXPECT_EQ(tokens("strip_punctuation", "whitespace", "a!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~b «c» d—e"),
            (Strings{"ab", "«c»", "d—e"}));
  // Punctuation alone leaves nothing: no empty tokens.
  EXPECT_EQ(tokens("lower_and_strip_punctuation", "whitespace", " ... !! "), Strings{});
}

TEST(TextVectorization, LowercasesLatinGreekAndCyrillicLetters) {
  const auto lower = [](const std::string& s) { return tokens("lower", std::nullopt, s).at(0); };
  EXPECT_EQ(lower("ÉCOLE Äpfel ÇA ÑANDÚ ÞORN"), "école äpfel ça ñandú þorn");
  EXPECT_EQ(lower("STRASSE Straße ẞ"), "strasse straße ẞ");  // ß has no one-letter capital; ẞ is not mapped
  EXPECT_EQ(lower("× ÷ Ø"), "× ÷ ø");                         // U+00D7 is a sign, not a letter
  EXPECT_EQ(lower("ŁÓDŹ ŻÓŁW ČEŠTINA ŐRÜLT Ÿ ĲSSEL Ŋ ĹĽ"), "łódź żółw čeština őrült ÿ ĳssel ŋ ĺľ");
  EXPECT_EQ(lower("İstanbul ıi ĸ ŉ ſ"), "istanbul ıi ĸ ŉ ſ");  // small letters without capitals stay
  EXPECT_EQ(lower("ΑΘΗΝΑ Ώρα Ϊ"), "αθηνα ώρα ϊ");
  EXPECT_EQ(lower("МОСКВА ЁЖ Ђ"), "москва ёж ђ");
  EXPECT_EQ(lower("ԱՐԱՐԱՏ ǅ"), "ԱՐԱՐԱՏ ǅ");  // outside the documented ranges: unchanged
}

TEST(TextVectorization, CharacterSplitGivesCodePointsNotBytes) {
  // 1-, 2-, 3- and 4-byte code points; the space is a token too (tf.strings.unicode_split).
  EXPECT_EQ(tokens(std::nullopt, "character", "añ €😀"), (Strings{"a", "ñ", " ", "€", "😀"}));
  EXPECT_EQ(tokens("lower_and_strip_punctuation", "character", "É!é"), (Strings{"é", "é"}));

  TextVectorization layer({.split = "character"});
  layer.adapt({"ééa", "😀é"});  // é 3, then the tie: 😀 (F0...) > a
  EXPECT_EQ(layer.get_vocabulary(), (Strings{"", "[UNK]", "é", "😀", "a"}));
  EXPECT_EQ(layer({"É😀b"}).to_vector(), (Values{2, 3, 1}));
}

TEST(TextVectorization, WhitespaceSplitUsesAsciiWhitespaceOnly) {
  EXPECT_EQ(tokens(std::nullopt, "whitespace", "\t a  b\n\r\v\fc "), (Strings{"a", "b", "c"}));
  // A no-break space (U+00A0) is part of the token, as in tf.strings.split.
  EXPECT_EQ(tokens(std::nullopt, "whitespace", "a\u00A0b c"), (Strings{"a\u00A0b", "c"}));
}

TEST(TextVectorization, OutputSequenceLengthPadsAndTruncates) {
  auto layer = with_vocabulary({"a", "b", "c"}, {.output_sequence_length = 3});
  const Tensor y = layer({"a", "c b a c b", "", "b zz"});
  EXPECT_EQ(y.shape(), (Shape{4, 3}));
  EXPECT_EQ(y.to_vector(), (Values{2, 0, 0, 4, 3, 2, 0, 0, 0, 3, 1, 0}));
}

TEST(TextVectorization, WithoutSequenceLengthPadsToTheLongestRow) {
  auto layer = with_vocabulary({"a", "b"});
  const Tensor y = layer({"b", "a x b a", "x"});
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(y.to_vector(), (Values{3, 0, 0, 0, 2, 1, 3, 2, 1, 0, 0, 0}));
  EXPECT_EQ(layer({"", "  "}).shape(), (Shape{2, 0}));
  EXPECT_EQ(layer({}).shape(), (Shape{0, 0}));
  EXPECT_EQ(layer.token_ids({"a x", ""}), (std::vector<std::vector<int64_t>>{{2, 1}, {}}));
}

TEST(TextVectorization, GivenVocabularyWithOrWithoutSpecialTokens) {
  auto plain = with_vocabulary({"earth", "wind", "and", "fire"});
  EXPECT_EQ(plain.get_vocabulary(), (Strings{"", "[UNK]", "earth", "wind", "and", "fire"}));
  auto full = with_vocabulary({"", "[UNK]", "earth", "wind"});
  EXPECT_EQ(full.get_vocabulary(), (Strings{"", "[UNK]", "earth", "wind"}));
  EXPECT_EQ(full({"wind and earth"}).to_vector(), (Values{3, 1, 2}));
  // A fixed vocabulary is not adapted (Keras refuses too).
  expect_error<ValueError>([&] { full.adapt({"a"}); }, {"cannot adapt", "fixed vocabulary"});
}

TEST(TextVectorization, BadVocabulariesNameTheEntry) {
  expect_error<ValueError>([] { with_vocabulary({}); }, {"empty vocabulary"});
  expect_error<ValueError>([] { with_vocabulary({"a", "b", "a"}); }, {"vocabulary[2]", "'a'", "vocabulary[0]"});
  expect_error<ValueError>([] { with_vocabulary({"a", ""}); }, {"vocabulary[1]", "padding token"});
  expect_error<ValueError>([] { with_vocabulary({"a", "[UNK]"}); }, {"vocabulary[1]", "OOV token"});
  expect_error<ValueError>([] { with_vocabulary({"a", "b\xC3"}); }, {"vocabulary[1]", "UTF-8", "byte offset 1"});
  expect_error<ValueError>([] { with_vocabulary({"a", "b", "c"}, {.max_tokens = 4}); }, {"5 tokens", "max_tokens = 4"});
}

TEST(TextVectorization, InvalidUtf8NamesTheTextAndByteOffset) {
  TextVectorization layer;
  expect_error<ValueError>([&] { layer.adapt({"fine", "ab\xFF" "cd"}); }, {"text 1", "UTF-8", "0xFF", "byte offset 2"});
  auto fixed = with_vocabulary({"a"});
  expect_error<ValueError>([&] { fixed({"a", "b", "abc\xE2\x82"}); }, {"text 2", "byte offset 3"});  // truncated
  expect_error<ValueError>([&] { fixed({"\xC0\xAF"}); }, {"text 0", "byte offset 0"});             // overlong '/'
  expect_error<ValueError>([&] { fixed({"x\xED\xA0\x80"}); }, {"text 0", "byte offset 1"});        // a surrogate
  expect_error<ValueError>([&] { fixed({"\xF4\x90\x80\x80"}); }, {"byte offset 0"});               // past U+10FFFF
  expect_error<ValueError>([&] { fixed({"ok \x80"}); }, {"byte offset 3", "0x80"});                // stray continuation
}

TEST(TextVectorization, RefusesATextOverTheByteLimit) {
  const std::string line(10 << 20, 'a');  // a 10 MiB line
  TextVectorization layer;
  expect_error<ValueError>([&] { layer.adapt({"short", line}); },
                           {"text 1", "10485760 bytes", "1048576", "max_text_bytes"});
  auto fixed = with_vocabulary({"a"}, {.max_text_bytes = 4});
  expect_error<ValueError>([&] { fixed({"abcd", "abcde"}); }, {"text 1", "5 bytes", "limit of 4"});
}

TEST(TextVectorization, AdaptWithoutAnyTokenIsAnError) {
  TextVectorization layer;
  expect_error<ValueError>([&] { layer.adapt({"", "   ", "?!"}); }, {"no token", "3 texts"});
  expect_error<ValueError>([&] { layer.adapt({}); }, {"no token", "0 texts"});
  expect_error<ValueError>([&] { layer({"a"}); }, {"no vocabulary", "adapt"});
}

TEST(TextVectorization, BadOptionsAreValueErrors) {
  expect_error<ValueError>([] { TextVectorization({.standardize = "upper"}); }, {"standardize", "'upper'"});
  expect_error<ValueError>([] { TextVectorization({.split = "comma"}); }, {"split", "'comma'"});
  expect_error<ValueError>([] { TextVectorization({.output_mode = "count"}); }, {"output_mode", "'count'", "only 'int'"});
  expect_error<ValueError>([] { TextVectorization({.max_tokens = 2}); }, {"max_tokens", "got 2"});
  expect_error<ValueError>([] { TextVectorization({.max_tokens = (int64_t{1} << 24) + 1}); }, {"max_tokens", "2^24"});
  expect_error<ValueError>([] { TextVectorization({.output_sequence_length = 0}); }, {"output_sequence_length"});
}

TEST(TextVectorization, RefusesAnOutputTooLargeForMemoryBeforeAllocating) {
  auto layer = with_vocabulary({"a"}, {.output_sequence_length = int64_t{1} << 40});
  expect_error<ResourceError>([&] { layer(Strings(1000, "a")); }, {"1000", "1099511627776"});
}

TEST(TextVectorization, ConfigRoundTripKeepsTheVocabulary) {
  TextVectorization layer({.max_tokens = 6, .split = "whitespace", .output_sequence_length = 5, .name = "tv"});
  layer.adapt({"the cat sat on the mat", "the dog"});  // the 3; then sat > on > mat > dog > cat
  const nlohmann::json c = layer.get_config();
  EXPECT_EQ(c["name"], "tv");
  EXPECT_EQ(c["max_tokens"], 6);
  EXPECT_EQ(c["standardize"], "lower_and_strip_punctuation");
  EXPECT_EQ(c["split"], "whitespace");
  EXPECT_EQ(c["output_mode"], "int");
  EXPECT_EQ(c["output_sequence_length"], 5);
  EXPECT_TRUE(c["ngrams"].is_null());
  EXPECT_EQ(c["vocabulary"], (Strings{"the", "sat", "on", "mat"}));
  EXPECT_EQ(c["vocabulary_size"], 6);
  EXPECT_EQ(c["has_input_vocabulary"], false);
  EXPECT_EQ(c["encoding"], "utf-8");
  EXPECT_FALSE(c.contains("max_text_bytes"));

  TextVectorization back = TextVectorization::from_config(nlohmann::json::parse(c.dump()));
  EXPECT_EQ(back.get_vocabulary(), layer.get_vocabulary());
  EXPECT_EQ(back.name(), "tv");
  EXPECT_EQ(back({"The mat, the dog"}).to_vector(), layer({"The mat, the dog"}).to_vector());
  EXPECT_EQ(back({"The mat, the dog"}).to_vector(), (Values{2, 5, 2, 1, 0}));
  EXPECT_EQ(back.get_config(), c);
  // An adapted vocabulary read back may be adapted again; a given one may not.
  back.adapt({"x"});
  EXPECT_EQ(back.get_vocabulary(), (Strings{"", "[UNK]", "x"}));

  auto fixed = with_vocabulary({"a"}, {.standardize = std::nullopt, .split = "character", .max_text_bytes = 64});
  const nlohmann::json fc = fixed.get_config();
  EXPECT_TRUE(fc["standardize"].is_null());
  EXPECT_EQ(fc["max_text_bytes"], 64);
  TextVectorization fixed_back = TextVectorization::from_config(fc);
  EXPECT_EQ(fixed_back.options().split, std::optional<std::string>("character"));
  EXPECT_EQ(fixed_back.options().max_text_bytes, 64);
  expect_error<ValueError>([&] { fixed_back.adapt({"b"}); }, {"cannot adapt"});
  // Before any vocabulary, the config holds null.
  EXPECT_TRUE(TextVectorization().get_config()["vocabulary"].is_null());
}

TEST(TextVectorization, FromConfigRefusesWhatMyelinDoesNotSupport) {
  const auto from = [](nlohmann::json c) { return TextVectorization::from_config(c); };
  expect_error<ValueError>([&] { from({{"ngrams", 2}}); }, {"'ngrams'", "not supported"});
  expect_error<ValueError>([&] { from({{"pad_to_max_tokens", true}}); }, {"'pad_to_max_tokens'"});
  expect_error<ValueError>([&] { from({{"encoding", "latin-1"}}); }, {"encoding", "latin-1"});
  expect_error<ValueError>([&] { from({{"vocabulary", "/some/vocab.txt"}}); }, {"'vocabulary'", "file"});
  expect_error<ValueError>([&] { from({{"vocabulary", {"a", 3}}}); }, {"'vocabulary'[1]", "string"});
  expect_error<ValueError>([&] { from({{"max_tokens", "many"}}); }, {"'max_tokens'", "whole number"});
  expect_error<ValueError>([&] { from({{"standardize", {{"class_name", "f"}}}}); }, {"'standardize'", "callable"});
  expect_error<ValueError>([&] { from({{"colour", "red"}}); }, {"unknown config key 'colour'"});
  expect_error<ValueError>([&] { from(nlohmann::json::array()); }, {"JSON object"});
  // Keras's own config of an adapted layer (vocabulary in an asset, so null here) reads.
  TextVectorization keras = from({{"name", "text_vectorization"}, {"trainable", true},
                                  {"dtype", {{"module", "keras"}, {"class_name", "DTypePolicy"}}},
                                  {"max_tokens", 5000}, {"standardize", "lower_and_strip_punctuation"},
                                  {"split", "whitespace"}, {"ngrams", nullptr}, {"output_mode", "int"},
                                  {"output_sequence_length", 4}, {"pad_to_max_tokens", false}, {"sparse", false},
                                  {"ragged", false}, {"vocabulary", nullptr}, {"idf_weights", nullptr},
                                  {"encoding", "utf-8"}, {"vocabulary_size", 7}});
  EXPECT_EQ(keras.options().max_tokens, std::optional<int64_t>(5000));
  EXPECT_EQ(keras.vocabulary_size(), 2);
}

class VocabularyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("myelin_test_vocab_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& text) {
    const std::string path = (dir_ / "vocab.txt").string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  fs::path dir_;
};

TEST_F(VocabularyFileTest, ReadsOneTokenPerLine) {
  EXPECT_EQ(read_vocabulary_file(write("earth\nwind\r\nand fire\n")), (Strings{"earth", "wind", "and fire"}));
  // Keras's saved asset: "", "[UNK]", then the tokens, joined by "\n" without a final one.
  EXPECT_EQ(read_vocabulary_file(write("\n[UNK]\nthe\ncat")), (Strings{"the", "cat"}));
  // Empty lines at the end, and a byte-order mark, are ignored; UTF-8 tokens are kept whole.
  EXPECT_EQ(read_vocabulary_file(write("\xEF\xBB\xBFé\n😀\n\n\n")), (Strings{"é", "😀"}));
  // gzip too.
  const std::string gz = (dir_ / "vocab.txt.gz").string();
  myelin::data::detail::write_gzip(gz, "a\nb\n");
  EXPECT_EQ(read_vocabulary_file(gz), (Strings{"a", "b"}));
  // And the layer takes what was read.
  auto layer = with_vocabulary(read_vocabulary_file(write("\n[UNK]\nthe\ncat\n")));
  EXPECT_EQ(layer({"The cat"}).to_vector(), (Values{2, 3}));
}

TEST_F(VocabularyFileTest, ErrorsNameTheLine) {
  expect_error<IOError>([&] { read_vocabulary_file(write("a\nb\n\nc\n")); }, {"vocab.txt", "line 3", "empty line"});
  expect_error<IOError>([&] { read_vocabulary_file(write("\nb\n")); }, {"line 1", "empty line"});
  expect_error<IOError>([&] { read_vocabulary_file(write("a\nb\nc\nb\n")); }, {"line 4", "repeats", "'b'", "line 2"});
  expect_error<IOError>([&] { read_vocabulary_file(write("a\nb\xE9t\n")); }, {"line 2", "UTF-8", "byte 1"});
  expect_error<IOError>([&] { read_vocabulary_file(write("[UNK]\na\n")); }, {"line 1", "OOV token"});
  expect_error<IOError>([&] { read_vocabulary_file(write("")); }, {"no token"});
  expect_error<IOError>([&] { read_vocabulary_file(write("\n[UNK]\n\n")); }, {"no token"});
  expect_error<IOError>([&] { read_vocabulary_file(write("ok\n" + std::string(100, 'x') + "\n"), 64); },
                        {"line 2", "longer than 64"});
  expect_error<IOError>([&] { read_vocabulary_file((dir_ / "missing.txt").string()); }, {"missing.txt"});
}

}  // namespace
