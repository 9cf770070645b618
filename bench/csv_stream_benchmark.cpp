// Training on a CSV file larger than memory is meant to fit: CsvDataset streams the file with a
// bounded shuffle buffer, so resident memory stays at the buffer's size whatever the file's.
// Prints name=value lines only.
//
//   csv_stream_benchmark [--bytes N] [--features F] [--batch B] [--shuffle-buffer R] [--memory-budget-mib M] [--threads T]
//
// 1. Writes a CSV of about N bytes (default 3.2e9) into a fresh temporary directory, removed at the
//    end (on errors too): F numeric features (default 100, 4 decimals in [-1, 1]) and a 0/1 label
//    that is the sign of a fixed random linear function of them.
// 2. Reads one shuffled epoch of it through CsvDataset alone (no training), in batches of B rows:
//    rows per second of parsing and shuffling, and the peak resident memory of that pass.
// 3. Trains one epoch of an MLP (F -> Dense 64 relu -> Dense 64 relu -> Dense 1 sigmoid, Adam,
//    binary cross-entropy) on it with fit(Dataset&): rows per second and the peak resident memory.
// The peak (VmHWM of /proc/self/status) is reset between the passes where the kernel allows it.
// --memory-budget-mib M (default 64) is the resident memory the run must stay under: the shuffle
// buffer gets half of it (unless --shuffle-buffer sets it), and a training peak above M is an error.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "myelin/data/dataset.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"
#include "timing.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {

using bench::Clock;
using bench::seconds_since;

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "csv_stream_benchmark: %s\nusage: csv_stream_benchmark [--bytes N] [--features F] [--batch B] "
               "[--shuffle-buffer R] [--memory-budget-mib M] [--threads T]\n",
               msg.c_str());
  std::exit(2);
}

// A value of /proc/self/status in MiB ("VmHWM", "VmRSS"), or -1 where unavailable.
double status_mib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, key.size() + 1, key + ":") == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  return -1;
}

// Sets the peak resident memory back to the current one (Linux: "5" into clear_refs); false if refused.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// A directory of its own under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("myelin_csv_stream_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Appends v in [-1, 1] with 4 decimals ("-0.1234"), faster than printf for gigabytes of cells.
void put_value(std::string& out, int ten_thousandths) {
  if (ten_thousandths < 0) {
    out += '-';
    ten_thousandths = -ten_thousandths;
  }
  out += static_cast<char>('0' + ten_thousandths / 10000);
  out += '.';
  const int frac = ten_thousandths % 10000;
  out += static_cast<char>('0' + frac / 1000);
  out += static_cast<char>('0' + frac / 100 % 10);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
}

// Writes rows until the file holds at least `bytes` bytes; returns the row count.
int64_t write_csv(const fs::path& path, int64_t bytes, int features) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path.string());
  Rng rng(2024);
  std::vector<float> w(static_cast<size_t>(features));
  for (auto& v : w) v = rng.normal(0.f, 1.f);
  std::string buf;
  for (int c = 0; c < features; ++c) buf += "x" + std::to_string(c) + ",";
  buf += "label\n";
  int64_t written = 0, rows = 0;
  std::vector<int> row(static_cast<size_t>(features));
  while (written + static_cast<int64_t>(buf.size()) < bytes) {
    float dot = 0;
    for (int c = 0; c < features; ++c) {
      row[c] = static_cast<int>(rng.below(20001)) - 10000;
      dot += w[c] * static_cast<float>(row[c]);
      put_value(buf, row[c]);
      buf += ',';
    }
    buf += dot > 0 ? "1\n" : "0\n";
    ++rows;
    if (buf.size() >= (1u << 20)) {
      if (std::fwrite(buf.data(), 1, buf.size(), f) != buf.size()) {
        std::fclose(f);
        throw std::runtime_error("cannot write " + path.string() + " (disk full?)");
      }
      written += static_cast<int64_t>(buf.size());
      buf.clear();
    }
  }
  const bool ok = std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + path.string());
  return rows;
}

int run(int argc, char** argv) {
  double bytes = 3.2e9;
  int features = 100, batch = 256, threads = 2;
  int64_t shuffle_buffer = 0;  // 0: as many rows as half the memory budget holds
  double budget_mib = 64;       // resident memory the whole process must stay under
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value after " + a);
    if (a == "--bytes")
      bytes = std::atof(argv[++i]);
    else if (a == "--features")
      features = std::atoi(argv[++i]);
    else if (a == "--batch")
      batch = std::atoi(argv[++i]);
    else if (a == "--shuffle-buffer")
      shuffle_buffer = std::atoll(argv[++i]);
    else if (a == "--memory-budget-mib")
      budget_mib = std::atof(argv[++i]);
    else if (a == "--threads")
      threads = std::atoi(argv[++i]);
    else
      usage("unknown argument " + a);
  }
  if (bytes < 1e3 || features < 1 || batch < 1 || shuffle_buffer < 0 || threads < 1 || budget_mib <= 0)
    usage("bad argument value");
  set_num_threads(threads);
  set_random_seed(42);
  std::printf("threads=%d\n", num_threads());

  // 1. The file.
  TempDir dir;
  const fs::path path = dir.path() / "stream.csv";
  auto t0 = Clock::now();
  const int64_t rows = write_csv(path, static_cast<int64_t>(bytes), features);
  std::printf("file_bytes=%lld\nfile_rows=%lld\nfeatures=%d\nwrite_seconds=%.3g\n",
              static_cast<long long>(fs::file_size(path)), static_cast<long long>(rows), features, seconds_since(t0));

  data::CsvDatasetOptions options;
  // What the dataset may hold: the shuffle buffer, one read chunk and one line being assembled. The
  // buffer gets half the budget; the program, the model and the batches the other half.
  const double row_bytes = double(features + 1) * sizeof(float);
  const double fixed_bytes = double(options.chunk_bytes) + double(options.max_line_bytes);
  if (shuffle_buffer == 0)
    shuffle_buffer = std::max<int64_t>(1, int64_t((budget_mib * (1 << 20) / 2 - fixed_bytes) / row_bytes));
  options.shuffle_buffer = shuffle_buffer;
  const double dataset_mib = (double(shuffle_buffer) * row_bytes + fixed_bytes) / (1 << 20);
  std::printf("memory_budget_mib=%.1f\nshuffle_buffer_rows=%lld\ndataset_budget_mib=%.1f\n", budget_mib,
              static_cast<long long>(shuffle_buffer), dataset_mib);
  std::printf("rss_before_mib=%.1f\n", status_mib("VmRSS"));

  // 2. Reading alone.
  const bool peak_resettable = reset_peak_rss();
  std::printf("peak_reset_between_passes=%d\n", peak_resettable ? 1 : 0);
  {
    data::CsvDataset dataset(path.string(), options);
    Tensor x, y;
    t0 = Clock::now();
    dataset.start_epoch(1, true);
    int64_t got = 0, n = 0;
    double label_sum = 0;
    while ((n = dataset.read(batch, x, y)) > 0) {
      got += n;
      for (int64_t i = 0; i < n; ++i) label_sum += y[i];
    }
    const double s = seconds_since(t0);
    if (got != rows) throw std::runtime_error("read " + std::to_string(got) + " rows of " + std::to_string(rows));
    std::printf("read_seconds=%.3g\nread_rows_per_sec=%.4g\nread_mb_per_sec=%.4g\nread_label_mean=%.3f\n", s, got / s,
                double(fs::file_size(path)) / s / 1e6, label_sum / double(got));
    std::printf("read_peak_rss_mib=%.1f\n", status_mib("VmHWM"));
  }

  // 3. Training one epoch.
  reset_peak_rss();
  {
    data::CsvDataset dataset(path.string(), options);
    Sequential model({layers::Dense(64, "relu", Shape{features}), layers::Dense(64, "relu"),
                      layers::Dense(1, "sigmoid")});
    model.compile(optimizers::Adam(1e-3), "binary_crossentropy", {"accuracy"});
    t0 = Clock::now();
    const History h = model.fit(dataset, {.epochs = 1, .batch_size = batch, .verbose = 0});
    const double s = seconds_since(t0);
    std::printf("train_seconds=%.3g\ntrain_rows_per_sec=%.4g\ntrain_loss=%.4f\ntrain_accuracy=%.4f\n", s, rows / s,
                h.last("loss"), h.last("accuracy"));
    const double peak = status_mib("VmHWM");
    std::printf("train_peak_rss_mib=%.1f\nwithin_memory_budget=%d\n", peak, peak <= budget_mib ? 1 : 0);
    if (peak > budget_mib) {
      std::fprintf(stderr, "csv_stream_benchmark: peak resident memory %.1f MiB exceeds the budget of %.1f MiB\n", peak,
                   budget_mib);
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Caught here so that the temporary directory's destructor runs on every error.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "csv_stream_benchmark: %s\n", e.what());
    return 1;
  }
}
