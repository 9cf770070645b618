// Keras's classic character-level text generator (lstm_text_generation), trained on the Constitution
// of the United States (public domain), from Debian's package miscfiles:
// /usr/share/state/us-constitution.gz (scripts/setup.sh installs it; --data PATH reads another gzip
// or plain text file).
//
// The text is lowercased and each run of whitespace becomes one space (its line breaks are layout),
// so a sample is one line. Every 3rd position starts a 40-character window, whose next character
// is the target: Embedding(32) -> LSTM(64) -> Dense(characters, softmax), Adam. After each epoch,
// from a 40-character prompt taken from the text at a seeded place, it writes 120 characters at
// temperatures 0.5 and 1.0 (the predicted distribution raised to the power 1/T and renormalised).
//
// Figures: loss_epochN per epoch, and (text, not numbers) prompt_epochN, sample_epochN_t0.5 and
// sample_epochN_t1.0.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

constexpr int64_t kWindow = 40;
constexpr int64_t kStep = 3;
constexpr int kSampleLength = 120;

// The file's text, gunzipped when it starts with gzip's magic bytes.
std::string read_text(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw IOError("cannot read " + path + " (Debian: apt install miscfiles)");
  char magic[2] = {};
  probe.read(magic, 2);
  std::string file = path;
  std::filesystem::path tmp;
  if (probe.gcount() == 2 && (unsigned char)magic[0] == 0x1f && (unsigned char)magic[1] == 0x8b) {
    tmp = std::filesystem::temp_directory_path() / ("text_generation_" + std::to_string(getpid()) + ".txt");
    data::gunzip_file(path, tmp.string());
    file = tmp.string();
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  if (!tmp.empty()) std::filesystem::remove(tmp);
  return s.str();
}

// Lowercase ASCII, whitespace runs as one space, no space at either end.
std::string normalise(const std::string& raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (std::isspace(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += char(std::tolower(c));
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Draws an index from probabilities p raised to 1/temperature and renormalised.
int sample(const float* p, int64_t n, double temperature, Rng& rng) {
  std::vector<double> w(n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += w[i] = std::exp(std::log(std::max(double(p[i]), 1e-12)) / temperature);
  double u = rng.uniform01() * sum;
  for (int64_t i = 0; i < n; ++i)
    if ((u -= w[i]) < 0) return int(i);
  return int(n - 1);
}

int main(int argc, char** argv) {
  const auto args = example::parse_args(
      argc, argv, "A character-level LSTM that writes like the U.S. Constitution, sampled after each epoch.",
      example::Args{.epochs = 20, .batch_size = 128, .data = "/usr/share/state/us-constitution.gz", .verbose = 0});
  set_num_threads(args.threads);

  const std::string text = normalise(read_text(args.data));
  std::map<char, int> index;
  for (char c : text) index.emplace(c, 0);
  std::string chars;
  for (auto& [c, i] : index) i = int(chars.size()), chars += c;
  const auto n_chars = int64_t(chars.size());

  const int64_t rows = (int64_t(text.size()) - kWindow - 1) / kStep + 1;
  Tensor x({rows, kWindow}), y({rows, 1});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < kWindow; ++t) x[r * kWindow + t] = float(index[text[r * kStep + t]]);
    y[r] = float(index[text[r * kStep + kWindow]]);
  }
  std::printf("text_characters=%zu\ncharacters=%lld\nwindows=%lld\n", text.size(), (long long)n_chars,
              (long long)rows);

  set_random_seed(args.seed);
  Sequential model({layers::Embedding(n_chars, 32, {.input_shape = Shape{kWindow}}), layers::LSTM(64),
                    layers::Dense(n_chars, "softmax")});
  model.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy");
  Rng rng(args.seed);
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    const auto history = model.fit(
        x, y, {.epochs = epoch, .batch_size = args.batch_size, .verbose = args.verbose, .initial_epoch = epoch - 1});
    std::printf("loss_epoch%d=%.4f\n", epoch, history["loss"].back());

    const auto start = int64_t(rng.below(uint64_t(text.size()) - kWindow));
    const std::string prompt = text.substr(start, kWindow);
    std::printf("prompt_epoch%d=%s\n", epoch, prompt.c_str());
    for (double temperature : {0.5, 1.0}) {
      std::string window = prompt, generated;
      Tensor in({1, kWindow});
      for (int k = 0; k < kSampleLength; ++k) {
        for (int64_t t = 0; t < kWindow; ++t) in[t] = float(index[window[t]]);
        const Tensor p = model.predict(in, 1);
        const char next = chars[sample(p.data(), n_chars, temperature, rng)];
        generated += next;
        window = window.substr(1) + next;
      }
      std::printf("sample_epoch%d_t%.1f=%s\n", epoch, temperature, generated.c_str());
    }
    std::fflush(stdout);
  }
}
