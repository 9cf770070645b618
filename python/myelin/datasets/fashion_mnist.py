"""Fashion-MNIST: 60,000 training and 10,000 test 28x28 grey images of 10 kinds of clothing."""
from .. import _myelin
from ._images import keras_form


def load_data(path=None):
    """((x_train, y_train), (x_test, y_test)): uint8 images (n, 28, 28) and uint8 labels (n,), as Keras.
    `path` is the folder holding the four IDX files (default: Debian's dataset-fashion-mnist)."""
    train, test = _myelin.fashion_mnist(str(path or ""))
    return keras_form(train), keras_form(test)
