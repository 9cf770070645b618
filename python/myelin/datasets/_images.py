"""Shared by the image loaders: the library's scaled NHWC floats back to Keras's uint8 arrays."""
import numpy as np

# Rows converted at a time: whole-array temporaries would each be as large as the float images
# (188 MB for Fashion-MNIST's training set) and set the process's peak memory.
_CHUNK_ROWS = 4096


def keras_form(split):
    x, y = split
    # The library divides the file's bytes by 255; multiplying back and rounding recovers them exactly.
    images = np.empty(x.shape[:-1], dtype=np.uint8)
    for begin in range(0, len(x), _CHUNK_ROWS):
        scaled = x[begin:begin + _CHUNK_ROWS, ..., 0] * np.float32(255)
        images[begin:begin + _CHUNK_ROWS] = np.rint(scaled, out=scaled)
    labels = y.reshape(-1).astype(np.uint8)
    return images, labels
