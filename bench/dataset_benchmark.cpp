// Training from a file source against training from tensors in memory; prints name=value lines only.
//
//   dataset_benchmark [--threads N] [--epochs E] [--cnn-epochs C] [--csv-epochs K] [--data DIR]
//
// The gzip-compressed Fashion-MNIST training files of DIR (default: where datasets::fashion_mnist
// looks) are decompressed into a temporary directory
// (IdxDataset memory-maps raw IDX bytes), which is removed at the end. Then, for each model:
//
// 1. MLP: Flatten -> Dense(32 relu) -> Dense(10 softmax), Adam(1e-3), sparse categorical
//    cross-entropy, batch 128, trained E epochs (default 5) from
//      in_memory:   fit(x, y) on the tensors read_idx returns, scaled by 1/255;
//      idx_dataset: fit(IdxDataset) on the decompressed files (same scaling, done per batch);
//      csv_dataset: fit(CsvDataset) on a 60000 x 785 CSV file written from them (only with
//                   --csv-epochs K > 0; pixels are written as integers 0..255, and the in-memory
//                   way it is compared with then trains on the same unscaled values).
// 2. CNN (bench/cnn_benchmark.cpp's model), C epochs (default 1) in memory and from IdxDataset with
//    add_channel = true.
//
// The ways take turns epoch by epoch (one fit(epochs=1) call each), so that a change of load on the
// machine falls on all of them alike; the MLP first trains one untimed epoch each way. Each fit
// carries the same per-epoch work as one fit(epochs=E) call. Reported per way: the median epoch time
// and the median step time (the interval between consecutive batch ends, which includes any wait for
// the next batch), and the ratio file / in memory of both. Then the MLP's batches are read alone,
// without training, from an InMemoryDataset and from the IdxDataset (median ms per read of 128 rows
// over a shuffled epoch): what the background reader has to hide behind each step.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/file_reader.hpp"
#include "myelin/callbacks.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/data/idx.hpp"
#include "myelin/error.hpp"
#include "myelin/layers/conv2d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/flatten.hpp"
#include "myelin/layers/pooling.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"
#include "temporary_directory.hpp"
#include "users_models.hpp"
#include "timing.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {

using bench::Clock;
using bench::median;
using bench::seconds_since;
using bench::mean;
using bench::TemporaryDirectory;

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "dataset_benchmark: %s\nusage: dataset_benchmark [--threads N] [--epochs E] [--cnn-epochs C] "
               "[--csv-epochs K] [--data DIR]\n",
               msg);
  std::exit(2);
}

// Writes the decompressed content of `gz_path` (read through zlib) to `out_path`.
void gunzip(const std::string& gz_path, const std::string& out_path) {
  data::detail::InputFile in(gz_path);
  std::ofstream out(out_path, std::ios::binary);
  if (!out) throw IOError("cannot write '" + out_path + "'");
  std::vector<char> block(size_t{1} << 20);
  while (const size_t n = in.read(block.data(), block.size())) out.write(block.data(), std::streamsize(n));
  if (!out.flush()) throw IOError("cannot write '" + out_path + "': write failed");
}

// 60000 rows of 784 integer pixels and the label last, with a header, as a user's export would be.
void write_csv(const Tensor& images, const Tensor& labels, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw IOError("cannot write '" + path + "'");
  const int64_t n = images.dim(0), per_row = images.size() / n;
  std::string line;
  for (int64_t c = 0; c < per_row; ++c) line += "p" + std::to_string(c) + ",";
  line += "label\n";
  std::fputs(line.c_str(), f);
  for (int64_t r = 0; r < n; ++r) {
    line.clear();
    const float* p = images.data() + r * per_row;
    for (int64_t c = 0; c < per_row; ++c) line += std::to_string(int(p[c])) + ",";
    line += std::to_string(int(labels[r])) + "\n";
    std::fputs(line.c_str(), f);
  }
  if (std::fclose(f) != 0) throw IOError("cannot write '" + path + "': write failed");
}

// Epoch and step durations of every timed fit call, and the loss of the last epoch.
struct Timings {
  std::vector<double> epoch_s, step_s;
  double last_loss = 0;
};

std::shared_ptr<callbacks::LambdaCallback> timer(Timings& t) {
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  auto epoch_start = std::make_shared<Clock::time_point>();
  auto last_step = std::make_shared<Clock::time_point>();
  cb->epoch_begin = [=](int, const Logs&) { *epoch_start = *last_step = Clock::now(); };
  cb->batch_end = [=, &t](int, const Logs&) {
    const auto now = Clock::now();
    t.step_s.push_back(std::chrono::duration<double>(now - *last_step).count());
    *last_step = now;
  };
  cb->epoch_end = [=, &t](int, const Logs& logs) {
    t.epoch_s.push_back(seconds_since(*epoch_start));
    t.last_loss = logs.at("loss");
  };
  return cb;
}

// One way of feeding the same model: a name for the output and a call of fit for `epochs` epochs.
struct Way {
  std::string name;
  std::function<void(int epochs, const std::vector<CallbackArg>& cbs)> fit;
  Timings timings;
};

// Alternates the ways epoch by epoch (after `warmup` untimed epochs each) and prints their medians
// with `prefix`, and the ratios of every way to the first (the in-memory one).
void run_ways(const std::string& prefix, std::vector<Way>& ways, int epochs, int warmup) {
  for (auto& w : ways)
    for (int e = 0; e < warmup; ++e) w.fit(1, {});
  for (int e = 0; e < epochs; ++e)
    for (auto& w : ways) w.fit(1, {timer(w.timings)});
  for (const auto& w : ways) {
    const auto& t = w.timings;
    std::printf("%s%s_seconds_per_epoch_median=%.6g\n", prefix.c_str(), w.name.c_str(), median(t.epoch_s));
    std::printf("%s%s_ms_per_step_median=%.6g\n", prefix.c_str(), w.name.c_str(), median(t.step_s) * 1e3);
    std::printf("%s%s_ms_per_step_mean=%.6g\n", prefix.c_str(), w.name.c_str(), mean(t.step_s) * 1e3);
    std::printf("%s%s_last_epoch_loss=%.4f\n", prefix.c_str(), w.name.c_str(), t.last_loss);
  }
  const auto& base = ways.front().timings;
  for (size_t i = 1; i < ways.size(); ++i) {
    const auto& t = ways[i].timings;
    std::printf("%s%s_over_%s=%.4f\n", prefix.c_str(), ways[i].name.c_str(), ways.front().name.c_str(),
                median(t.epoch_s) / median(base.epoch_s));
    std::printf("%s%s_over_%s_per_step=%.4f\n", prefix.c_str(), ways[i].name.c_str(), ways.front().name.c_str(),
                median(t.step_s) / median(base.step_s));
  }
}

// Median milliseconds of one read() of `rows` rows over a shuffled epoch, on this thread alone: the
// cost the background thread has to hide behind each training step.
double read_ms_per_batch(data::Dataset& ds, int64_t rows) {
  Tensor x, y;
  std::vector<double> ms;
  for (int epoch = 0; epoch < 2; ++epoch) {  // the first epoch warms the page cache and the buffers
    ms.clear();
    ds.start_epoch(uint64_t(epoch) + 1, /*shuffle=*/true);
    for (;;) {
      const auto t0 = Clock::now();
      if (ds.read(rows, x, y) == 0) break;
      ms.push_back(seconds_since(t0) * 1e3);
    }
  }
  return median(ms);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, epochs = 5, cnn_epochs = 1, csv_epochs = 0;
  // Where datasets::fashion_mnist looks: $MYELIN_FASHION_MNIST_DIR, else Debian's dataset-fashion-mnist.
  const char* env_dir = std::getenv("MYELIN_FASHION_MNIST_DIR");
  std::string data_dir = env_dir && *env_dir ? env_dir : "/usr/share/datasets/fashion-mnist";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--epochs") epochs = std::atoi(argv[++i]);
    else if (a == "--cnn-epochs") cnn_epochs = std::atoi(argv[++i]);
    else if (a == "--csv-epochs") csv_epochs = std::atoi(argv[++i]);
    else if (a == "--data") data_dir = argv[++i];
    else usage(("unknown argument " + a).c_str());
  }
  if (epochs < 1) usage("--epochs must be at least 1");
  if (cnn_epochs < 0 || csv_epochs < 0) usage("--cnn-epochs and --csv-epochs must not be negative");
  set_num_threads(threads);
  std::printf("threads=%d\n", num_threads());

  try {
    TemporaryDirectory tmp;
    const std::string images = (tmp.path() / "train-images-idx3-ubyte").string();
    const std::string labels = (tmp.path() / "train-labels-idx1-ubyte").string();
    auto t0 = Clock::now();
    gunzip(data_dir + "/train-images-idx3-ubyte.gz", images);
    gunzip(data_dir + "/train-labels-idx1-ubyte.gz", labels);
    std::printf("decompress_seconds=%.3f\n", seconds_since(t0));

    // The arrays a user holds: read whole, scaled as IdxDataset scales (a multiplication by 1/255).
    const Tensor raw_x = data::read_idx(images);
    const int64_t n = raw_x.dim(0);
    Tensor x = raw_x.clone();
    for (int64_t i = 0; i < x.size(); ++i) x[i] *= 1.0f / 255.0f;
    const Tensor y = data::read_idx(labels).reshape({n, 1});
    std::printf("rows=%lld\nsteps_per_epoch=%lld\n", (long long)n, (long long)((n + 127) / 128));

    // 1. MLP.
    {
      const int64_t batch = 128;
      Sequential in_memory = bench::seeded_and_compiled([] { return bench::users_mlp(Shape{28, 28}); });
      Sequential from_idx = bench::seeded_and_compiled([] { return bench::users_mlp(Shape{28, 28}); });
      data::IdxDataset idx(images, labels);
      std::vector<Way> ways;
      ways.push_back({"in_memory", [&](int e, const std::vector<CallbackArg>& cbs) {
                        in_memory.fit(x, y, {.epochs = e, .batch_size = int(batch), .callbacks = cbs, .verbose = 0});
                      }});
      ways.push_back({"idx_dataset", [&](int e, const std::vector<CallbackArg>& cbs) {
                        from_idx.fit(idx, {.epochs = e, .batch_size = int(batch), .callbacks = cbs, .verbose = 0});
                      }});
      run_ways("mlp_", ways, epochs, /*warmup=*/1);
      // Reading alone, for comparison with the step time: InMemoryDataset gathers shuffled rows as
      // fit(x, y) does; IdxDataset converts bytes from the mapped file.
      data::InMemoryDataset mem(x, y);
      std::printf("read_in_memory_ms_per_batch_median=%.6g\n", read_ms_per_batch(mem, batch));
      std::printf("read_idx_dataset_ms_per_batch_median=%.6g\n", read_ms_per_batch(idx, batch));
    }

    // 1b. MLP from CSV, on its own: parsing text is a different cost from reading mapped bytes.
    if (csv_epochs > 0) {
      const std::string csv = (tmp.path() / "train.csv").string();
      t0 = Clock::now();
      write_csv(raw_x, y, csv);
      std::printf("csv_write_seconds=%.3f\ncsv_bytes=%lld\n", seconds_since(t0), (long long)fs::file_size(csv));
      Sequential in_memory = bench::seeded_and_compiled([] { return bench::users_mlp(Shape{784}); });
      Sequential from_csv = bench::seeded_and_compiled([] { return bench::users_mlp(Shape{784}); });
      // Unscaled, as the file holds the pixels: both ways train on the same numbers.
      const Tensor x_flat = raw_x.reshape({n, 784});
      data::CsvDataset ds(csv);
      std::vector<Way> ways;
      ways.push_back({"in_memory", [&](int e, const std::vector<CallbackArg>& cbs) {
                        in_memory.fit(x_flat, y, {.epochs = e, .batch_size = 128, .callbacks = cbs, .verbose = 0});
                      }});
      ways.push_back({"csv_dataset", [&](int e, const std::vector<CallbackArg>& cbs) {
                        from_csv.fit(ds, {.epochs = e, .batch_size = 128, .callbacks = cbs, .verbose = 0});
                      }});
      run_ways("mlp_csv_", ways, csv_epochs, /*warmup=*/0);
    }

    // 2. CNN.
    if (cnn_epochs > 0) {
      Sequential in_memory = bench::seeded_and_compiled(bench::users_cnn);
      Sequential from_idx = bench::seeded_and_compiled(bench::users_cnn);
      const Tensor x4 = x.reshape({n, 28, 28, 1});
      data::IdxDataset idx(images, labels, {.add_channel = true});
      std::vector<Way> ways;
      ways.push_back({"in_memory", [&](int e, const std::vector<CallbackArg>& cbs) {
                        in_memory.fit(x4, y, {.epochs = e, .batch_size = 128, .callbacks = cbs, .verbose = 0});
                      }});
      ways.push_back({"idx_dataset", [&](int e, const std::vector<CallbackArg>& cbs) {
                        from_idx.fit(idx, {.epochs = e, .batch_size = 128, .callbacks = cbs, .verbose = 0});
                      }});
      run_ways("cnn_", ways, cnn_epochs, /*warmup=*/0);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dataset_benchmark: %s\n", e.what());
    return 1;
  }
  return 0;
}
