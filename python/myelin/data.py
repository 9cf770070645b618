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
    column, as fit(x, y) takes it. With sample_weight=True every batch is a triple
    (x, y, sample_weight), as Keras's generators may yield: one weight per row, used by fit and
    evaluate exactly as their sample_weight argument."""

    def __init__(self, fn, x_shape, y_shape, sample_weight=False):
        if not callable(fn):
            raise TypeError(f"GeneratorDataset needs a callable fn(epoch), got {type(fn).__name__}")
        y_shape = tuple(int(d) for d in y_shape)

        def next_batch(epoch):
            batch = fn(epoch)
            if batch is None:
                return None
            batch = tuple(batch)
            if len(batch) == 3 and not sample_weight:
                raise ValueError("GeneratorDataset: the function returned (x, y, sample_weight); "
                                 "create the dataset with sample_weight=True")
            if len(batch) == 2 and sample_weight:
                raise ValueError("GeneratorDataset: the function returned (x, y) but the dataset was "
                                 "created with sample_weight=True; return (x, y, sample_weight)")
            if len(batch) not in (2, 3):
                raise ValueError(f"GeneratorDataset: the function must return (x, y) or (x, y, sample_weight), "
                                 f"got a tuple of {len(batch)}")
            y = np.asarray(batch[1])
            if y.ndim == 1 and y_shape == (1,):
                y = y.reshape(-1, 1)
            return (batch[0], y) + tuple(np.asarray(w, dtype=np.float32) for w in batch[2:])

        super().__init__(next_batch, tuple(int(d) for d in x_shape), y_shape, bool(sample_weight))


def gunzip_file(src, dst):
    """Decompresses the gzip file src into dst (IdxDataset needs the raw bytes to map them)."""
    _myelin.gunzip_file(str(src), str(dst))
