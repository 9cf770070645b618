"""keras.layers.TextVectorization (output_mode="int"): strings to rows of int64 token ids.

It runs before the model, on the data, or opens a Sequential as in Keras:
Sequential([Input(shape=(1,), dtype="string"), vectorizer, Embedding(...), ...]) then fits, evaluates
and predicts on strings, and model.save keeps the vocabulary (myelin's layers carry float32 tensors,
so the model runs the vectorizer on the strings before its first layer). The text handling (standardize, split, the vocabulary's order, the
errors) is the C++ library's, documented in include/myelin/data/text_vectorization.hpp.
"""
import os

import numpy as np

from . import _myelin

__all__ = ["TextVectorization"]


def _texts(data, what):
    """A list of str or bytes from a list, tuple or numpy array of strings: shape (n,), or (n, 1)
    as Keras also accepts (one string per row)."""
    if isinstance(data, (str, bytes)):
        raise ValueError(f"{what} must be a list or array of strings (one per example), got a single string")
    if isinstance(data, _myelin.KerasTensor):
        raise TypeError("TextVectorization runs on strings before the model: open a Sequential with it "
                        "(Sequential([Input(shape=(1,), dtype='string'), vectorizer, ...])), or call it on the "
                        "data (a list or array of str) and feed its ids to the model's Input")
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "USO":
            raise TypeError(f"{what} must hold strings, got an array of dtype {data.dtype}")
        if data.ndim == 2 and data.shape[1] == 1:
            data = data[:, 0]
        if data.ndim != 1:
            raise ValueError(f"{what} must have shape (n,) or (n, 1), got {data.shape}")
        data = data.tolist()
    elif isinstance(data, (list, tuple)):
        # Keras's [["foo bar"], ["baz"]]: one string per row.
        data = [row[0] if isinstance(row, (list, tuple)) and len(row) == 1 else row for row in data]
    else:
        raise TypeError(f"{what} must be a list, tuple or numpy array of strings, got {type(data).__name__}")
    for i, t in enumerate(data):
        if not isinstance(t, (str, bytes)):
            raise TypeError(f"{what}[{i}] must be a str (or UTF-8 bytes), got {type(t).__name__}")
    return data


def _optional_int(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an integer or None, got {value!r}")
    return int(value)


def _vocabulary_list(vocabulary):
    """Keras's vocabulary argument, a file path or a list/array of tokens, as a list of str."""
    if isinstance(vocabulary, (str, os.PathLike)):
        return _myelin.read_vocabulary_file(os.fspath(vocabulary))
    tokens = _texts(vocabulary, "vocabulary")
    for i, t in enumerate(tokens):
        if isinstance(t, bytes):
            try:
                tokens[i] = t.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"vocabulary[{i}] is not valid UTF-8 (byte offset {e.start})") from None
    return tokens


class TextVectorization:
    """TextVectorization(max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
    output_mode="int", output_sequence_length=None, vocabulary=None): maps a batch of strings to token
    ids, 0 for padding, 1 for out-of-vocabulary tokens, then the vocabulary in order. adapt(texts)
    learns the vocabulary by descending count (ties: tokens high to low, as Keras). vocabulary may
    be a list of tokens or the path of a file with one token per line."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False,
                 vocabulary=None, idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 max_text_bytes=None, **kwargs):
        for key in kwargs:
            if key not in ("trainable", "dtype", "vocabulary_size", "has_input_vocabulary"):
                raise TypeError(f"TextVectorization: unexpected argument {key!r}")
        if callable(standardize) or callable(split):
            raise ValueError("myelin's TextVectorization takes standardize and split by name, not as callables")
        config = {
            "max_tokens": _optional_int(max_tokens, "max_tokens"),
            "standardize": standardize,
            "split": split,
            "ngrams": ngrams,
            "output_mode": output_mode,
            "output_sequence_length": _optional_int(output_sequence_length, "output_sequence_length"),
            "pad_to_max_tokens": bool(pad_to_max_tokens),
            "sparse": bool(sparse),
            "ragged": bool(ragged),
            "vocabulary": None if vocabulary is None else _vocabulary_list(vocabulary),
            "idf_weights": None if idf_weights is None else list(idf_weights),
            "encoding": encoding,
        }
        if name is not None:
            config["name"] = name
        if max_text_bytes is not None:
            config["max_text_bytes"] = _optional_int(max_text_bytes, "max_text_bytes")
        if "has_input_vocabulary" in kwargs:  # from get_config(): whether the vocabulary was adapted
            config["has_input_vocabulary"] = bool(kwargs["has_input_vocabulary"])
        self._core = _myelin.TextVectorization.from_config(config)

    @classmethod
    def _wrap(cls, core):
        """The Python face of a C++ TextVectorization (a loaded model's)."""
        layer = cls.__new__(cls)
        layer._core = core
        return layer

    @property
    def name(self):
        return self._core.name

    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary from a list or numpy array of strings (replacing an earlier one)."""
        if steps is not None:
            raise ValueError("TextVectorization.adapt: steps is for tf.data datasets, which myelin does not take")
        self._core.adapt(_texts(data, "adapt data"))

    def __call__(self, inputs):
        """Token ids of a list or array of strings: an int64 array (batch, length)."""
        return self._core(_texts(inputs, "inputs"))

    def get_vocabulary(self, include_special_tokens=True):
        return self._core.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        if idf_weights is not None:
            raise ValueError("idf_weights are for output_mode='tf_idf', which myelin does not support")
        self._core.set_vocabulary(_vocabulary_list(vocabulary))

    def vocabulary_size(self):
        return self._core.vocabulary_size()

    def get_config(self):
        return self._core.get_config()

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<TextVectorization name={self.name!r} vocabulary_size={self.vocabulary_size()}>"
