// Why did the model say that? The seed CNN trained on Fashion-MNIST, then four explanations of its
// predictions side by side, and Integrated Gradients of a Boston housing regression as a table.
//
// Writes a grid picture (--output, default attributions.png): 8 test images, one per row, and in
// the columns the image, saliency, SmoothGrad, Integrated Gradients and Grad-CAM, each laid over the
// image in the jet colour map (blue: nothing, red: the most). Prints:
//   completeness_error  mean over the 8 images of |sum(IG) - (f(x) - f(0))| / |f(x) - f(0)|, f the
//                       predicted class's logit: Integrated Gradients add up to the score's change
//   in_item_fraction    of 1000 test images, the share whose Grad-CAM map (at the picture's layer)
//                       lies more than half on the item's pixels (those not zero)
//   in_item_fraction_uniform  the same share for a map that is the same everywhere: the images whose
//                       item covers more than half of them. The seed CNN does no better than that:
//                       its convolutions' biases make the empty background a constant, non-zero
//                       activation that Grad-CAM weighs like any other, and the network recognises
//                       items partly by their outline, whose evidence lies on both sides of it
//                       (trousers by the gap between the legs: see the picture)
//   in_item_fraction_bias_free  the same share for the seed CNN's layers trained without convolution
//                       biases, whose maps are zero wherever the image is empty, at its first
//                       convolution (3 x 3 receptive fields)
#include <cmath>
#include <cstdio>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

namespace {

// The seed CNN; bias = false drops its convolutions' biases.
Sequential seed_cnn(bool bias) {
  return Sequential({
      layers::Conv2D(32, {3, 3}, "relu", {.input_shape = Shape{28, 28, 1}, .use_bias = bias}),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu", {.use_bias = bias}),
      layers::MaxPooling2D({2, 2}),
      layers::Conv2D(64, {3, 3}, "relu", {.use_bias = bias}),
      layers::Flatten(),
      layers::Dense(64, "relu"),
      layers::Dense(10, "softmax"),
  });
}

// The share of images whose map lies more than half on the item's pixels (those not zero); an
// all-zero map points at nothing and counts as not on the item.
double in_item_fraction(const Tensor& maps, const Tensor& images) {
  const int64_t pixels = images.row_size();
  int inside = 0;
  for (int64_t r = 0; r < images.rows(); ++r) {
    double on = 0, all = 0;
    for (int64_t p = 0; p < pixels; ++p) {
      all += maps[r * pixels + p];
      if (images[r * pixels + p] > 0) on += maps[r * pixels + p];
    }
    inside += all > 0 && on > 0.5 * all;
  }
  return double(inside) / double(images.rows());
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = example::parse_args(
      argc, argv, "Explanations of a Fashion-MNIST CNN and a Boston housing regression.",
      {.epochs = 3, .batch_size = 128, .verbose = 0, .uses_convolutions = true, .output = "attributions.png"});
  set_num_threads(args.threads);
  set_random_seed(args.seed);
  layers::set_winograd_convolutions(args.winograd);

  auto [train, test] = datasets::fashion_mnist(args.data);
  Sequential cnn = seed_cnn(true);
  cnn.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  cnn.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  std::printf("test_accuracy=%.4f\n", cnn.evaluate(test.x, test.y, {.batch_size = 256})["accuracy"]);

  // Eight test images, each explained for the class the model predicts.
  const Tensor images = test.x.rows(0, 8).clone();
  const Tensor saliency = explain::saliency(cnn, images);
  const Tensor smooth = explain::smooth_grad(cnn, images, {}, {.samples = 50, .noise = 0.15});
  const Tensor ig = explain::integrated_gradients(cnn, images, {}, {.steps = 64});
  // The middle convolution (11 x 11) locates more finely than the last (3 x 3).
  const Tensor cam = explain::grad_cam(cnn, images, {}, {.layer = "conv2d_1"});
  explain::save_heatmap_grid(args.output, images, {saliency, smooth, ig, cam}, {.scale = 4});

  // Completeness: the attributions add up to f(x) - f(baseline), the baseline a black image.
  const Tensor fx = explain::scores(cnn, images), f0 = explain::scores(cnn, Tensor(images.shape()),
                                                                         explain::target_units(cnn, images));
  double error = 0;
  for (int64_t r = 0; r < images.rows(); ++r) {
    double sum = 0;
    for (int64_t i = 0; i < images.row_size(); ++i) sum += ig[r * images.row_size() + i];
    error += std::abs(sum - (fx[r] - f0[r])) / std::abs(fx[r] - f0[r]) / double(images.rows());
  }
  std::printf("completeness_error=%.5f\n", error);

  // Where Grad-CAM's mass lies: on the item's pixels or on the background.
  const Tensor many = test.x.rows(0, 1000).clone();
  const Tensor maps = explain::grad_cam(cnn, many, {}, {.layer = "conv2d_1"});
  std::printf("in_item_fraction=%.4f\n", in_item_fraction(maps, many));
  int64_t item_covers_half = 0;
  for (int64_t r = 0; r < many.rows(); ++r) {
    int64_t item = 0;
    for (int64_t p = 0; p < many.row_size(); ++p) item += many[r * many.row_size() + p] > 0;
    item_covers_half += 2 * item > many.row_size();
  }
  std::printf("in_item_fraction_uniform=%.4f\n", double(item_covers_half) / double(many.rows()));
  Sequential bias_free = seed_cnn(false);
  bias_free.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  bias_free.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  std::printf("bias_free_test_accuracy=%.4f\n", bias_free.evaluate(test.x, test.y, {.batch_size = 256})["accuracy"]);
  std::printf("in_item_fraction_bias_free=%.4f\n",
              in_item_fraction(explain::grad_cam(bias_free, many, {}, {.layer = bias_free.layers()[0]->name()}), many));

  // A tabular model: which features raised or lowered one house's predicted price.
  auto boston = data::read_csv(datasets::data_dir() + "/boston_house_prices.csv", {.skip_rows = 1});
  auto [x_train, x_test, y_train, y_test] = train_test_split(boston.x, boston.y, 0.2, 42);
  const Tensor x_test_raw = x_test.clone();  // the table shows the house's own figures
  StandardScaler scaler;
  x_train = scaler.fit_transform(x_train);
  x_test = scaler.transform(x_test);
  Sequential regression({layers::Dense(10, "relu", Shape{13}), layers::Dense(1)});
  regression.compile(optimizers::Adam(1e-3), "mse");
  regression.fit(x_train, y_train, {.epochs = 100, .batch_size = 10, .verbose = 0});
  // Baseline zero: the average house, since the features are standardised.
  const Tensor house = x_test.rows(0, 1).clone();
  const Tensor attributions = explain::integrated_gradients(regression, house, 0, {.steps = 64});
  std::printf("house_price_predicted=%.2f\n", regression.predict(house).at(0, 0));
  std::printf("house_price_average=%.2f\n", explain::scores(regression, Tensor(house.shape()), 0)[0]);
  explain::print_feature_table(std::cout, explain::feature_table(x_test_raw.rows(0, 1), attributions, 0, boston.feature_names));
}
