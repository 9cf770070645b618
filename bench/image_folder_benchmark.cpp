// Reading a folder of image files against the training step it feeds; prints name=value lines only.
//
//   image_folder_benchmark [--threads N] [--images N] [--epochs E] [--data DIR]
//
// Writes the first N (default 12800) Fashion-MNIST training images as 28x28 grey PNG files, one
// folder per class, into a temporary directory (removed at the end). Then:
//
// 1. read: image_dataset_from_directory(batch 128, shuffled) read alone, without training, with 1
//    and with N decoding threads: median images/s over E epochs (default 3) each.
// 2. train: the users' CNN (bench/users_models.hpp) behind a Rescaling(1/255) layer, one epoch at a
//    time, taking turns: fit on the same images as tensors in memory, and fit on the folder (decoded
//    on background threads while the step trains). Median seconds per epoch of each and their ratio
//    folder / memory: 1.0 means the decoding costs the step nothing.
// 3. augment: the same CNN from the tensors in memory with RandomFlip, RandomTranslation and
//    RandomZoom at its front, where fit runs them on its data thread, against the same layers behind
//    an identity Activation, where the step runs them (the two train identically). Median seconds
//    per epoch, taking turns, and their ratio data thread / step.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "myelin/data/datasets.hpp"
#include "myelin/data/image.hpp"
#include "myelin/data/image_folder.hpp"
#include "myelin/layers/activation.hpp"
#include "myelin/layers/random_flip.hpp"
#include "myelin/layers/random_translation.hpp"
#include "myelin/layers/random_zoom.hpp"
#include "myelin/layers/rescaling.hpp"
#include "myelin/model.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/threading.hpp"
#include "temporary_directory.hpp"
#include "timing.hpp"
#include "users_models.hpp"

using namespace myelin;

namespace {

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "image_folder_benchmark: %s\nusage: image_folder_benchmark [--threads N] [--images N] [--epochs E] [--data DIR]\n", msg);
  std::exit(2);
}

// The users' CNN behind `front` and a Rescaling(1/255), for raw 0..255 pixels.
Sequential rescaled_cnn(std::vector<LayerHandle> front = {}) {
  Sequential cnn = bench::users_cnn();
  Sequential model;
  for (auto& l : front) model.add(l);
  model.add(layers::Rescaling(1.f / 255));
  for (const auto& l : cnn.layers()) model.add(l);
  model.build(Shape{28, 28, 1});
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, epochs = 3;
  int64_t images = 12800;
  std::string data_dir;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag) -> const char* {
      if (std::strcmp(argv[i], flag) != 0) return nullptr;
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (const char* v = value("--threads")) threads = std::atoi(v);
    else if (const char* v = value("--images")) images = std::atoll(v);
    else if (const char* v = value("--epochs")) epochs = std::atoi(v);
    else if (const char* v = value("--data")) data_dir = v;
    else usage(("unknown option " + std::string(argv[i])).c_str());
  }
  set_num_threads(threads);
  const int decode_threads = num_threads();

  auto train = datasets::fashion_mnist(data_dir).train;
  images = std::min(images, train.x.rows());
  bench::TemporaryDirectory dir;
  Tensor x({images, 28, 28, 1}), y({images, 1});
  for (int64_t r = 0; r < images; ++r) {
    data::Image im{28, 28, 1, std::vector<uint8_t>(784)};
    for (int64_t i = 0; i < 784; ++i) {
      im.pixels[size_t(i)] = uint8_t(train.x.data()[r * 784 + i] * 255.f + 0.5f);
      x.data()[r * 784 + i] = float(im.pixels[size_t(i)]);
    }
    y.data()[r] = train.y.data()[r];
    const auto folder = dir.path() / ("class_" + std::to_string(int(y.data()[r])));
    std::filesystem::create_directories(folder);
    data::save_png((folder / (std::to_string(r) + ".png")).string(), im);
  }
  std::printf("images=%lld\n", static_cast<long long>(images));

  auto folder = [&](int decoders) {
    return data::image_dataset_from_directory(
        dir.path().string(), {.color_mode = "grayscale", .batch_size = 128, .image_size = {28, 28}, .seed = 1, .threads = decoders});
  };
  for (int decoders : {1, decode_threads}) {
    data::ImageFolderDataset d = folder(decoders);
    std::vector<double> rates;
    Tensor bx, by;
    for (int e = 0; e < epochs; ++e) {
      const auto t0 = bench::Clock::now();
      d.start_epoch(uint64_t(e), true);
      int64_t rows = 0;
      while (int64_t n = d.read(128, bx, by)) rows += n;
      rates.push_back(double(rows) / bench::seconds_since(t0));
    }
    std::printf("read_images_per_second_%dthreads=%.0f\n", decoders, bench::median(rates));
  }

  Sequential in_memory = rescaled_cnn(), from_folder = rescaled_cnn();
  data::ImageFolderDataset d = folder(0);
  std::vector<double> memory_s, folder_s;
  for (int e = 0; e < epochs; ++e) {
    auto t0 = bench::Clock::now();
    in_memory.fit(x, y, {.epochs = 1, .batch_size = 128, .verbose = 0});
    memory_s.push_back(bench::seconds_since(t0));
    t0 = bench::Clock::now();
    from_folder.fit(d, {.epochs = 1, .batch_size = 128, .verbose = 0});
    folder_s.push_back(bench::seconds_since(t0));
  }
  const double m = bench::median(memory_s), f = bench::median(folder_s);
  std::printf("cnn_epoch_seconds_in_memory=%.3f\n", m);
  std::printf("cnn_epoch_seconds_from_folder=%.3f\n", f);
  std::printf("cnn_train_images_per_second=%.0f\n", double(images) / m);
  std::printf("folder_over_memory=%.3f\n", f / m);

  auto augmentations = [] {
    return std::vector<LayerHandle>{layers::RandomFlip("horizontal"), layers::RandomTranslation(0.1, 0.1),
                                    layers::RandomZoom(0.1)};
  };
  std::vector<LayerHandle> in_step_front = {layers::Activation("linear")};
  for (auto& l : augmentations()) in_step_front.push_back(l);
  Sequential on_data_thread = rescaled_cnn(augmentations()), in_step = rescaled_cnn(in_step_front);
  std::vector<double> data_s, step_s;
  for (int e = 0; e < epochs; ++e) {
    auto t0 = bench::Clock::now();
    on_data_thread.fit(x, y, {.epochs = 1, .batch_size = 128, .verbose = 0});
    data_s.push_back(bench::seconds_since(t0));
    t0 = bench::Clock::now();
    in_step.fit(x, y, {.epochs = 1, .batch_size = 128, .verbose = 0});
    step_s.push_back(bench::seconds_since(t0));
  }
  const double a = bench::median(data_s), b = bench::median(step_s);
  std::printf("augmented_epoch_seconds_on_data_thread=%.3f\n", a);
  std::printf("augmented_epoch_seconds_in_step=%.3f\n", b);
  std::printf("data_thread_over_step=%.3f\n", a / b);
}
