"""keras.utils's helpers: set_random_seed, to_categorical, image_dataset_from_directory."""
import random

import numpy as np

from . import _myelin
from .preprocessing import to_categorical

__all__ = ["set_random_seed", "to_categorical", "image_dataset_from_directory", "set_num_threads", "set_winograd_convolutions", "memory_limit"]


def set_random_seed(seed):
    """Seeds myelin (initialisation, shuffling, dropout of the models created afterwards), and, as
    keras.utils.set_random_seed does, Python's random module and numpy's global generator."""
    seed = int(seed)
    _myelin.set_random_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def set_num_threads(n):
    """Threads every kernel uses; 0 restores the default (all cores)."""
    _myelin.set_num_threads(int(n))


def set_winograd_convolutions(allowed):
    """Whether 3x3 convolutions with stride 1, channels in multiples of 16 and batches of 16 or
    more may run as Winograd F(4x4, 3x3) (on by default: the Fashion-MNIST CNN trains about 15%
    faster). Its rounding error is about 1e-6 of a tensor's largest value, against a few 1e-7 for
    a direct convolution; False gives direct convolutions, for comparisons of single outputs. oneDNN
    has Winograd kernels only for CPUs with AVX-512: elsewhere every convolution is direct."""
    _myelin.set_winograd_convolutions(bool(allowed))


def memory_limit():
    """(bytes, source): the memory this process may still take. Models compare their weights,
    optimizer state and batch activations with it before allocating and raise MemoryError
    (myelin.ResourceError) beyond it. The smallest of physical memory or the cgroup's limit
    (replaced by $MYELIN_MEMORY_LIMIT, as "2G", when set) and the address-space limit."""
    return _myelin.memory_limit()


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True, strict=False):
    """Keras's image_dataset_from_directory: a dataset of the image files (.bmp, .gif, .jpeg, .jpg,
    .png) under `directory`, one subfolder per class (labels="inferred"), or with `labels` a list
    of integer labels for the files in sorted path order, or labels=None for images alone (for
    predict: every file below `directory`, targets of zero columns). Batches of images are float32 arrays
    (batch, height, width, channels) with values 0..255, decoded and resized on background threads
    while the model trains. fit, evaluate and predict take it as x, with its batch_size.

    The file list is shuffled with `seed` exactly as Keras does (numpy's RandomState(seed)), so
    validation_split with subset "training", "validation" or "both" (a tuple of the two) splits
    a folder into the same parts as Keras. A file that does not decode is skipped and named on
    stderr at the end of the epoch; strict=True makes it an error naming the file. The dataset's
    class_names and file_paths say what it holds; predict reads it in file_paths order."""
    unlabeled = labels is None or label_mode is None
    if pad_to_aspect_ratio:
        raise ValueError("image_dataset_from_directory: pad_to_aspect_ratio=True is not supported; "
                         "crop_to_aspect_ratio=True keeps the aspect ratio by cropping")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"image_dataset_from_directory: data_format must be 'channels_last' (NHWC), got {data_format!r}")
    if batch_size is None:
        raise ValueError("image_dataset_from_directory: batch_size=None (an unbatched dataset) is not supported; "
                         "fit reads datasets in batches")
    if unlabeled:
        if class_names is not None:
            raise ValueError("image_dataset_from_directory: class_names cannot be given without labels")
        labels, label_mode = [], "int"
    elif isinstance(labels, str):
        if labels != "inferred":
            raise ValueError(f"image_dataset_from_directory: labels must be 'inferred' or a list of integers, got {labels!r}")
        labels = []
    else:
        labels = [int(label) for label in labels]
    image_size = tuple(int(s) for s in image_size)
    if len(image_size) != 2:
        raise ValueError(f"image_dataset_from_directory: image_size must be (height, width), got {image_size!r}")
    result = _myelin.image_dataset_from_directory(
        str(directory), labels, unlabeled, label_mode, list(class_names or []), color_mode, int(batch_size), image_size,
        bool(shuffle), None if seed is None else int(seed), float(validation_split or 0.0), subset or "",
        interpolation, bool(follow_links), bool(crop_to_aspect_ratio), bool(strict))
    if verbose:
        parts = result if isinstance(result, tuple) else (result,)
        if subset in (None, "both"):
            found = sum(p.size for p in parts)
            print(f"Found {found} files." if unlabeled else
                  f"Found {found} files belonging to {len(parts[0].class_names)} classes.")
        if subset in ("training", "both"):
            print(f"Using {parts[0].size} files for training.")
        if subset in ("validation", "both"):
            print(f"Using {parts[-1].size} files for validation.")
    return list(result) if isinstance(result, tuple) else result
