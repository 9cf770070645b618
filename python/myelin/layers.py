"""Layers with Keras's names, arguments and defaults (keras.layers).

Each class turns its arguments into Keras's get_config() dict and asks the C++ layer registry for
the layer, so a layer the C++ library knows needs only its argument list here. A model built in
Python is therefore the same C++ object a C++ program would build.
"""
from . import _myelin

__all__ = [
    "Layer", "Dense", "Activation", "Dropout", "Masking", "Flatten", "InputLayer", "Input", "Normalization",
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
    "UpSampling1D",
    "BatchNormalization", "LayerNormalization", "Embedding", "Reshape", "ZeroPadding2D", "SpatialDropout2D", "Rescaling", "CenterCrop",
    "Resizing", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop",
    "RandomContrast", "RandomBrightness", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "Concatenate", "Dot", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
    "MultiHeadAttention", "Attention", "TimeDistributed", "serialize", "deserialize",
]

# Keras class name -> Python class, for wrapping layers that come out of a loaded model.
_CLASSES = {}


def _serialize(value):
    """An initializer or regularizer object as Keras's {"class_name", "config"} dict; a name as is."""
    if value is None or isinstance(value, (str, dict)):
        return value
    if hasattr(value, "get_config"):
        return {"class_name": type(value).__name__, "config": value.get_config()}
    raise TypeError(f"expected a name or an initializer/regularizer object, got {value!r}")


def _regularizer(value):
    """A regularizer argument as the C++ layer reads it: Keras's names ('l2') become their objects."""
    if isinstance(value, str):
        from . import regularizers
        value = regularizers.get(value)
    return _serialize(value)


def _activation_name(activation):
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    if callable(activation) and hasattr(activation, "__name__"):  # keras.activations.relu
        return activation.__name__
    raise TypeError(f"activation must be a name such as 'relu', got {activation!r}")


def _whole(value, what):
    """An integer (numpy's included, booleans not) as an int."""
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _positive_int(value, what):
    value = _whole(value, what)
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return value


def _pair(value, what):
    if isinstance(value, int):
        return [_positive_int(value, what)] * 2
    value = list(value)
    if len(value) != 2:
        raise ValueError(f"{what} must be an integer or a pair of integers, got {value!r}")
    return [_positive_int(v, what) for v in value]


def _single(value, what):
    """A 1-D size: an integer or Keras's 1-tuple (3,)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{what} must be an integer or a tuple of one integer, got {value!r}")
        value = value[0]
    return _positive_int(value, what)


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError("myelin's images are channels_last (NHWC)")


def _rate(value, layer):
    rate = float(value)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{layer} rate must be in [0, 1), got {rate}")
    return rate


def _unsupported(**kwargs):
    for key, value in kwargs.items():
        if value is not None:
            raise ValueError(f"{key} is not supported by myelin (got {value!r})")


class Layer:
    """Base of every layer: a handle on the C++ layer plus Keras's common arguments."""

    class_name = None  # Keras's class name, as the C++ registry knows it

    def __init__(self, config, name=None, input_shape=None, input_dim=None, batch_input_shape=None,
                 trainable=True, dtype=None):
        if isinstance(dtype, dict):  # Keras's {"class_name": "DTypePolicy", "config": {"name": ...}}
            dtype = dtype.get("config", {}).get("name")
        if dtype not in (None, "float32", "mixed_bfloat16"):
            raise ValueError(f"myelin's layers take dtype 'float32' or 'mixed_bfloat16', got dtype={dtype!r}")
        if input_dim is not None:
            input_shape = (_positive_int(input_dim, "input_dim"),)
        if input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            batch_input_shape = [None] + [_positive_int(d, "input_shape") for d in input_shape]
        config = dict(config, trainable=bool(trainable))
        if dtype is not None:  # else the global policy (myelin.mixed_precision)
            config["dtype"] = dtype
        if batch_input_shape is not None:
            config["batch_input_shape"] = list(batch_input_shape)
        if name is not None:
            config["name"] = name
        self._layer = _myelin.layer_from_config(self.class_name, config)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.class_name:
            _CLASSES[cls.class_name] = cls

    @classmethod
    def _wrap(cls, handle):
        """A Python layer over an existing C++ layer (from a loaded model)."""
        obj = object.__new__(_CLASSES.get(handle.class_name, Layer))
        obj._layer = handle
        return obj

    @property
    def name(self):
        return self._layer.name

    @property
    def built(self):
        return self._layer.built

    @property
    def trainable(self):
        """Keras's layer.trainable: False freezes the layer's weights (fit leaves them as they are, and
        BatchNormalization then normalises with its moving statistics). A compiled model picks up a
        change at its next fit; recompiling is not needed."""
        return self._layer.trainable

    @trainable.setter
    def trainable(self, value):
        self._layer.trainable = bool(value)

    @property
    def weights(self):
        return self.get_weights()

    def get_config(self):
        return self._layer.get_config()

    @classmethod
    def from_config(cls, config):
        return cls._wrap(_myelin.layer_from_config(cls.class_name, config))

    def get_weights(self):
        """Copies of the weights, as float32 numpy arrays (Keras's order: kernel, then bias)."""
        return self._layer.get_weights()

    def set_weights(self, weights):
        self._layer.set_weights(list(weights))

    def count_params(self):
        return self._layer.count_params()

    def __call__(self, inputs, training=None, **kwargs):
        """Keras's functional call on the output of myelin.Input or of another call: records this layer
        applied to it and returns the new KerasTensor (a list of them for a layer with several outputs,
        such as LSTM(return_state=True)). Merge layers take a list. Calling one layer object again
        shares its weights."""
        if kwargs:
            raise TypeError(f"{self.name}: unexpected arguments {sorted(kwargs)}")
        return self._call_tensors(inputs, training)

    def _call_tensors(self, inputs, training, extra=()):
        if training:
            raise ValueError("training=True is not supported in a functional call: the model's fit trains its layers")
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for t in tensors:
            if not isinstance(t, _myelin.KerasTensor):
                raise TypeError(f"{self.name}: call a layer on myelin.Input(...) or on another layer's output, "
                                f"got {type(t).__name__}; to compute on arrays, put it in a model and use predict")
        tensors += list(extra)
        for t in extra:
            if not isinstance(t, _myelin.KerasTensor):
                raise TypeError(f"{self.name}: initial_state must hold KerasTensors, got {type(t).__name__}")
        outputs = _myelin.call_layer_outputs(self._layer, tensors)
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def _set_return_attention_scores(self, value):
        """Keras's call argument return_attention_scores, which myelin keeps in the layer's config: set
        before the layer's first call, the same at every later one."""
        config = self.get_config()
        if bool(value) == bool(config.get("return_attention_scores", False)):
            return
        if getattr(self, "_called", True):  # a layer already in a graph (or loaded) keeps its outputs
            raise ValueError(f"{self.name}: every call of one {self.class_name} layer must pass the same "
                             f"return_attention_scores in myelin; this layer was called with "
                             f"return_attention_scores={not value}")
        config["return_attention_scores"] = bool(value)
        self._layer = _myelin.layer_from_config(self.class_name, config)

    @property
    def output(self):
        """The output of this layer's call in a model, for Model(inputs, layer.output)."""
        return _myelin.layer_output(self._layer)

    def __repr__(self):
        return f"<myelin.layers.{type(self).__name__} name={self.name!r}>"


class Dense(Layer):
    """Dense(units, activation=None, use_bias=True, kernel_initializer='glorot_uniform', ...)."""

    class_name = "Dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                     bias_constraint=bias_constraint)
        super().__init__({
            "units": _positive_int(units, "Dense units"),
            "activation": _activation_name(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": _serialize(kernel_initializer),
            "bias_initializer": _serialize(bias_initializer),
            "kernel_regularizer": _regularizer(kernel_regularizer),
            "bias_regularizer": _regularizer(bias_regularizer),
        }, **kwargs)


class Activation(Layer):
    class_name = "Activation"

    def __init__(self, activation, **kwargs):
        super().__init__({"activation": _activation_name(activation)}, **kwargs)


class Dropout(Layer):
    """Dropout(rate): drops inputs with probability rate while training (the model's seed drives it)."""

    class_name = "Dropout"

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        _unsupported(noise_shape=noise_shape, seed=seed)
        super().__init__({"rate": _rate(rate, "Dropout")}, **kwargs)


class Masking(Layer):
    """Masking(mask_value=0.0): on (batch, steps, features), a step whose features all equal mask_value
    is padding: its output is zeros and the layers after it skip it (recurrent layers keep their state,
    GlobalAveragePooling1D and attention leave it out), as Keras's Masking."""

    class_name = "Masking"

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__({"mask_value": float(mask_value)}, **kwargs)


class Flatten(Layer):
    class_name = "Flatten"

    def __init__(self, data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__({}, **kwargs)


class InputLayer(Layer):
    class_name = "InputLayer"

    def __init__(self, input_shape=None, batch_size=None, name=None, shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("InputLayer needs a shape")
        super().__init__({}, input_shape=tuple(shape), name=name, **kwargs)


class StringInput:
    """Input(shape=(1,), dtype="string"): a Sequential's string input, one text per sample; a
    TextVectorization must follow it (myelin's layers carry numbers, so the vectorizer runs first)."""

    def __init__(self, shape, name=None):
        if tuple(shape if not isinstance(shape, int) else (shape,)) not in ((1,), ()):
            raise ValueError(f"a string Input holds one text per sample: shape=(1,), got {shape!r}")
        self.name = name


def Input(shape, batch_size=None, name=None, dtype=None):
    """keras.Input(shape=...): a model input, the KerasTensor that functional layer calls start from;
    as the first entry of a Sequential it declares the input shape."""
    # dtype="string" opens a text model: Sequential([Input(shape=(1,), dtype="string"), vectorizer, ...])
    _unsupported(batch_size=batch_size)
    if dtype == "string":
        return StringInput(shape, name)
    if dtype not in (None, "float32"):
        raise ValueError(f"myelin computes in float32, got dtype={dtype!r}")
    if isinstance(shape, int):
        shape = (shape,)
    return _myelin.input_tensor([_positive_int(d, "shape") for d in shape], name or "")


class _Merge(Layer):
    """Keras's merge layers: Add()([a, b]) and the like, on inputs whose shapes broadcast as Keras's
    (aligned at the last axis; on each axis equal sizes or 1, a size-1 axis repeated)."""

    def __init__(self, **kwargs):
        super().__init__({}, **kwargs)


class Add(_Merge):
    class_name = "Add"


class Subtract(_Merge):
    class_name = "Subtract"


class Multiply(_Merge):
    class_name = "Multiply"


class Average(_Merge):
    class_name = "Average"


class Maximum(_Merge):
    class_name = "Maximum"


class Minimum(_Merge):
    class_name = "Minimum"


class Concatenate(Layer):
    """Concatenate(axis=-1)([a, b]): joins its inputs along axis (Keras counts the batch as axis 0)."""

    class_name = "Concatenate"

    def __init__(self, axis=-1, **kwargs):
        if not isinstance(axis, int) or axis == 0:
            raise ValueError(f"Concatenate: axis must be a non-zero integer (0 is the batch), got {axis!r}")
        super().__init__({"axis": axis}, **kwargs)


class Dot(Layer):
    """Dot(axes, normalize=False)([a, b]): the per-sample dot product of a and b along axis axes of
    each (an int), or a's axes[0] with b's axes[1] (a pair); axes count the batch as axis 0. Inputs
    (batch, n) or (batch, m, n); the output is a's shape without its axis then b's without its axis,
    (batch, 1) for two vectors. normalize=True L2-normalises both along their axes first: the
    cosine similarity."""

    class_name = "Dot"

    def __init__(self, axes, normalize=False, **kwargs):
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ValueError(f"Dot: axes must be an integer or a pair of integers, got {axes!r}")
            axes = [int(a) for a in axes]
        elif not isinstance(axes, int):
            raise ValueError(f"Dot: axes must be an integer or a pair of integers, got {axes!r}")
        super().__init__({"axes": axes, "normalize": bool(normalize)}, **kwargs)


class Normalization(Layer):
    """Normalization(): (x - mean) / sqrt(variance) per feature, the statistics set by adapt(data)."""

    class_name = "Normalization"

    def __init__(self, axis=-1, **kwargs):
        if axis != -1:
            raise ValueError("myelin's Normalization works over the last axis (axis=-1)")
        super().__init__({}, **kwargs)

    def adapt(self, data):
        self._layer.adapt(data)


class Conv2D(Layer):
    """Conv2D(filters, kernel_size, strides=(1, 1), padding='valid', ...) over NHWC images."""

    class_name = "Conv2D"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        _channels_last(data_format)
        if groups != 1:
            raise ValueError("grouped convolutions are not supported by myelin")
        _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                     bias_constraint=bias_constraint)
        super().__init__({
            "filters": _positive_int(filters, "Conv2D filters"),
            "kernel_size": _pair(kernel_size, "kernel_size"),
            "strides": _pair(strides, "strides"),
            "padding": padding,
            "dilation_rate": _pair(dilation_rate, "dilation_rate"),
            "activation": _activation_name(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": _serialize(kernel_initializer),
            "bias_initializer": _serialize(bias_initializer),
            "kernel_regularizer": _regularizer(kernel_regularizer),
            "bias_regularizer": _regularizer(bias_regularizer),
        }, **kwargs)


class MaxPooling2D(Layer):
    """MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid')."""

    class_name = "MaxPooling2D"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        _channels_last(data_format)
        pool = _pair(pool_size, "pool_size")
        super().__init__({"pool_size": pool, "strides": _pair(strides, "strides") if strides else pool,
                          "padding": padding}, **kwargs)


class AveragePooling2D(MaxPooling2D):
    class_name = "AveragePooling2D"


class _GlobalPooling2D(Layer):
    """(data_format=None, keepdims=False): (batch, h, w, c) -> (batch, c), or (batch, 1, 1, c) with keepdims."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        _channels_last(data_format)
        super().__init__({"keepdims": bool(keepdims)}, **kwargs)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """GlobalAveragePooling2D(data_format=None, keepdims=False): each channel's mean over the image."""

    class_name = "GlobalAveragePooling2D"


class GlobalMaxPooling2D(_GlobalPooling2D):
    """GlobalMaxPooling2D(data_format=None, keepdims=False): each channel's maximum over the image."""

    class_name = "GlobalMaxPooling2D"


class Conv1D(Layer):
    """Conv1D(filters, kernel_size, strides=1, padding='valid', dilation_rate=1, ...) over sequences
    shaped (batch, steps, channels). padding is 'valid', 'same' or 'causal' (zeros in front only, so
    step t sees inputs up to t). The kernel is (kernel_size, in_channels, filters), as Keras's."""

    class_name = "Conv1D"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError("myelin's sequences are channels_last (batch, steps, channels)")
        if groups != 1:
            raise ValueError("grouped convolutions are not supported by myelin")
        _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                     bias_constraint=bias_constraint)
        super().__init__({
            "filters": _positive_int(filters, "Conv1D filters"),
            "kernel_size": [_single(kernel_size, "kernel_size")],
            "strides": [_single(strides, "strides")],
            "padding": padding,
            "dilation_rate": [_single(dilation_rate, "dilation_rate")],
            "activation": _activation_name(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": _serialize(kernel_initializer),
            "bias_initializer": _serialize(bias_initializer),
            "kernel_regularizer": _regularizer(kernel_regularizer),
            "bias_regularizer": _regularizer(bias_regularizer),
        }, **kwargs)


class _Pooling1D(Layer):
    """(pool_size=2, strides=None, padding='valid', data_format=None) over (batch, steps, channels);
    strides default to pool_size."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError("myelin's sequences are channels_last (batch, steps, channels)")
        pool = [_single(pool_size, "pool_size")]
        super().__init__({"pool_size": pool, "strides": [_single(strides, "strides")] if strides else pool,
                          "padding": padding}, **kwargs)


class MaxPooling1D(_Pooling1D):
    """MaxPooling1D(pool_size=2, strides=None, padding='valid'): each window's maximum."""

    class_name = "MaxPooling1D"


class AveragePooling1D(_Pooling1D):
    """AveragePooling1D(pool_size=2, strides=None, padding='valid'): each window's mean; 'same' windows
    divide by the steps inside the sequence."""

    class_name = "AveragePooling1D"


class _GlobalPooling1D(Layer):
    """(data_format=None, keepdims=False): (batch, steps, c) -> (batch, c), or (batch, 1, c) with keepdims."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError("myelin's sequences are channels_last (batch, steps, channels)")
        super().__init__({"keepdims": bool(keepdims)}, **kwargs)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """GlobalAveragePooling1D(data_format=None, keepdims=False): each channel's mean over the steps."""

    class_name = "GlobalAveragePooling1D"


class GlobalMaxPooling1D(_GlobalPooling1D):
    """GlobalMaxPooling1D(data_format=None, keepdims=False): each channel's maximum over the steps."""

    class_name = "GlobalMaxPooling1D"


class UpSampling1D(Layer):
    """UpSampling1D(size=2): repeats each step size times, (batch, steps, c) -> (batch, steps * size, c)."""

    class_name = "UpSampling1D"

    def __init__(self, size=2, **kwargs):
        super().__init__({"size": _positive_int(size, "UpSampling1D size")}, **kwargs)


class Reshape(Layer):
    """Reshape(target_shape): each sample to target_shape (without the batch axis); one entry may be
    -1, inferred from the sample's size."""

    class_name = "Reshape"

    def __init__(self, target_shape, **kwargs):
        if isinstance(target_shape, (str, bytes)) or not hasattr(target_shape, "__iter__"):
            raise TypeError(f"Reshape target_shape must be a tuple of integers, got {target_shape!r}")
        super().__init__({"target_shape": [_whole(d, "Reshape target_shape") for d in target_shape]}, **kwargs)


def _padding(padding):
    """ZeroPadding2D's padding as Keras's ((top, bottom), (left, right))."""
    def amount(v):
        v = _whole(v, "ZeroPadding2D padding")
        if v < 0:
            raise ValueError(f"ZeroPadding2D padding must not be negative, got {v}")
        return v
    wrong = ValueError("ZeroPadding2D padding must be an int, a pair (rows, columns) or a pair of pairs "
                       f"((top, bottom), (left, right)), got {padding!r}")
    if not hasattr(padding, "__iter__"):
        p = amount(padding)
        return [[p, p], [p, p]]
    padding = list(padding)
    if len(padding) != 2:
        raise wrong
    if all(hasattr(p, "__iter__") for p in padding):
        pairs = [list(p) for p in padding]
        if any(len(p) != 2 for p in pairs):
            raise wrong
        return [[amount(a), amount(b)] for a, b in pairs]
    if any(hasattr(p, "__iter__") for p in padding):
        raise wrong
    rows, cols = amount(padding[0]), amount(padding[1])
    return [[rows, rows], [cols, cols]]


class ZeroPadding2D(Layer):
    """ZeroPadding2D(padding=(1, 1)): rows of zeros above and below each image, columns left and right.
    padding is an int (all four sides), (rows, columns), or ((top, bottom), (left, right))."""

    class_name = "ZeroPadding2D"

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__({"padding": _padding(padding)}, **kwargs)


class Rescaling(Layer):
    """Rescaling(scale, offset=0.0): y = x * scale + offset on every value (Rescaling(1 / 255) maps
    pixels 0..255 to 0..1). scale and offset are numbers (Keras's per-channel arrays are not supported)."""

    class_name = "Rescaling"

    def __init__(self, scale, offset=0.0, **kwargs):
        for what, v in (("scale", scale), ("offset", offset)):
            if hasattr(v, "__len__"):
                raise ValueError(f"Rescaling {what} must be a number (per-channel arrays are not supported), got {v!r}")
        super().__init__({"scale": float(scale), "offset": float(offset)}, **kwargs)


class CenterCrop(Layer):
    """CenterCrop(height, width): the central height x width window of each image, the offset
    (input - target) / 2 rounded down; an image smaller than the target is resized up as Keras does
    (its largest centred window with the target's aspect ratio, bilinearly)."""

    class_name = "CenterCrop"

    def __init__(self, height, width, data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__({"height": _positive_int(height, "CenterCrop height"),
                          "width": _positive_int(width, "CenterCrop width")}, **kwargs)


class Resizing(Layer):
    """Resizing(height, width, interpolation="bilinear", crop_to_aspect_ratio=False): each image to
    height x width, as tf.image.resize (half-pixel centres, no antialiasing). interpolation is
    "bilinear" or "nearest"; with crop_to_aspect_ratio the largest centred window with the target's
    aspect ratio is resized, so that the picture is not distorted. pad_to_aspect_ratio and antialias
    are not supported."""

    class_name = "Resizing"

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        _channels_last(data_format)
        if pad_to_aspect_ratio:
            raise ValueError("Resizing pad_to_aspect_ratio is not supported by myelin")
        if antialias:
            raise ValueError("Resizing antialias is not supported by myelin")
        super().__init__({"height": _positive_int(height, "Resizing height"),
                          "width": _positive_int(width, "Resizing width"),
                          "interpolation": str(interpolation),
                          "crop_to_aspect_ratio": bool(crop_to_aspect_ratio)}, **kwargs)


def _factor(value, what):
    """Keras's factor argument: a number, or a (lower, upper) pair; the C++ layer checks the range."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number or a pair of numbers, got {value!r}")
    if isinstance(value, (int, float)) or hasattr(value, "__float__") and not hasattr(value, "__len__"):
        return float(value)
    try:
        pair = [float(v) for v in value]
    except TypeError:
        raise TypeError(f"{what} must be a number or a pair of numbers, got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{what} must be a number or a pair of numbers, got {value!r}")
    return pair


def _seed(seed):
    return None if seed is None else _whole(seed, "seed")


def _value_range(value_range, layer):
    try:
        pair = [float(v) for v in value_range]
    except TypeError:
        raise ValueError(f"{layer} value_range must be a pair of numbers, got {value_range!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{layer} value_range must be a pair of numbers, got {value_range!r}")
    return pair


def _transform_config(fill_mode, interpolation, seed, fill_value):
    return {"fill_mode": str(fill_mode), "interpolation": str(interpolation), "seed": _seed(seed),
            "fill_value": float(fill_value)}


class RandomFlip(Layer):
    """RandomFlip(mode="horizontal_and_vertical", seed=None): while training, flips each image with
    probability 1/2 ("horizontal": left-right, "vertical": top-bottom, "horizontal_and_vertical": one
    draw flips both ways or neither); the identity at inference. seed fixes the draws (else the
    model's seed drives them)."""

    class_name = "RandomFlip"

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__({"mode": str(mode), "seed": _seed(seed)}, **kwargs)


class RandomRotation(Layer):
    """RandomRotation(factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0):
    while training, turns each image about its centre by a random fraction of a full turn drawn from
    [-factor, factor] (or [lower, upper] for a pair), counter-clockwise for positive values; the
    identity at inference. fill_mode ("reflect", "wrap", "constant", "nearest") says how points outside
    the image are read; interpolation is "bilinear" or "nearest"."""

    class_name = "RandomRotation"

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__(dict(factor=_factor(factor, "RandomRotation factor"),
                              **_transform_config(fill_mode, interpolation, seed, fill_value)), **kwargs)


class RandomZoom(Layer):
    """RandomZoom(height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
    seed=None, fill_value=0.0): while training, scales each image about its centre by 1 + a draw from
    each factor's range (positive zooms out, negative zooms in); without width_factor both directions
    use the height's draw. The identity at inference. Factors lie in (-1, 1]."""

    class_name = "RandomZoom"

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__(dict(height_factor=_factor(height_factor, "RandomZoom height_factor"),
                              width_factor=None if width_factor is None else _factor(width_factor,
                                                                                     "RandomZoom width_factor"),
                              **_transform_config(fill_mode, interpolation, seed, fill_value)), **kwargs)


class RandomTranslation(Layer):
    """RandomTranslation(height_factor, width_factor, fill_mode="reflect", interpolation="bilinear",
    seed=None, fill_value=0.0): while training, shifts each image down by height * a draw from
    height_factor's range and right by width * a draw from width_factor's (fractions in [-1, 1]); the
    identity at inference."""

    class_name = "RandomTranslation"

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__(dict(height_factor=_factor(height_factor, "RandomTranslation height_factor"),
                              width_factor=_factor(width_factor, "RandomTranslation width_factor"),
                              **_transform_config(fill_mode, interpolation, seed, fill_value)), **kwargs)


class RandomCrop(Layer):
    """RandomCrop(height, width, seed=None): while training, a height x width window of each batch at a
    random place (the same for every image of the batch) when the images are larger in both directions;
    otherwise, and at inference, the largest centred window with the target's aspect ratio, resized
    bilinearly to height x width."""

    class_name = "RandomCrop"

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        _channels_last(data_format)
        super().__init__({"height": _positive_int(height, "RandomCrop height"),
                          "width": _positive_int(width, "RandomCrop width"), "seed": _seed(seed)}, **kwargs)


class RandomContrast(Layer):
    """RandomContrast(factor, value_range=(0, 255), seed=None): while training, each image's channels
    move away from (or towards) their means by a factor drawn from [1 - lower, 1 + upper], clipped to
    value_range. As Keras 3 computes it, one number f gives (lower, upper) = (0, f). The identity at
    inference."""

    class_name = "RandomContrast"

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__({"factor": _factor(factor, "RandomContrast factor"),
                          "value_range": _value_range(value_range, "RandomContrast"), "seed": _seed(seed)}, **kwargs)


class RandomBrightness(Layer):
    """RandomBrightness(factor, value_range=(0, 255), seed=None): while training, adds to each image a
    draw from [-factor, factor] (or [lower, upper]) times the width of value_range, clipped to
    value_range. The identity at inference."""

    class_name = "RandomBrightness"

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__({"factor": _factor(factor, "RandomBrightness factor"),
                          "value_range": _value_range(value_range, "RandomBrightness"), "seed": _seed(seed)},
                         **kwargs)


class SpatialDropout2D(Layer):
    """SpatialDropout2D(rate): while training, drops whole channels of each image with probability rate
    (the model's seed drives it)."""

    class_name = "SpatialDropout2D"

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        _channels_last(data_format)
        _unsupported(seed=seed)
        super().__init__({"rate": _rate(rate, "SpatialDropout2D")}, **kwargs)


class BatchNormalization(Layer):
    """BatchNormalization(axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True)."""

    class_name = "BatchNormalization"

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__({
            "axis": axis, "momentum": float(momentum), "epsilon": float(epsilon), "center": bool(center),
            "scale": bool(scale), "beta_initializer": _serialize(beta_initializer),
            "gamma_initializer": _serialize(gamma_initializer),
            "moving_mean_initializer": _serialize(moving_mean_initializer),
            "moving_variance_initializer": _serialize(moving_variance_initializer),
        }, **kwargs)


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: input (batch, steps, features); the last step's state, or with
    return_sequences every step's. Weights as Keras 3 stores them: kernel, recurrent_kernel, bias.
    dropout and recurrent_dropout drop input features and state units while training, one mask per
    sample for the whole sequence, as Keras 3 (the model's seed drives the masks).

    `layer(x, initial_state=[h, c])` starts from a given state (LSTM h and c, the others h); with
    return_state=True the call returns [output, h] (LSTM [output, h, c])."""

    def __init__(self, config, units, activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                 activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                 recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                 **kwargs):
        _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                     recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint)
        if stateful:
            raise ValueError(f"{self.class_name}: stateful=True is not supported")
        if seed is not None:
            raise ValueError(f"{self.class_name}: seed= is not supported; the model's seed drives the dropout masks")
        super().__init__(dict(config, **{
            "units": _positive_int(units, f"{self.class_name} units"),
            "activation": _activation_name(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": _serialize(kernel_initializer),
            "recurrent_initializer": _serialize(recurrent_initializer),
            "bias_initializer": _serialize(bias_initializer),
            "kernel_regularizer": _regularizer(kernel_regularizer),
            "recurrent_regularizer": _regularizer(recurrent_regularizer),
            "bias_regularizer": _regularizer(bias_regularizer),
            "return_sequences": bool(return_sequences),
            "return_state": bool(return_state),
            "go_backwards": bool(go_backwards),
            "unroll": bool(unroll),
            "dropout": float(dropout),
            "recurrent_dropout": float(recurrent_dropout),
        }), **kwargs)


    def __call__(self, inputs, initial_state=None, training=None, **kwargs):
        if kwargs:
            raise TypeError(f"{self.name}: unexpected arguments {sorted(kwargs)}")
        if isinstance(inputs, (list, tuple)):
            raise TypeError(f"{self.name}: takes one input; pass the state as initial_state=[...]")
        state = [] if initial_state is None else (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state])
        return self._call_tensors(inputs, training, state)


class SimpleRNN(_Recurrent):
    """SimpleRNN(units, activation='tanh', return_sequences=False, go_backwards=False, ...):
    h = activation(x kernel + h' recurrent_kernel + bias)."""

    class_name = "SimpleRNN"

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, **kwargs):
        super().__init__({}, units, activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                         **kwargs)


class LSTM(_Recurrent):
    """LSTM(units, activation='tanh', recurrent_activation='sigmoid', unit_forget_bias=True, ...);
    gates i, f, c, o in the weights' columns, as Keras."""

    class_name = "LSTM"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", **kwargs):
        super().__init__({"recurrent_activation": _activation_name(recurrent_activation),
                          "unit_forget_bias": bool(unit_forget_bias)},
                         units, activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                         **kwargs)


class GRU(_Recurrent):
    """GRU(units, activation='tanh', recurrent_activation='sigmoid', reset_after=True, ...); gates z, r, h
    in the weights' columns and a bias of shape (2, 3 * units), as Keras. Only reset_after=True."""

    class_name = "GRU"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 seed=None, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, reset_after=True, use_cudnn="auto", **kwargs):
        if not reset_after:
            raise ValueError("GRU: reset_after=False is not supported, only Keras 3's default reset_after=True")
        super().__init__({"recurrent_activation": _activation_name(recurrent_activation), "reset_after": True},
                         units, activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                         **kwargs)


class Bidirectional(Layer):
    """Bidirectional(layer, merge_mode='concat'): runs a SimpleRNN, LSTM or GRU forwards and a copy of it
    backwards, merging the two outputs ('concat', 'sum', 'mul' or 'ave'). Weights are the forward
    layer's (forward_<name>/...) then the backward layer's (backward_<name>/...), as Keras 3. With
    return_state=True on the wrapped layer the call returns, as Keras 3, [output, forward states...,
    backward states...]: [output, h_fw, c_fw, h_bw, c_bw] for LSTM, [output, h_fw, h_bw] otherwise."""

    class_name = "Bidirectional"

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        _unsupported(weights=weights)
        if merge_mode is None:
            raise ValueError("Bidirectional: merge_mode=None (two outputs) is not supported")
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"Bidirectional wraps SimpleRNN, LSTM or GRU, got {type(layer).__name__}")
        config = {"layer": serialize(layer), "merge_mode": merge_mode}
        if backward_layer is not None:
            config["backward_layer"] = serialize(backward_layer)
        super().__init__(config, **kwargs)


class Attention(Layer):
    """Attention(use_scale=False, score_mode='dot', dropout=0.0): Luong's dot-product attention,
    called as Attention()([query, value]) or ([query, value, key]); softmax(query key^T) weights the
    values. use_causal_mask is a constructor argument here (a call argument in Keras), saved in the
    config. `output, weights = att([query, value], return_attention_scores=True)` also returns the
    attention weights (batch, Tq, Tv), after dropout while training, as Keras 3; myelin fixes this at
    the layer's first call and saves it in the config. Masks carried from Embedding(mask_zero=True)
    or Masking apply as in Keras. Not supported: use_scale=True, score_mode='concat', an explicit
    mask= argument."""

    class_name = "Attention"

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, use_causal_mask=False,
                 **kwargs):
        _unsupported(seed=seed)
        if use_scale:
            raise ValueError("Attention: use_scale=True is not supported by myelin")
        if score_mode != "dot":
            raise ValueError(f"Attention: only score_mode='dot' is supported by myelin, got {score_mode!r}")
        super().__init__({"use_scale": False, "score_mode": "dot", "dropout": _rate(dropout, "Attention dropout"),
                          "use_causal_mask": bool(use_causal_mask)}, **kwargs)
        self._called = False

    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=None):
        _unsupported(mask=mask)
        if use_causal_mask is not None and bool(use_causal_mask) != self.get_config()["use_causal_mask"]:
            raise ValueError(f"{self.name}: myelin fixes use_causal_mask when the layer is made; pass "
                             f"Attention(use_causal_mask={bool(use_causal_mask)})")
        self._set_return_attention_scores(return_attention_scores)
        outputs = super().__call__(inputs, training=training)
        self._called = True
        return outputs


class TimeDistributed(Layer):
    """TimeDistributed(layer): applies layer (Dense, Conv2D, ...) to every step of a
    (batch, steps, ...) input with the same weights, which keep the wrapped layer's names."""

    class_name = "TimeDistributed"

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed wraps a layer, got {type(layer).__name__}")
        super().__init__({"layer": serialize(layer)}, **kwargs)


class LayerNormalization(Layer):
    """LayerNormalization(axis=-1, epsilon=0.001, center=True, scale=True): each position's features
    normalised by their own mean and variance (the last axis only)."""

    class_name = "LayerNormalization"

    def __init__(self, axis=-1, epsilon=0.001, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        _unsupported(beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if rms_scaling:
            raise ValueError("LayerNormalization: rms_scaling=True is not supported by myelin")
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"LayerNormalization: only the last axis is supported (axis=-1), got axis={axis!r}")
            axis = axis[0]
        super().__init__({
            "axis": _whole(axis, "LayerNormalization axis"), "epsilon": float(epsilon), "center": bool(center),
            "scale": bool(scale), "beta_initializer": _serialize(beta_initializer),
            "gamma_initializer": _serialize(gamma_initializer), "beta_regularizer": _regularizer(beta_regularizer),
            "gamma_regularizer": _regularizer(gamma_regularizer),
        }, **kwargs)


class MultiHeadAttention(Layer):
    """MultiHeadAttention(num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
    output_shape=None, ...), called as mha(query, value), mha(query, value, key) or with
    attention_mask=(batch, Tq, Tv) (1 where a query step may attend a value step); mha(x, x) is
    self-attention. Inputs are (batch, steps, features). Weights as Keras 3: query/kernel
    (features, heads, key_dim), query/bias, key/..., value/..., attention_output/kernel and bias.

    use_causal_mask is a call argument in Keras; myelin keeps it as a constructor argument,
    saved in the layer's config (a call with use_causal_mask=True must match it).
    `output, scores = mha(query, value, return_attention_scores=True)` also returns the attention
    probabilities (batch, heads, Tq, Tv), after the softmax and before dropout, as Keras 3; they are
    an ordinary output (a loss may read them). myelin fixes this at the layer's first call and saves
    it in the config, so every call of one layer returns the same. Masks carried from
    Embedding(mask_zero=True) or Masking apply as in Keras. Not supported:
    query_mask/value_mask/key_mask arguments, attention_axes other than the steps."""

    class_name = "MultiHeadAttention"

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_causal_mask=False, seed=None,
                 flash_attention=None, **kwargs):
        _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                     bias_constraint=bias_constraint, seed=seed)
        if flash_attention:
            raise ValueError("MultiHeadAttention: flash_attention is not supported by myelin")
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise ValueError(f"MultiHeadAttention: output_shape must be one size, got {output_shape!r}")
            output_shape = output_shape[0]
        super().__init__({
            "num_heads": _positive_int(num_heads, "MultiHeadAttention num_heads"),
            "key_dim": _positive_int(key_dim, "MultiHeadAttention key_dim"),
            "value_dim": None if value_dim is None else _positive_int(value_dim, "MultiHeadAttention value_dim"),
            "dropout": _rate(dropout, "MultiHeadAttention dropout"), "use_bias": bool(use_bias),
            "output_shape": None if output_shape is None else _positive_int(output_shape, "MultiHeadAttention output_shape"),
            "attention_axes": attention_axes, "use_causal_mask": bool(use_causal_mask),
            "kernel_initializer": _serialize(kernel_initializer), "bias_initializer": _serialize(bias_initializer),
            "kernel_regularizer": _regularizer(kernel_regularizer), "bias_regularizer": _regularizer(bias_regularizer),
        }, **kwargs)
        self._called = False

    def __call__(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=None):
        _unsupported(query_mask=query_mask, value_mask=value_mask, key_mask=key_mask)
        self._set_return_attention_scores(return_attention_scores)
        if use_causal_mask is not None and bool(use_causal_mask) != self.get_config()["use_causal_mask"]:
            raise ValueError(f"{self.name}: myelin fixes use_causal_mask when the layer is made; pass "
                             f"MultiHeadAttention(..., use_causal_mask={bool(use_causal_mask)})")
        inputs = [query, value]
        if key is not None or attention_mask is not None:
            inputs.append(value if key is None else key)
        if attention_mask is not None:
            inputs.append(attention_mask)
        outputs = super().__call__(inputs, training=training)
        self._called = True
        return outputs


class Embedding(Layer):
    """Embedding(input_dim, output_dim, embeddings_initializer='uniform'): token ids (batch, steps) to
    vectors (batch, steps, output_dim). Ids may be given as integer arrays; each must be a whole number
    in [0, input_dim) (IndexError otherwise), and input_dim at most 2**24 (ids travel as float32).
    mask_zero=True makes id 0 padding: the layers after it skip those steps, as Keras's."""

    class_name = "Embedding"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, input_length=None,
                 activity_regularizer=None, **kwargs):
        _unsupported(embeddings_constraint=embeddings_constraint, lora_rank=lora_rank,
                     activity_regularizer=activity_regularizer)
        if weights is not None:
            raise ValueError("Embedding: weights= is not supported; call set_weights() once the model is built")
        # input_length (Keras 2) is ignored, as Keras 3 ignores it: the data's shape says the length.
        super().__init__({
            "input_dim": _positive_int(input_dim, "Embedding input_dim"),
            "output_dim": _positive_int(output_dim, "Embedding output_dim"),
            "embeddings_initializer": _serialize(embeddings_initializer),
            "embeddings_regularizer": _regularizer(embeddings_regularizer),
            "mask_zero": bool(mask_zero),
        }, **kwargs)


def serialize(layer):
    """Keras's layers.serialize: {"class_name": ..., "config": ...}."""
    return {"class_name": layer._layer.class_name, "config": layer.get_config()}


def deserialize(config):
    """A new layer from serialize()'s dict."""
    return Layer._wrap(_myelin.layer_from_config(config["class_name"], config.get("config", {})))


# Text preprocessing runs before the model (strings do not travel through it); its own module.
from .text_vectorization import TextVectorization  # noqa: E402

__all__ += ["TextVectorization"]
