// A model that takes raw pixels: the preprocessing layers (Rescaling, CenterCrop, Resizing) sit at
// the front of the model, so the saved file predicts from 0..255 images with nothing done by hand.
//
// Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given
// with --data or $MYELIN_FASHION_MNIST_DIR. Prints its figures as name=value lines.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Fashion-MNIST from raw 0..255 pixels, preprocessing in the model.",
                                        {.epochs = 3, .batch_size = 128, .verbose = 2});
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // The loader scales pixels to [0, 1]; scaled back, they are the 0..255 values of the files.
  auto [train, test] = datasets::fashion_mnist(args.data);
  train.x = train.x * 255.f;
  test.x = test.x * 255.f;

  Sequential model({
      layers::Rescaling(1.f / 255, 0.f, Shape{28, 28, 1}),  // 0..255 to 0..1
      layers::CenterCrop(24, 24),                           // the garment, without the empty border
      layers::Resizing(16, 16),                             // bilinear, as Keras
      layers::Flatten(),
      layers::Dense(64, "relu"),
      layers::Dense(10, "softmax"),
  });
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  const double accuracy = model.evaluate(test.x, test.y).at("accuracy");

  // Saved and loaded, the model still takes raw pixels and predicts the same.
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("raw_pixels_" + std::to_string(args.seed) + "_" + std::to_string(::getpid()) + ".safetensors"))
                               .string();
  model.save(path);
  Sequential loaded = load_model(path);
  std::filesystem::remove(path);
  const Tensor a = model.predict(test.x), b = loaded.predict(test.x);
  float difference = 0.f;
  for (int64_t i = 0; i < a.size(); ++i) difference = std::max(difference, std::abs(a[i] - b[i]));

  std::printf("input_pixel_max=%.0f\n", *std::max_element(test.x.data(), test.x.data() + test.x.size()));
  std::printf("test_accuracy=%.4f\n", accuracy);
  std::printf("loaded_prediction_max_difference=%.3g\n", double(difference));
}
