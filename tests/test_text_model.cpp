// A model that carries its TextVectorization (Model::set_text_vectorization): predict, fit and
// evaluate on raw strings equal the same calls on the ids the vectorizer makes; the vectorizer is
// saved with the model (.safetensors: in __metadata__; .keras: Keras 3's string InputLayer,
// TextVectorization layer and assets/.../vocabulary.txt) and a loaded model predicts from strings;
// a damaged stored vocabulary is an error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "myelin/io/safetensors.hpp"
#include "myelin/io/zip_archive.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using myelin::test::expect_error;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Strings = std::vector<std::string>;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_text_model_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

const Strings kTexts = {"the cat sat on the mat", "a dog ran", "The Cat ran!", "birds sing at dawn",
                        "the dog sat", "a bird on the mat", "unseen words only", "cat"};

data::TextVectorization adapted_vectorizer() {
  data::TextVectorization tv({.max_tokens = 12, .output_sequence_length = 5});
  tv.adapt(kTexts);
  return tv;
}

// Embedding -> pooling -> softmax over 2 classes: ids in, probabilities out.
Sequential text_classifier(int64_t vocabulary) {
  set_random_seed(7);
  Sequential m({layers::Input({5}), layers::Embedding(vocabulary, 4), layers::GlobalAveragePooling1D(),
                layers::Dense(2, "softmax")});
  m.compile(optimizers::Adam(0.05), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

Tensor labels() {
  Tensor y({int64_t(kTexts.size()), 1});
  for (size_t i = 0; i < kTexts.size(); ++i) y[int64_t(i)] = kTexts[i].find("cat") != std::string::npos ||
                                                               kTexts[i].find("Cat") != std::string::npos;
  return y;
}

void expect_same(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << what << " at " << i;
}

std::map<std::string, std::string> zip_entries(const std::string& path) {
  io::ZipReader z(path);
  std::map<std::string, std::string> out;
  for (const auto& n : z.names()) out[n] = z.read(n, uint64_t(1) << 30);
  return out;
}

void rezip(const std::string& path, const std::map<std::string, std::string>& files) {
  std::vector<std::pair<std::string, std::string>> list(files.begin(), files.end());
  const std::string bytes = io::make_zip(list, path);
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST(TextModel, PredictFitAndEvaluateOnStringsEqualTheSameOnTheIds) {
  const auto tv = adapted_vectorizer();
  const Tensor ids = tv(kTexts), y = labels();
  Sequential on_ids = text_classifier(tv.vocabulary_size());
  Sequential on_texts = text_classifier(tv.vocabulary_size());
  on_texts.set_text_vectorization(tv);
  ASSERT_NE(on_texts.text_vectorization(), nullptr);
  EXPECT_EQ(on_texts.text_vectorization()->get_vocabulary(), tv.get_vocabulary());
  expect_same(on_texts.predict(kTexts), on_ids.predict(ids), "untrained");

  const History a = on_ids.fit(ids, y, {.epochs = 3, .batch_size = 4, .verbose = 0});
  const History b = on_texts.fit(kTexts, y, {.epochs = 3, .batch_size = 4, .verbose = 0});
  EXPECT_EQ(a["loss"], b["loss"]);
  expect_same(on_texts.predict(kTexts), on_ids.predict(ids), "trained");
  EXPECT_EQ(on_texts.evaluate(kTexts, y)["loss"], on_ids.evaluate(ids, y)["loss"]);
}

TEST(TextModel, SavedModelsPredictFromStrings) {
  TempDir d;
  const auto tv = adapted_vectorizer();
  Sequential m = text_classifier(tv.vocabulary_size());
  m.set_text_vectorization(tv);
  m.fit(kTexts, labels(), {.epochs = 2, .batch_size = 4, .verbose = 0});
  const Strings fresh = {"the cat", "never seen before", ""};
  const Tensor expected = m.predict(tv(fresh));
  for (const char* name : {"text.safetensors", "text.keras"}) {
    m.save(d.file(name));
    Model loaded = load_model(d.file(name));
    ASSERT_NE(loaded.text_vectorization(), nullptr) << name;
    EXPECT_EQ(loaded.text_vectorization()->get_vocabulary(), tv.get_vocabulary()) << name;
    EXPECT_EQ(loaded.text_vectorization()->options().output_sequence_length, 5) << name;
    expect_same(loaded.predict(fresh), expected, name);
    EXPECT_TRUE(loaded.compiled()) << name;
  }
  // The .keras file in Keras 3's layout: a string input, the TextVectorization, its vocabulary asset.
  const auto files = zip_entries(d.file("text.keras"));
  ASSERT_TRUE(files.count("assets/layers/text_vectorization/vocabulary.txt"));
  std::string expected_asset = "\n[UNK]";  // Keras joins get_vocabulary() with "\n": "" and "[UNK]" first
  for (const auto& t : tv.get_vocabulary(false)) expected_asset += "\n" + t;
  EXPECT_EQ(files.at("assets/layers/text_vectorization/vocabulary.txt"), expected_asset);
  const json config = json::parse(files.at("config.json"));
  const json& layers = config["config"]["layers"];
  EXPECT_EQ(layers[0]["class_name"], "InputLayer");
  EXPECT_EQ(layers[0]["config"]["dtype"], "string");
  EXPECT_EQ(layers[0]["config"]["batch_shape"], json::array({nullptr, 1}));
  EXPECT_EQ(layers[1]["class_name"], "TextVectorization");
  EXPECT_EQ(layers[1]["config"]["output_sequence_length"], 5);
  EXPECT_TRUE(layers[1]["config"]["vocabulary"].is_null());  // Keras keeps it in the asset
}

TEST(TextModel, ADamagedStoredVocabularyIsNamed) {
  TempDir d;
  const auto tv = adapted_vectorizer();
  Sequential m = text_classifier(tv.vocabulary_size());
  m.set_text_vectorization(tv);
  m.save(d.file("ok.keras"));
  m.save(d.file("ok.safetensors"));

  // .keras: a repeated token in the asset, then no asset at all.
  auto files = zip_entries(d.file("ok.keras"));
  const std::string asset = "assets/layers/text_vectorization/vocabulary.txt";
  files[asset] = "\n[UNK]\nthe\ncat\nthe";
  rezip(d.file("repeated.keras"), files);
  expect_error<IOError>([&] { load_model(d.file("repeated.keras")); },
                        {d.file("repeated.keras"), "vocabulary.txt", "line 5", "repeats the token 'the'"});
  files.erase(asset);
  rezip(d.file("noasset.keras"), files);
  expect_error<IOError>([&] { load_model(d.file("noasset.keras")); }, {d.file("noasset.keras"), asset, "missing"});

  // .safetensors: the stored config with a repeated token, then with text that is not JSON.
  io::SafetensorsFile f = io::read_safetensors(d.file("ok.safetensors"));
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for (const auto& [name, t] : f.tensors) tensors.emplace_back(name, &t);
  json c = json::parse(f.metadata.at("text_vectorization"));
  c["vocabulary"].push_back(c["vocabulary"][0]);
  auto meta = f.metadata;
  meta["text_vectorization"] = c.dump();
  io::write_safetensors(d.file("repeated.safetensors"), tensors, meta);
  expect_error<IOError>([&] { load_model(d.file("repeated.safetensors")); },
                        {d.file("repeated.safetensors"), "TextVectorization", "repeat"});
  meta["text_vectorization"] = "{\"vocabulary\": [";
  io::write_safetensors(d.file("cut.safetensors"), tensors, meta);
  expect_error<IOError>([&] { load_model(d.file("cut.safetensors")); }, {d.file("cut.safetensors"), "TextVectorization"});
}

TEST(TextModel, MisuseIsRefusedByName) {
  const auto tv = adapted_vectorizer();
  Sequential plain = text_classifier(tv.vocabulary_size());
  expect_error<ValueError>([&] { plain.predict(kTexts); }, {"predict on strings", "sequential", "TextVectorization"});
  expect_error<ValueError>([&] { plain.fit(kTexts, labels()); }, {"fit on strings", "TextVectorization"});
  // Rows of 3 ids cannot feed an input of 5.
  plain.build();
  data::TextVectorization three({.output_sequence_length = 3, .vocabulary = Strings{"cat"}});
  expect_error<ValueError>([&] { plain.set_text_vectorization(three); }, {"3 ids", "(5,)"});
  // A functional model's vectorizer is saved in .safetensors only; .keras says so.
  auto in = layers::Input({5});
  Model functional(in, layers::Dense(2)(layers::Flatten()(layers::Embedding(tv.vocabulary_size(), 2)(in))));
  functional.set_text_vectorization(tv);
  TempDir d;
  expect_error<ValueError>([&] { functional.save(d.file("f.keras")); }, {d.file("f.keras"), "Sequential", ".safetensors"});
  EXPECT_FALSE(fs::exists(d.file("f.keras")));
  functional.save(d.file("f.safetensors"));
  Model loaded = load_model(d.file("f.safetensors"));
  expect_same(loaded.predict(kTexts), functional.predict(tv(kTexts)), "functional");
}
