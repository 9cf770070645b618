"""Model (the functional API), Sequential, load_model and model_from_json with Keras's names and
defaults (keras.models)."""
import numpy as np

from . import _myelin
from .callbacks import Callback, History
from .layers import Layer, StringInput
from .text_vectorization import TextVectorization

__all__ = ["Model", "Sequential", "load_model", "model_from_json"]


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _batch_size(batch_size, x=None):
    """Keras's default of 32, or the batch size a batched dataset (image_dataset_from_directory)
    was made with, when none is given."""
    if batch_size is None:
        return x.batch_size if _is_dataset(x) and x.batch_size > 0 else 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _array(data, what):
    """Model inputs and targets as numpy arrays; 1-D data becomes one column, as in Keras."""
    if data is None:
        raise ValueError(f"{what} is required")
    arr = data if isinstance(data, np.ndarray) else np.asarray(data)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers (float, int or bool), got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return arr


def _arrays(data, what):
    """An array, or for models with several inputs or outputs a list of arrays (in the model's
    order) or a dict of arrays by layer name, as Keras takes them."""
    if isinstance(data, dict):
        return {str(key): _array(value, f"{what}[{key!r}]") for key, value in data.items()}
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, np.ndarray) for d in data):
        return [_array(d, f"{what}[{i}]") for i, d in enumerate(data)]
    return _array(data, what)


def _sample_weights(data, what="sample_weight"):
    """Per-sample weights: an array of one value per row, or a list/dict of them per output."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {str(key): _sample_weights(value, f"{what}[{key!r}]") for key, value in data.items()}
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, np.ndarray) for d in data):
        return [_sample_weights(d, f"{what}[{i}]") for i, d in enumerate(data)]
    arr = np.asarray(data)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def _class_weights(class_weight):
    """Keras's class_weight: a dict class index -> weight."""
    if class_weight is None:
        return {}
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
    out = {}
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight keys must be class indices (int), got {key!r}")
        out[int(key)] = float(value)
    return out


def _rows(data):
    """Rows of an array, or of the first array of a list or dict."""
    if isinstance(data, dict):
        data = next(iter(data.values()))
    elif isinstance(data, list):
        data = data[0]
    return len(data)


def _is_dataset(data):
    return isinstance(data, _myelin.Dataset)


def _no_targets_with(dataset, y, call):
    if y is not None:
        raise ValueError(f"{call}(dataset): leave y out, the dataset holds the targets")


def _unsupported(**kwargs):
    for key, value in kwargs.items():
        if value is not None:
            raise ValueError(f"{key} is not supported by myelin")


def _tensor_list(tensors, what):
    """Model inputs or outputs given as one KerasTensor, a list or a dict (its values, in order)."""
    if isinstance(tensors, dict):
        tensors = list(tensors.values())
    elif not isinstance(tensors, (list, tuple)):
        tensors = [tensors]
    for t in tensors:
        if not isinstance(t, _myelin.KerasTensor):
            raise TypeError(f"Model {what} must be the outputs of myelin.Input or of layer calls, got {type(t).__name__}")
    return list(tensors)


class Model:
    """Keras's functional model: the layer calls that lead from `inputs` to `outputs`.

        inputs = myelin.Input(shape=(28, 28, 1))
        x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
        y = layers.Conv2D(32, 3, padding="same")(x)
        x = layers.Activation("relu")(layers.Add()([x, y]))
        model = myelin.Model(inputs, layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x)))
    """

    def __init__(self, inputs=None, outputs=None, name=None):
        if inputs is None or outputs is None:
            raise ValueError("Model(inputs, outputs) needs both; for a stack of layers use Sequential")
        native = _myelin.Model(_tensor_list(inputs, "inputs"), _tensor_list(outputs, "outputs"), name or "functional")
        self._init_from_native(native)

    def _init_from_native(self, native):
        self._model = native
        self._layers = [Layer._wrap(handle) for handle in native.layers]
        self._optimizer = native.optimizer if native.compiled else None
        self._loss = native.loss if native.compiled else None
        self._metrics = list(native.metric_names()) if native.compiled else []
        self.history = None
        vectorizer = native.text_vectorization
        self._text_vectorization = None if vectorizer is None else TextVectorization._wrap(vectorizer)

    def _text_ids(self, x):
        """x itself, or for strings (one per sample) the token ids this model's TextVectorization makes."""
        if not _is_text(x):
            return x
        if self._text_vectorization is None:
            raise TypeError(f"model '{self.name}' takes numbers but x holds strings (dtype {np.asarray(x).dtype}); "
                            "a model takes strings when a TextVectorization opens it: "
                            "Sequential([Input(shape=(1,), dtype='string'), vectorizer, ...])")
        return self._text_vectorization(x).astype(np.float32)

    @classmethod
    def _from_native(cls, native):
        model = object.__new__(Sequential if native.is_sequential else Model)
        model._init_from_native(native)
        return model

    @property
    def inputs(self):
        return list(self._built_for_shapes().inputs)

    @property
    def outputs(self):
        return list(self._built_for_shapes().outputs)

    @property
    def input(self):
        inputs = self.inputs
        return inputs[0] if len(inputs) == 1 else inputs

    @property
    def output(self):
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

    @property
    def layers(self):
        # Keras lists a functional model's InputLayers, and leaves them out of a Sequential's.
        if isinstance(self, Sequential):
            return [layer for layer in self._layers if layer._layer.class_name != "InputLayer"]
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[l.name for l in self._layers]}")

    @property
    def trainable(self):
        """True while some layer trains (an empty model counts as trainable). Setting it sets every
        layer's trainable, as Keras does: model.trainable = False freezes the whole model."""
        return not self._layers or any(layer.trainable for layer in self._layers)

    @trainable.setter
    def trainable(self, value):
        for layer in self._layers:
            layer.trainable = value

    @property
    def name(self):
        return self._model.name

    @property
    def built(self):
        return self._model.built

    def build(self, input_shape=None):
        """Creates the weights; input_shape with or without Keras's leading batch entry (None, 8)."""
        if input_shape is not None:
            input_shape = list(input_shape)
            if input_shape and input_shape[0] is None:
                input_shape = input_shape[1:]
        self._model.build(input_shape)

    def _built_for_shapes(self):
        """Builds the model when its input shape is known, as Keras has built it by then; otherwise
        the library's error says how to give the shape."""
        if not self._model.built:
            self._model.build(None)
        return self._model

    @property
    def input_shape(self):
        return (None,) + tuple(self._built_for_shapes().input_shape)

    @property
    def output_shape(self):
        return (None,) + tuple(self._built_for_shapes().output_shape)

    def summary(self, print_fn=None):
        text = self._model.summary_string().rstrip("\n")
        (print_fn or print)(text)

    def count_params(self):
        return self._model.count_params()

    # --- compile, fit, evaluate, predict -------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None):
        """loss, metrics and weighted_metrics may be given per output for a model with several: a
        list in output order or a dict by output name (metrics as a list apply to every output).
        loss_weights: a list or dict; the loss is the weighted sum of the outputs' losses."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='mse'")

        def checked(ms, what):
            if ms is None:
                return []
            if isinstance(ms, dict):
                return {str(k): checked(v if isinstance(v, (list, tuple)) else [v], what) for k, v in ms.items()}
            ms = list(ms)
            for m in ms:
                if not isinstance(m, (str, _myelin.Metric)):
                    raise TypeError(f"a metric must be a name ('accuracy') or a myelin.metrics object, got {m!r}")
                if isinstance(m, str) and m not in ("accuracy", "acc"):
                    _myelin.get_metric(m)  # an unknown name fails here, as in Keras, not at fit
            return ms

        metrics = checked(metrics, "metrics")
        weighted_metrics = checked(weighted_metrics, "weighted_metrics")
        if isinstance(loss_weights, dict):
            loss_weights = {str(k): float(v) for k, v in loss_weights.items()}
        elif loss_weights is not None:
            loss_weights = [float(w) for w in loss_weights]
        self._model.compile(optimizer, loss, metrics, loss_weights=loss_weights,
                            weighted_metrics=weighted_metrics or None)
        self._optimizer = self._model.optimizer
        self._loss = loss
        # The log names of a single output's metrics, in compile's order (evaluate returns them so).
        def names(ms):
            return [m if isinstance(m, str) else m.name for m in ms] if isinstance(ms, list) else []
        plain = names(metrics)
        self._metrics = plain + [n if n not in plain else "weighted_" + n for n in names(weighted_metrics)]

    @property
    def optimizer(self):
        return self._optimizer

    @property
    def loss(self):
        return self._loss

    @property
    def metrics_names(self):
        return ["loss"] + self._metrics

    @property
    def stop_training(self):
        return self._model.stop_training

    @stop_training.setter
    def stop_training(self, value):
        self._model.stop_training = bool(value)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Trains for `epochs` epochs; returns the History. Ctrl-C stops it after the current batch
        (raising KeyboardInterrupt) and leaves the model as the last complete step made it.

        x may be a myelin.data dataset (y left out), read batch by batch; validation_data may then
        be a dataset too. Under mpirun each rank trains on its part of every batch."""
        _unsupported(steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                     validation_batch_size=validation_batch_size)
        if validation_freq != 1:
            raise ValueError("myelin validates after every epoch (validation_freq=1)")
        if _is_dataset(x):
            _no_targets_with(x, y, "fit")
            if validation_split:
                raise ValueError("validation_split needs arrays; give a dataset as validation_data instead")
            rows = x.size
        else:
            x, y = _arrays(self._text_ids(x), "x"), _arrays(y, "y")
            rows = _rows(x)
        if validation_data is not None and not _is_dataset(validation_data):
            validation_data = tuple(validation_data)
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)")
            validation_data = (_arrays(self._text_ids(validation_data[0]), "validation_data x"),
                               _arrays(validation_data[1], "validation_data y")) + \
                tuple(_sample_weights(w, "validation_data sample_weight") for w in validation_data[2:])
        verbose = _verbosity(verbose)
        batch_size = _batch_size(batch_size, x)
        history = History()
        callbacks = list(callbacks or []) + [history]
        params = {"verbose": verbose, "epochs": epochs,
                  "steps": -(-int(rows * (1 - validation_split)) // batch_size) if rows >= 0 else None}
        items = []
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be myelin.callbacks.Callback objects, got {type(cb).__name__}")
            cb.set_model(self)
            cb.set_params(params)
            items.append(cb._cpp if hasattr(cb, "_cpp") else (cb, cb._hooks()))
        self.history = history
        self._model.fit(x, y, epochs=int(epochs), batch_size=batch_size, shuffle=bool(shuffle),
                        validation_split=float(validation_split), validation_data=validation_data,
                        callbacks=items, verbose=verbose, initial_epoch=int(initial_epoch),
                        sample_weight=_sample_weights(sample_weight), class_weight=_class_weights(class_weight))
        for cb in callbacks:
            if hasattr(cb, "_after_fit"):
                cb._after_fit()
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """The loss, or [loss, metric...] in compile's order (a dict with return_dict=True). x may
        be a myelin.data dataset (y left out); under mpirun the figures cover every rank's rows."""
        _unsupported(steps=steps, callbacks=callbacks)
        if _is_dataset(x):
            _no_targets_with(x, y, "evaluate")
        else:
            x, y = _arrays(self._text_ids(x), "x"), _arrays(y, "y")
        logs = dict(self._model.evaluate(x, y, batch_size=_batch_size(batch_size, x),
                                         verbose=min(_verbosity(verbose), 1),
                                         sample_weight=_sample_weights(sample_weight)))
        # Keras's order: the loss, the outputs' losses, then the metrics (compile's order for one output).
        results = {"loss": logs.pop("loss")}
        for name in sorted(k for k in logs if k.endswith("_loss")):
            results[name] = logs.pop(name)
        for name in self._metrics:
            if name in logs:
                results[name] = logs.pop(name)
        results.update(sorted(logs.items()))
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The outputs for every row of x as a float32 numpy array (probabilities for softmax and
        sigmoid heads), or a list of arrays, one per output, for a model with several. x may be a
        list or dict of arrays for several inputs, or a myelin.data dataset: its rows' outputs, in
        order. Prints nothing, whatever verbose says. A batch whose widest activation would
        outgrow the CPU caches runs through the layers in slices of fewer rows (the outputs change
        by float rounding at most)."""
        _unsupported(steps=steps, callbacks=callbacks)
        _verbosity(verbose)
        x = self._text_ids(x)
        return self._model.predict(x if _is_dataset(x) else _arrays(x, "x"), batch_size=_batch_size(batch_size, x))

    def __call__(self, x, training=None):
        """On a KerasTensor: the model used as a layer of another model (the same layers and
        weights). On arrays: the outputs, as predict."""
        if isinstance(x, _myelin.KerasTensor):
            if training:
                raise ValueError("a model called on a KerasTensor runs in training mode when its model trains; "
                                 "training=True is not supported")
            return self._model(x)
        return self.predict(x, verbose=0)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimizer step on one batch; returns its loss."""
        _unsupported(class_weight=class_weight)
        return self._model.train_on_batch(_arrays(x, "x"), _arrays(y, "y"), _sample_weights(sample_weight))

    # --- weights and files ---------------------------------------------------------------------
    def get_weights(self):
        return self._model.get_weights()

    def set_weights(self, weights):
        self._model.set_weights(list(weights))

    @property
    def weights(self):
        return self.get_weights()

    def save(self, filepath, overwrite=True, save_format=None):
        """The whole model in one file. A .keras path writes Keras 3's format (keras.models.load_model
        opens it); any other a safetensors file (architecture, weights, compile settings and
        optimizer state), readable by the C++ library and by any safetensors reader. A TextVectorization
        at the front is saved with its vocabulary, so the loaded model predicts from strings."""
        if self._text_vectorization is not None:  # the vectorizer as it is now (adapted since, perhaps)
            self._model.set_text_vectorization(self._text_vectorization._core)
        self._model.save(str(filepath))

    def save_weights(self, filepath, overwrite=True, save_format=None):
        self._model.save_weights(str(filepath))

    def export(self, filepath, format="onnx", verbose=None, **kwargs):
        """Keras 3's model.export: the model for inference elsewhere. The one format is "onnx"
        (opset 17, a dynamic batch dimension; inputs and outputs named after the model's input and
        output layers). Keras's other formats and export options raise ValueError."""
        if kwargs:
            raise ValueError(f"export: options {sorted(kwargs)} are not supported for format 'onnx'")
        self._model.export(str(filepath), format)

    def load_weights(self, filepath):
        self._model.load_weights(str(filepath))

    def to_json(self, **kwargs):
        return self._model.to_json()

    def get_config(self):
        import json
        return json.loads(self.to_json())["config"]

    def __repr__(self):
        return f"<myelin.models.{type(self).__name__} name={self.name!r} layers={len(self._layers)}>"


class Sequential(Model):
    """A linear stack of layers: Sequential([Dense(32, activation='relu', input_shape=(784,)), ...])."""

    def __init__(self, layers=None, name=None):
        self._init_from_native(_myelin.Sequential(name or "sequential"))
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Appends a layer. As in Keras, Input(shape=(1,), dtype="string") then a TextVectorization may
        open the stack: the model then takes strings, one per sample, in fit, evaluate and predict."""
        if isinstance(layer, StringInput):
            if self._layers or self._text_vectorization is not None or getattr(self, "_string_input", False):
                raise ValueError("Input(dtype='string') must be the first entry of a Sequential")
            self._string_input = True
            return
        if isinstance(layer, TextVectorization):
            if self._layers or self._text_vectorization is not None:
                raise ValueError(f"TextVectorization '{layer.name}' must open the Sequential (after a string Input): "
                                 "myelin runs it on the strings before the model's first layer")
            self._model.set_text_vectorization(layer._core)
            self._text_vectorization = layer
            length = layer.get_config().get("output_sequence_length")
            if length is not None:  # the ids' input, so that the model builds at once
                layer = _myelin.input_tensor([int(length)], "")
            else:
                return
        elif getattr(self, "_string_input", False) and self._text_vectorization is None:
            raise ValueError("Input(dtype='string') must be followed by a TextVectorization")
        if isinstance(layer, _myelin.KerasTensor):  # myelin.Input(shape=...) as the first entry
            layer = Layer._wrap(layer.layer)
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a myelin layer, got {type(layer).__name__}")
        self._model.add(layer._layer)
        self._layers.append(layer)


def _is_text(x):
    """Whether x holds strings, one per sample: a list or tuple of str/bytes, or a numpy string array."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "US" or (x.dtype.kind == "O" and x.size > 0 and isinstance(x.flat[0], (str, bytes)))
    if isinstance(x, (list, tuple)) and x:
        first = x[0][0] if isinstance(x[0], (list, tuple)) and len(x[0]) == 1 else x[0]
        return isinstance(first, (str, bytes))
    return False


def load_model(filepath, custom_objects=None, compile=True):
    """A model saved by save() (from Python or C++), by Keras 3 (.keras) or by tf.keras 2 (.h5): a
    Sequential or a functional Model, compiled again when it was saved compiled."""
    if custom_objects:
        raise ValueError("custom_objects are not supported by myelin")
    return Model._from_native(_myelin.load_model(str(filepath)))


def model_from_json(json_string, custom_objects=None):
    return Model._from_native(_myelin.model_from_json(json_string))
