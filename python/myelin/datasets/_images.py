"""Shared by the image loaders: the library's scaled NHWC floats back to Keras's uint8 arrays."""
import numpy as np


def keras_form(split):
    x, y = split
    # The library divides the file's bytes by 255; multiplying back and rounding recovers them exactly.
    images = np.rint(x[..., 0] * np.float32(255)).astype(np.uint8)
    labels = y.reshape(-1).astype(np.uint8)
    return images, labels
