// Loaders for standard data sets, returning ready-to-train tensors as keras.datasets and
// sklearn.datasets do.
//
// The small sets (boston_housing, digits, iris, diabetes) are read from the project's data/
// folder, which carries copies of them (see data/README.md for their sources); the environment
// variable MYELIN_DATA_DIR, if set, names another folder holding the same files.
#pragma once
#include <string>

#include "myelin/tensor.hpp"

namespace myelin::datasets {

/// Features and targets of one part of a data set.
struct Split {
  Tensor x;  ///< features (or images), batch-first
  Tensor y;  ///< targets: class indices or regression values, {n, 1}
};

/// A data set's training and test parts: `auto [train, test] = datasets::fashion_mnist();`.
struct TrainTest {
  Split train;  ///< the training part
  Split test;   ///< the held-out test part
};

/// The folder the small data sets are read from: $MYELIN_DATA_DIR if set and non-empty, else
/// the data/ folder of the source tree myelin was built from.
std::string data_dir();

/// Fashion-MNIST (Zalando; 60,000 training and 10,000 test 28x28 grey images of 10 clothing
/// classes). Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
/// t10k-labels-idx1-ubyte (each with or without .gz) from `dir`; an empty dir means
/// $MYELIN_FASHION_MNIST_DIR if set, else /usr/share/datasets/fashion-mnist (Debian's package
/// dataset-fashion-mnist). Images are scaled to [0, 1] with shape {n, 28, 28, 1} (NHWC, as
/// Keras's images after expand_dims); labels are float class indices 0..9 of shape {n, 1}.
/// Throws IOError naming the folder and files if they are missing or malformed.
TrainTest fashion_mnist(const std::string& dir = "");

/// The MNIST handwritten digits, from the same four IDX files as fashion_mnist, in `dir`
/// (empty: $MYELIN_MNIST_DIR). Same shapes and scaling as fashion_mnist.
/// Throws ValueError if no folder is given either way, IOError as fashion_mnist.
TrainTest mnist(const std::string& dir);

/// Boston house prices (Harrison & Rubinfeld 1978): x {506, 13} features (CRIM ... LSTAT,
/// unscaled), y {506, 1} median value MEDV in k$. The whole set: split it with
/// train_test_split (Keras's loader holds out 20%). Note that feature B encodes a racial
/// proportion, which is why scikit-learn 1.2 dropped its loader; prefer it only for
/// reproducing older results. `path` is the CSV file
/// (boston_house_prices.csv) or a folder holding it; empty means data_dir().
Split boston_housing(const std::string& path = "");

/// UCI optical handwritten digits (Alpaydin 1998, as sklearn.datasets.load_digits): x {1797, 64}
/// flattened 8x8 images with raw pixel values 0..16 (divide by 16 to scale to [0, 1]),
/// y {1797, 1} labels 0..9. `path` is digits.csv.gz or a folder holding it; empty means data_dir().
Split digits(const std::string& path = "");

/// Fisher's iris: x {150, 4} (sepal length, sepal width, petal length, petal width, in cm),
/// y {150, 1} classes 0 = setosa, 1 = versicolor, 2 = virginica. `path` is iris.csv or a folder
/// holding it; empty means data_dir().
Split iris(const std::string& path = "");

/// Diabetes progression (Efron et al. 2004): x {442, 10} raw, unscaled features (age, sex,
/// bmi, bp, s1..s6; sklearn's load_diabetes(scaled=False)), y {442, 1} a measure of disease
/// progression one year later. `dir` is the folder holding diabetes_data_raw.csv.gz and
/// diabetes_target.csv.gz; empty means data_dir().
Split diabetes(const std::string& dir = "");

}  // namespace myelin::datasets
