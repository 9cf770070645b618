// A real folder of images: the PNG icons of Debian's adwaita-icon-theme, which sit in category
// folders (actions, devices, emotes, mimetypes, places, status). image_dataset_from_directory reads
// them with Keras's seeded split; a small CNN with augmentation at its front (run on the data
// thread while the step trains) learns the category from the picture, beside the majority-class
// baseline.
//
// Reads /usr/share/icons/Adwaita/48x48, or the folder given with --data. Prints name=value lines.
#include <algorithm>
#include <cstdio>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

int main(int argc, char** argv) {
  auto args = example::parse_args(argc, argv, "Icon categories of the Adwaita theme from their pictures.",
                                  {.epochs = 40, .batch_size = 32, .seed = 1337, .uses_convolutions = true});
  if (args.data.empty()) args.data = "/usr/share/icons/Adwaita/48x48";
  set_num_threads(args.threads);
  set_random_seed(args.seed);

  // Icons have transparency: the alpha channel is part of the picture.
  data::ImageFolderSplits parts = data::image_dataset_splits_from_directory(
      args.data, {.class_names = {"actions", "devices", "emotes", "mimetypes", "places", "status"},
                  .color_mode = "rgba",
                  .batch_size = args.batch_size,
                  .image_size = {32, 32},
                  .seed = uint32_t(args.seed),
                  .validation_split = 0.25});
  const auto& classes = parts.training.class_names();

  // The baseline: always answer the training part's most frequent category.
  std::vector<int> count(classes.size());
  for (int label : parts.training.file_labels()) ++count[size_t(label)];
  const int majority = int(std::max_element(count.begin(), count.end()) - count.begin());
  const auto& test_labels = parts.validation.file_labels();
  const double baseline = double(std::count(test_labels.begin(), test_labels.end(), majority)) / double(test_labels.size());

  Sequential model({
      layers::RandomFlip("horizontal", std::nullopt, Shape{32, 32, 4}),
      layers::RandomTranslation(0.1, 0.1),
      layers::Rescaling(1.f / 255),
      layers::Conv2D(32, {3, 3}, "relu", {.padding = "same"}),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu", {.padding = "same"}),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu", {.padding = "same"}),
      layers::GlobalAveragePooling2D(),
      layers::Dense(64, "relu"),
      layers::Dense(int64_t(classes.size()), "softmax"),
  });
  model.compile(optimizers::Adam(2e-3), "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(parts.training, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  const double accuracy = model.evaluate(parts.validation, {.batch_size = args.batch_size}).at("accuracy");

  std::printf("classes=%zu\n", classes.size());
  std::printf("train_images=%lld\n", static_cast<long long>(parts.training.size()));
  std::printf("test_images=%lld\n", static_cast<long long>(parts.validation.size()));
  std::printf("majority_baseline_accuracy=%.4f\n", baseline);
  std::printf("test_accuracy=%.4f\n", accuracy);
}
