// What augmentation buys on little data: the first 5,000 Fashion-MNIST training images written out
// as PNG files in one folder per class (as a user's own photos would come), read back with
// image_dataset_from_directory, and the users' CNN trained on them twice with one seed: plain, and
// with RandomFlip, RandomTranslation and RandomZoom at its front (run on the data thread while the
// step trains). Both are tested on the 10,000 test images.
//
// Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given
// with --data or $MYELIN_FASHION_MNIST_DIR. Prints its figures as name=value lines.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {

// The users' CNN (Conv2D 32/64/64 3x3 relu, 2x2 max pooling, Dense 64, Dense 10 softmax) behind
// `front`, taking raw 0..255 pixels.
Sequential cnn(std::vector<LayerHandle> front) {
  Sequential model;
  for (auto& l : front) model.add(l);
  for (LayerHandle l : {LayerHandle(layers::Rescaling(1.f / 255)), LayerHandle(layers::Conv2D(32, {3, 3}, "relu")),
                        LayerHandle(layers::MaxPooling2D({2, 2})), LayerHandle(layers::Conv2D(64, {3, 3}, "relu")),
                        LayerHandle(layers::MaxPooling2D({2, 2})), LayerHandle(layers::Conv2D(64, {3, 3}, "relu")),
                        LayerHandle(layers::Flatten()), LayerHandle(layers::Dense(64, "relu")),
                        LayerHandle(layers::Dense(10, "softmax"))})
    model.add(l);
  model.build(Shape{28, 28, 1});
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "The gain of augmentation on 5,000 Fashion-MNIST PNG files.",
                                        {.epochs = 40, .batch_size = 64, .uses_convolutions = true});
  set_num_threads(args.threads);
  auto [train, test] = datasets::fashion_mnist(args.data);

  // The folder a user would have: train/<class>/<index>.png.
  const int64_t n = 5000;
  const fs::path dir = fs::temp_directory_path() / ("fashion_png_" + std::to_string(::getpid()));
  for (int64_t r = 0; r < n; ++r) {
    data::Image image{28, 28, 1, std::vector<uint8_t>(784)};
    for (int64_t i = 0; i < 784; ++i) image.pixels[size_t(i)] = uint8_t(train.x.data()[r * 784 + i] * 255.f + 0.5f);
    const fs::path folder = dir / ("class_" + std::to_string(int(train.y.data()[r])));
    fs::create_directories(folder);
    data::save_png((folder / (std::to_string(r) + ".png")).string(), image);
  }
  const Tensor test_x = test.x * 255.f;

  auto accuracy = [&](std::vector<LayerHandle> front) {
    set_random_seed(args.seed);
    data::ImageFolderDataset images = data::image_dataset_from_directory(
        dir.string(), {.color_mode = "grayscale", .batch_size = args.batch_size, .image_size = {28, 28},
                       .seed = uint32_t(args.seed)});
    Sequential model = cnn(std::move(front));
    model.fit(images, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
    return model.evaluate(test_x, test.y).at("accuracy");
  };
  const double plain = accuracy({});
  // The garments lie on black: points shifted in from outside the image are black too ("constant"),
  // where Keras's default "reflect" would mirror the garment into the border.
  const double augmented = accuracy({layers::RandomFlip("horizontal"), layers::RandomTranslation(0.1, 0.1, "constant"),
                                     layers::RandomZoom(0.1, std::nullopt, "constant")});
  fs::remove_all(dir);

  std::printf("train_images=%lld\n", static_cast<long long>(n));
  std::printf("baseline_test_accuracy=%.4f\n", plain);
  std::printf("augmented_test_accuracy=%.4f\n", augmented);
  std::printf("augmentation_gain=%.4f\n", augmented - plain);
}
