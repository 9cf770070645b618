"""Datasets that fit, evaluate and predict read batch by batch, for data larger than memory.

    train = myelin.data.IdxDataset("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    model.fit(train, epochs=5, batch_size=128)

The model reads the next batch on a background thread while the current one trains. Give the
dataset as x and leave y out; validation_data may be a dataset too.
"""
import numpy as np

from . import _myelin

__all__ = ["Dataset", "IdxDataset", "CsvDataset", "GeneratorDataset", "gunzip_file", "read_idx"]

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
    column, as fit(x, y) takes it. For a model of several inputs or outputs give a list of shapes,
    e.g. x_shape=[(4,), (2,)], and let fn return lists of arrays in the model's order:
    ([xa, xb], [y1, y2]).

    With sample_weight=True every batch is a triple (x, y, sample_weight), as Keras's generators
    may yield: one weight per row, used by fit and evaluate exactly as their sample_weight
    argument (for every output). With sample_weight="per_output", the third item is a list of one
    such array per output."""

    def __init__(self, fn, x_shape, y_shape, sample_weight=False):
        if not callable(fn):
            raise TypeError(f"GeneratorDataset needs a callable fn(epoch), got {type(fn).__name__}")
        several_y = _is_shape_list(y_shape)
        y_shapes = [tuple(int(d) for d in s) for s in (y_shape if several_y else [y_shape])]
        x_shapes = [tuple(int(d) for d in s) for s in (x_shape if _is_shape_list(x_shape) else [x_shape])]
        if sample_weight == "per_output":
            weight_arrays = len(y_shapes)
        elif sample_weight in (False, True):
            weight_arrays = int(bool(sample_weight))
        else:
            raise ValueError(f"GeneratorDataset: sample_weight must be False, True or 'per_output', got {sample_weight!r}")

        def as_column(y, shape):
            y = np.asarray(y)
            return y.reshape(-1, 1) if y.ndim == 1 and shape == (1,) else y

        def next_batch(epoch):
            batch = fn(epoch)
            if batch is None:
                return None
            batch = tuple(batch)
            if len(batch) == 3 and not weight_arrays:
                raise ValueError("GeneratorDataset: the function returned (x, y, sample_weight); "
                                 "create the dataset with sample_weight=True")
            if len(batch) == 2 and weight_arrays:
                raise ValueError("GeneratorDataset: the function returned (x, y) but the dataset was "
                                 "created with sample_weight=True; return (x, y, sample_weight)")
            if len(batch) not in (2, 3):
                raise ValueError(f"GeneratorDataset: the function must return (x, y) or (x, y, sample_weight), "
                                 f"got a tuple of {len(batch)}")
            y = batch[1]
            if several_y and isinstance(y, (list, tuple)):
                y = [as_column(a, s) for a, s in zip(y, y_shapes)] + list(y[len(y_shapes):])
            elif not several_y and not isinstance(y, (list, tuple, dict)):
                y = as_column(y, y_shapes[0])
            weights = ()
            if len(batch) == 3:
                w = batch[2]
                weights = ([np.asarray(a, dtype=np.float32) for a in w] if isinstance(w, (list, tuple))
                           else np.asarray(w, dtype=np.float32),)
            return (batch[0], y) + weights

        super().__init__(next_batch, x_shapes if len(x_shapes) > 1 else x_shapes[0],
                         y_shapes if several_y else y_shapes[0], weight_arrays)


def _is_shape_list(shape):
    """Whether a shape argument is a list of per-sample shapes ([(4,), (2,)]) rather than one shape."""
    return isinstance(shape, (list, tuple)) and len(shape) > 0 and isinstance(shape[0], (list, tuple))


def gunzip_file(src, dst):
    """Decompresses the gzip file src into dst (IdxDataset needs the raw bytes to map them)."""
    _myelin.gunzip_file(str(src), str(dst))


def read_idx(path):
    """An IDX file (gzip or raw) as a float32 array of the file's dimensions, values unscaled
    (0..255 for bytes): read_idx("t10k-images-idx3-ubyte.gz").shape == (10000, 28, 28)."""
    return _myelin.read_idx(str(path))
