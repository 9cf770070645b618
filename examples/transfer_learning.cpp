// Transfer learning on Fashion-MNIST: a CNN trained on the classes 0-4 (T-shirt, trouser, pullover,
// dress, coat) lends its convolutional base, frozen, to a new head that learns the classes 5-9
// (sandal, shirt, sneaker, bag, ankle boot) from only 500 images; the same network trained from
// scratch on those 500 images is the comparison.
//
//   base:     Conv2D(32, 3x3, relu) -> MaxPooling2D -> Conv2D(64, 3x3, relu) -> MaxPooling2D
//             -> Flatten ("features") -> Dense(64, relu) -> Dense(5, softmax), on 30,000 images
//   transfer: Model(base.input(), base.get_layer("features")->output()), frozen, called as a layer,
//             then a new head Dense(64, relu) -> Dense(5, softmax)
//   scratch:  the same architecture with fresh weights, every layer trained
//
// --epochs sets the base's epochs; the two small models train for 30 epochs of batch 32 each.
// Reads Debian's dataset-fashion-mnist, or --data DIR / $MYELIN_FASHION_MNIST_DIR.
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

namespace {

constexpr int kHeadEpochs = 30;
constexpr int64_t kFewImages = 500;

// The rows of `split` whose label is in [first, first + 5), at most `limit` of them, in order;
// labels shifted to 0..4.
datasets::Split five_classes(const datasets::Split& split, int first, int64_t limit) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < split.y.rows() && int64_t(rows.size()) < limit; ++i)
    if (split.y[i] >= float(first) && split.y[i] < float(first + 5)) rows.push_back(i);
  datasets::Split out{split.x.gather_rows(rows), split.y.gather_rows(rows)};
  for (int64_t i = 0; i < out.y.size(); ++i) out.y[i] -= float(first);
  return out;
}

// The whole network; its Flatten is named "features", where the convolutional base ends.
Sequential cnn() {
  auto features = std::make_shared<layers::Flatten>();
  features->set_name("features");
  Sequential model({
      layers::Input({28, 28, 1}),  // a graph input, which base.input() names
      layers::Conv2D(32, {3, 3}, "relu"),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu"),
      layers::MaxPooling2D({2, 2}),
      features,
      layers::Dense(64, "relu"),
      layers::Dense(5, "softmax"),
  });
  model.build();  // records the layer calls that get_layer("features")->output() reads
  return model;
}

// `base` (the convolutional part) called as a layer on a new input, under a new Dense head.
Model with_new_head(Model& base) {
  auto inputs = layers::Input({28, 28, 1});
  auto x = layers::Dense(64, "relu")(base(inputs));
  Model model(inputs, layers::Dense(5, "softmax")(x));
  model.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = example::parse_args(argc, argv, "Transfer learning from Fashion-MNIST classes 0-4 to 5-9.",
                                        {.epochs = 3, .batch_size = 128, .verbose = 0, .uses_convolutions = true});
  set_num_threads(args.threads);
  set_random_seed(args.seed);
  layers::set_winograd_convolutions(args.winograd);

  auto [train, test] = datasets::fashion_mnist(args.data);
  const auto old_train = five_classes(train, 0, train.x.rows()), old_test = five_classes(test, 0, test.x.rows());
  const auto new_train = five_classes(train, 5, kFewImages), new_test = five_classes(test, 5, test.x.rows());

  // 1. The base network learns the first five classes.
  Sequential base = cnn();
  base.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  base.fit(old_train.x, old_train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  std::printf("base_test_accuracy=%.4f\n", base.evaluate(old_test.x, old_test.y, {.batch_size = 256})["accuracy"]);

  // 2. Its convolutional part, frozen, under a new head fitted on 500 images of the other five.
  Model features(base.input(), base.get_layer("features")->output(), "features");
  for (const auto& layer : features.layers()) layer->set_trainable(false);
  const std::vector<Tensor> frozen_before = features.get_weights();
  Model transfer = with_new_head(features);
  transfer.fit(new_train.x, new_train.y, {.epochs = kHeadEpochs, .batch_size = 32, .verbose = args.verbose});
  const double transfer_accuracy = transfer.evaluate(new_test.x, new_test.y, {.batch_size = 256})["accuracy"];

  // The frozen weights, bit for bit.
  const std::vector<Tensor> frozen_after = features.get_weights();
  int64_t values = 0, changed = 0;
  for (size_t i = 0; i < frozen_before.size(); ++i)
    for (int64_t j = 0; j < frozen_before[i].size(); ++j, ++values)
      changed += std::memcmp(frozen_before[i].data() + j, frozen_after[i].data() + j, sizeof(float)) != 0;

  // 3. The same architecture from scratch on the same 500 images.
  Sequential fresh = cnn();
  Model fresh_features(fresh.input(), fresh.get_layer("features")->output(), "fresh_features");
  Model scratch = with_new_head(fresh_features);
  scratch.fit(new_train.x, new_train.y, {.epochs = kHeadEpochs, .batch_size = 32, .verbose = args.verbose});
  const double scratch_accuracy = scratch.evaluate(new_test.x, new_test.y, {.batch_size = 256})["accuracy"];

  std::printf("new_train_images=%lld\n", (long long)new_train.x.rows());
  std::printf("new_test_images=%lld\n", (long long)new_test.x.rows());
  std::printf("transfer_test_accuracy=%.4f\n", transfer_accuracy);
  std::printf("scratch_test_accuracy=%.4f\n", scratch_accuracy);
  std::printf("transfer_gain=%.4f\n", transfer_accuracy - scratch_accuracy);
  std::printf("frozen_values=%lld\n", (long long)values);
  std::printf("frozen_values_changed=%lld\n", (long long)changed);
}
