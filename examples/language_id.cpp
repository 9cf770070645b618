// Which of seven languages a word is: English, German, French, Spanish, Italian, Dutch or Portuguese,
// learnt from the word lists that Debian ships (packages wamerican, wngerman, wfrench, wspanish,
// witalian, wdutch, wportuguese: /usr/share/dict/; scripts/setup.sh installs them; --data DIR reads
// the same file names from another folder).
//
// The words: those written only in lowercase letters (a-z, the Latin-1 letters à-ÿ and ß, and œ),
// 1 to 16 letters long; a word with a capital, an apostrophe, a hyphen or a digit is skipped, which
// leaves out proper names, English possessives and German nouns. A word found in more than one list
// ("pizza", "die") is dropped from all of them. Then 3,000 words per language, drawn by a seeded
// shuffle, and a seeded 80/20 split into training and test words.
//
// The network reads characters: TextVectorization(split "character") gives each character an id,
// padded at the end with 0 to 16 ids, then Embedding(16) -> Bidirectional(LSTM(32)) ->
// Dense(7, softmax). The vectorizer belongs to the model (set_text_vectorization), which trains on
// the words themselves and, saved as .keras and loaded, predicts from words. With --model
// transformer, a small Transformer encoder instead, as Keras's "Text classification with
// Transformer" example builds it: a token embedding plus a learnt position embedding (the positions
// 0..15 come in as a second input, the ids an Embedding over positions reads), one block of
// MultiHeadAttention(2 heads) and a feed-forward Dense pair, each added back to its input (residual
// Add) and followed by LayerNormalization, then GlobalAveragePooling1D -> Dense(20, relu) ->
// Dense(7, softmax), with Dropout(0.1) where Keras's example has it. A model's TextVectorization
// feeds a model of one input, so this one of two inputs takes the ids vectorized before it, and its
// saved .keras file is checked on those ids. Beside it, in the same program on the same split, a
// character-bigram naive Bayes classifier (bigrams of the word framed by a start and an end mark,
// add-one smoothing). --precision bf16 trains and predicts under Keras's mixed_bfloat16 policy (the
// LSTM or the attention and Dense layers multiply in bfloat16; the Embedding, LayerNormalization and
// the softmax stay float32), --precision auto under it only where it runs faster than float32; the
// saved model keeps its policy.
// The shuffles use splitmix64, written out here and in the Python twin, so both draw the same words.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

constexpr int kWordsPerLanguage = 3000;
constexpr int64_t kMaxLength = 16;
constexpr float kTransformerLearningRate = 0.002f;
const std::array<const char*, 7> kLanguages = {"english", "german", "french", "spanish",
                                               "italian", "dutch",  "portuguese"};
const std::array<const char*, 7> kFiles = {"american-english", "ngerman", "french", "spanish",
                                           "italian", "dutch", "portuguese"};

// splitmix64: a small generator the Python twin repeats exactly.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // The first n places of a Fisher-Yates shuffle of v.
  template <class T>
  void shuffle_front(std::vector<T>& v, size_t n) {
    for (size_t i = 0; i < n && i + 1 < v.size(); ++i) std::swap(v[i], v[i + next() % (v.size() - i)]);
  }
};

// The word's code points, or an empty vector when it holds anything but the letters kept.
std::u32string lowercase_letters(const std::string& word) {
  std::u32string out;
  for (size_t i = 0; i < word.size();) {
    const unsigned char c = word[i];
    char32_t cp;
    if (c < 0x80) cp = c, i += 1;
    else if ((c & 0xE0) == 0xC0 && i + 1 < word.size()) cp = ((c & 0x1F) << 6) | (word[i + 1] & 0x3F), i += 2;
    else return {};  // three-byte and longer characters are not among the letters kept
    const bool letter = (cp >= U'a' && cp <= U'z') || (cp >= 0xDF && cp <= 0xFF && cp != 0xF7) || cp == 0x153;
    if (!letter) return {};
    out += cp;
  }
  return out;
}

struct Word {
  std::string text;
  std::u32string letters;
  int language;
};

std::vector<Word> load_words(const std::string& dir, uint64_t seed) {
  std::map<std::string, std::vector<int>> lists;  // word -> the languages whose list holds it
  std::vector<std::vector<std::string>> kept(kLanguages.size());
  for (size_t l = 0; l < kLanguages.size(); ++l) {
    const std::string path = dir + "/" + kFiles[l];
    std::ifstream in(path);
    if (!in) throw IOError("cannot read the word list " + path + " (Debian: apt install w" +
                           (l == 0 ? std::string("american") : std::string(kFiles[l])) + ")");
    for (std::string w; std::getline(in, w);) {
      const auto letters = lowercase_letters(w);
      if (letters.empty() || int64_t(letters.size()) > kMaxLength) continue;
      auto& langs = lists[w];
      if (langs.empty() || langs.back() != int(l)) langs.push_back(int(l));
    }
  }
  for (const auto& [w, langs] : lists)  // in byte order, which is code point order
    if (langs.size() == 1) kept[langs[0]].push_back(w);
  SplitMix64 rng{seed};
  std::vector<Word> words;
  for (size_t l = 0; l < kLanguages.size(); ++l) {
    if (kept[l].size() < size_t(kWordsPerLanguage))
      throw ValueError(std::string("too few words in ") + kFiles[l] + ": " + std::to_string(kept[l].size()));
    rng.shuffle_front(kept[l], kWordsPerLanguage);
    for (int i = 0; i < kWordsPerLanguage; ++i) words.push_back({kept[l][i], lowercase_letters(kept[l][i]), int(l)});
  }
  rng.shuffle_front(words, words.size());
  return words;
}

// Character-bigram naive Bayes: log P(language) + sum over bigrams of log P(bigram | language), with
// add-one smoothing over the bigrams seen in training plus one for any unseen bigram.
class BigramNaiveBayes {
 public:
  explicit BigramNaiveBayes(const std::vector<Word>& train) {
    for (const auto& w : train) {
      ++docs_[w.language];
      for (const auto& b : bigrams(w.letters)) {
        ++counts_[w.language][b];
        ++totals_[w.language];
        seen_.insert(b);
      }
    }
    n_ = train.size();
  }
  int predict(const std::u32string& letters) const {
    const double v = double(seen_.size()) + 1;
    int best = 0;
    double best_score = -INFINITY;
    for (size_t l = 0; l < kLanguages.size(); ++l) {
      double score = std::log(double(docs_[l]) / double(n_));
      for (const auto& b : bigrams(letters)) {
        const auto it = counts_[l].find(b);
        const double c = it == counts_[l].end() ? 0.0 : double(it->second);
        score += std::log((c + 1) / (double(totals_[l]) + v));
      }
      if (score > best_score) best_score = score, best = int(l);
    }
    return best;
  }

 private:
  // "^w", "wo", ..., "d$" as code point pairs (0 marks the start, 1 the end).
  static std::vector<std::u32string> bigrams(const std::u32string& letters) {
    const std::u32string framed = std::u32string(1, char32_t(0)) + letters + std::u32string(1, char32_t(1));
    std::vector<std::u32string> out;
    for (size_t i = 0; i + 1 < framed.size(); ++i) out.push_back(framed.substr(i, 2));
    return out;
  }
  std::array<std::unordered_map<std::u32string, int64_t>, 7> counts_;
  std::array<int64_t, 7> totals_{}, docs_{};
  std::set<std::u32string> seen_;
  size_t n_ = 0;
};

// The Transformer encoder of Keras's text classification example, sized for words of 16 characters.
Model transformer_classifier(int64_t vocabulary, int64_t classes) {
  constexpr int64_t kWidth = 32, kHeads = 2, kFeedForward = 32;
  auto tokens = layers::Input({kMaxLength}, "characters");
  auto positions = layers::Input({kMaxLength}, "positions");
  auto x = layers::Add()({layers::Embedding(vocabulary, kWidth)(tokens), layers::Embedding(kMaxLength, kWidth)(positions)});
  auto attended = layers::Dropout(0.1f)(layers::MultiHeadAttention(kHeads, kWidth)({x, x}));
  x = layers::LayerNormalization({.epsilon = 1e-6f})(layers::Add()({x, attended}));
  auto fed = layers::Dropout(0.1f)(layers::Dense(kWidth)(layers::Dense(kFeedForward, "relu")(x)));
  x = layers::LayerNormalization({.epsilon = 1e-6f})(layers::Add()({x, fed}));
  x = layers::Dropout(0.1f)(layers::GlobalAveragePooling1D()(x));
  x = layers::Dropout(0.1f)(layers::Dense(20, "relu")(x));
  return Model({tokens, positions}, {layers::Dense(classes, "softmax")(x)});
}

// The position ids 0..15 of every word, the position embedding's input.
Tensor position_ids(int64_t rows) {
  Tensor p({rows, kMaxLength});
  for (int64_t i = 0; i < p.size(); ++i) p[i] = float(i % kMaxLength);
  return p;
}

int main(int argc, char** argv) {
  const auto args = example::parse_args(
      argc, argv,
      "Which of seven languages a word is: a character Bidirectional LSTM (or Transformer) beside a bigram naive Bayes.",
      example::Args{.epochs = 10, .batch_size = 64, .data = "/usr/share/dict", .verbose = 0,
                    .uses_precision = true, .models = {"lstm", "transformer"}});
  set_num_threads(args.threads);
  if (args.precision == "bf16") mixed_precision::set_global_policy("mixed_bfloat16");
  if (args.precision == "auto") mixed_precision::set_global_policy("auto");
  std::printf("mixed_bfloat16=%d\n", int(mixed_precision::global_policy() == "mixed_bfloat16"));

  const auto words = load_words(args.data, args.seed);
  const size_t n_test = words.size() / 5;
  const std::vector<Word> train(words.begin(), words.end() - n_test), test(words.end() - n_test, words.end());
  std::vector<std::string> train_text, test_text;
  Tensor y_train({int64_t(train.size()), 1}), y_test({int64_t(test.size()), 1});
  for (size_t i = 0; i < train.size(); ++i) train_text.push_back(train[i].text), y_train[i] = float(train[i].language);
  for (size_t i = 0; i < test.size(); ++i) test_text.push_back(test[i].text), y_test[i] = float(test[i].language);

  // Characters to ids (0 pads, 1 would be a character never seen in training).
  layers::TextVectorization chars({.standardize = std::nullopt, .split = "character",
                                   .output_sequence_length = kMaxLength});
  chars.adapt(train_text);

  set_random_seed(args.seed);
  Logs scores;
  Tensor loaded, original;
  const std::string file =
      (std::filesystem::temp_directory_path() / ("language_id_" + std::to_string(::getpid()) + ".keras")).string();
  if (args.model == "transformer") {
    // Two inputs, the ids and their positions: the words are vectorized before the model.
    const Tensor x_train = chars(train_text), x_test = chars(test_text);
    Model model = transformer_classifier(chars.vocabulary_size(), int64_t(kLanguages.size()));
    model.compile(optimizers::Adam(kTransformerLearningRate), "sparse_categorical_crossentropy", {"accuracy"});
    model.fit({x_train, position_ids(x_train.shape()[0])}, y_train,
              {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
    scores = model.evaluate({x_test, position_ids(x_test.shape()[0])}, y_test);
    model.save(file);
    const DataArg test_inputs{x_test, position_ids(x_test.shape()[0])};
    loaded = load_model(file).predict(test_inputs)[0];
    original = model.predict(test_inputs)[0];
  } else {
    Sequential model({layers::Embedding(chars.vocabulary_size(), 16, {.input_shape = Shape{kMaxLength}}),
                      layers::Bidirectional(layers::LSTM(32)),
                      layers::Dense(int64_t(kLanguages.size()), "softmax")});
    // The vectorizer opens the model, as in Keras: fit, evaluate and predict take the words themselves.
    model.set_text_vectorization(chars);
    model.compile(optimizers::Adam(0.005), "sparse_categorical_crossentropy", {"accuracy"});
    model.fit(train_text, y_train, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
    scores = model.evaluate(test_text, y_test);
    // Saved, the model keeps its vocabulary: the loaded one predicts from words too.
    model.save(file);
    loaded = load_model(file).predict(test_text);
    original = model.predict(test_text);
  }
  std::filesystem::remove(file);
  float loaded_difference = 0;
  for (int64_t i = 0; i < loaded.size(); ++i) loaded_difference = std::max(loaded_difference, std::fabs(loaded[i] - original[i]));

  const BigramNaiveBayes bayes(train);
  int64_t right = 0;
  for (const auto& w : test) right += bayes.predict(w.letters) == w.language;

  std::printf("train_words=%zu\ntest_words=%zu\ncharacters=%lld\n", train.size(), test.size(),
              (long long)chars.vocabulary_size());
  std::printf("test_accuracy=%.4f\n", scores.at("accuracy"));
  std::printf("naive_bayes_test_accuracy=%.4f\n", double(right) / double(test.size()));
  std::printf("loaded_prediction_max_difference=%g\n", double(loaded_difference));
}
