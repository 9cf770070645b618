// Training from files instead of memory: the Fashion-MNIST perceptron of mlp_fashion_mnist.cpp,
// fed by IdxDataset, which maps the raw IDX files and reads each batch's rows on a background thread
// while the previous batch trains. The same program runs data-parallel with
// `mpirun -np 2 build/examples/out_of_core_fashion_mnist`: each rank trains on its half of every batch.
//
// The .gz files of Debian's dataset-fashion-mnist are decompressed once into a temporary folder (a
// memory map needs the raw bytes). Prints Keras's one line per epoch, then its figures.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {
// Peak resident memory of this process (Linux), in MiB.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}
}  // namespace

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Fashion-MNIST perceptron trained from memory-mapped IDX files.",
                                        {.epochs = 5, .batch_size = 128, .verbose = 2});
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  std::string source = args.data;
  if (source.empty()) source = std::getenv("MYELIN_FASHION_MNIST_DIR") ? std::getenv("MYELIN_FASHION_MNIST_DIR")
                                                                        : "/usr/share/datasets/fashion-mnist";
  // One folder per rank: ranks may share a machine, and each writes its own copy.
  const fs::path raw = fs::temp_directory_path() /
                       ("myelin-fashion-mnist-" + std::to_string(distributed::rank()) + "-" + std::to_string(::getpid()));
  fs::create_directories(raw);
  for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"})
    data::gunzip_file(source + "/" + name + ".gz", (raw / name).string());

  // Rows are {28, 28} bytes scaled to [0, 1]; labels are class indices 0..9.
  data::IdxDataset train((raw / "train-images-idx3-ubyte").string(), (raw / "train-labels-idx1-ubyte").string());
  data::IdxDataset test((raw / "t10k-images-idx3-ubyte").string(), (raw / "t10k-labels-idx1-ubyte").string());

  Sequential model({
      layers::Flatten(Shape{28, 28}),
      layers::Dense(32, "relu"),
      layers::Dense(10, "softmax"),
  });
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});

  // Every rank evaluates its share of the test rows; the results combine all of them.
  const Logs scores = model.evaluate(test, {.batch_size = 1024});
  // predict on a Dataset returns the outputs of every row, in file order.
  const Tensor probabilities = model.predict(test, 1024);
  fs::remove_all(raw);
  if (!distributed::is_primary()) return 0;
  std::printf("ranks=%d\n", distributed::size());
  std::printf("test_accuracy=%.4f\n", scores["accuracy"]);
  std::printf("test_loss=%.4f\n", scores["loss"]);
  std::printf("predicted_rows=%lld\n", static_cast<long long>(probabilities.rows()));
  std::printf("peak_rss_mib=%.1f\n", peak_rss_mib());
}
