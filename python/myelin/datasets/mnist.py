"""MNIST handwritten digits (not shipped: give the folder holding its four IDX files)."""
from .. import _myelin
from ._images import keras_form


def load_data(path=None):
    """((x_train, y_train), (x_test, y_test)) as Keras, from `path` or $MYELIN_MNIST_DIR."""
    train, test = _myelin.mnist(str(path or ""))
    return keras_form(train), keras_form(test)
