"""Datasets that fit, evaluate and predict read batch by batch, for data larger than memory.

    train = myelin.data.IdxDataset("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    model.fit(train, epochs=5, batch_size=128)

The model reads the next batch on a background thread while the current one trains. Give the
dataset as x and leave y out; validation_data may be a dataset too.
"""
import numpy as np

from . import _myelin

__all__ = ["Dataset", "IdxDataset", "CsvDataset", "GeneratorDataset", "gunzip_file"]

Dataset = _myelin.Dataset

# IdxDataset(images_path, labels_path, scale=1/255, add_channel=False): raw (uncompressed) IDX
# files read through a memory map; labels become class indices of shape (1,).
IdxDataset = _myelin.IdxDataset

# CsvDataset(path, target_column=None, target_index=-1, delimiter=',', header=True,
# shuffle_buffer=10000): a CSV file streamed in chunks, shuffled within a bounded buffer as
# tf.data's shuffle(buffer_size) does.
CsvDataset = _myelin.CsvDataset


class GeneratorDataset(_myelin.GeneratorDataset):
    """Batches produced by Python code, as Keras's fit(generator): fn(epoch) returns the epoch's
    next batch (x, y) of numpy arrays, or None once the epoch is over. Batches may have any number
    of rows; the model re-cuts them to its batch_size. fn is called from the model's background
    thread (holding the GIL), one call at a time.

    x_shape and y_shape are the per-sample shapes, e.g. (28, 28) and (1,); a 1-D y is taken as one
    column, as fit(x, y) takes it."""

    def __init__(self, fn, x_shape, y_shape):
        if not callable(fn):
            raise TypeError(f"GeneratorDataset needs a callable fn(epoch), got {type(fn).__name__}")
        y_shape = tuple(int(d) for d in y_shape)

        def next_batch(epoch):
            batch = fn(epoch)
            if batch is None:
                return None
            x, y = batch
            y = np.asarray(y)
            if y.ndim == 1 and y_shape == (1,):
                y = y.reshape(-1, 1)
            return x, y

        super().__init__(next_batch, tuple(int(d) for d in x_shape), y_shape)


def gunzip_file(src, dst):
    """Decompresses the gzip file src into dst (IdxDataset needs the raw bytes to map them)."""
    _myelin.gunzip_file(str(src), str(dst))
