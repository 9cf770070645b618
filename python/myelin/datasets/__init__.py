"""Data sets with Keras's loaders (keras.datasets): fashion_mnist.load_data() and the others.

fashion_mnist and mnist return Keras's forms (uint8 images, uint8 labels); boston_housing returns
Keras's train/test split; digits, iris and diabetes return the whole set as (x, y), as scikit-learn's
load_*(return_X_y=True) do. The small sets come with myelin (data/ in the source tree, or
$MYELIN_DATA_DIR); Fashion-MNIST is Debian's dataset-fashion-mnist or $MYELIN_FASHION_MNIST_DIR.

Arguments against Keras's: boston_housing.load_data(path, test_split, seed) takes Keras's names,
defaults and range (0 <= test_split < 1); mnist.load_data(path) takes a folder of IDX files where
Keras's takes the name of an .npz file in its download cache; fashion_mnist.load_data() takes the
same optional folder, where Keras's takes no argument. Nothing is downloaded.
"""
from . import boston_housing, diabetes, digits, fashion_mnist, iris, mnist

__all__ = ["boston_housing", "diabetes", "digits", "fashion_mnist", "iris", "mnist"]
