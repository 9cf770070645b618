"""Explanations: which inputs a model's score depends on, as numpy arrays shaped as the input.

    from myelin import explain
    heat = explain.grad_cam(model, x_test[:8])                    # each image's predicted class
    ig = explain.integrated_gradients(model, x, target=3, steps=64)
    explain.save_heatmap_grid("attributions.png", x_test[:8], [heat], scale=4)

Every attribution explains one score per row of x: the output unit `target` names (None: the row's
predicted class; an int: that unit for every row; a list or array of ints: one per row, or one for
all), taken before the output's softmax or sigmoid when logits=True (as the saliency and Grad-CAM
papers do; a saturated softmax has vanishing gradients) and from the probabilities predict()
returns when logits=False. A regression's one output is unit 0. The model runs in inference mode
(dropout off, batch normalization's moving statistics), `batch_size` rows at a time, and its
weights are left unchanged. Bad arguments raise ValueError (myelin.ShapeError for shapes) naming
the problem.
"""
import collections
import numbers
import os

import numpy as np

from . import _myelin
from .models import Model, _array

__all__ = ["saliency", "smooth_grad", "integrated_gradients", "grad_cam", "scores", "target_units",
           "last_spatial_layer", "gradients", "FeatureAttribution", "feature_table", "print_feature_table",
           "save_heatmap", "save_heatmap_grid"]

_native = _myelin.explain

FeatureAttribution = collections.namedtuple("FeatureAttribution", ["feature", "value", "attribution"])
FeatureAttribution.__doc__ = "One row of feature_table: the column's name, the input's value and its contribution."


def _model(model):
    """The C++ model underneath a myelin Model (which builds itself from x when not built yet)."""
    if not isinstance(model, Model):
        raise TypeError(f"model must be a myelin Model or Sequential, got {type(model).__name__}")
    return model._model


def _target(target):
    """None, an int, or a list of ints, from anything integral numpy holds."""
    if target is None:
        return None
    if isinstance(target, bool):
        raise TypeError("target must be None, an int or a list of ints, got bool")
    if isinstance(target, numbers.Integral):
        return int(target)
    units = np.asarray(target)
    if units.ndim != 1 or (units.size and units.dtype.kind not in "iu"):
        raise TypeError(f"target must be None, an int or a 1-D list of ints, got {type(target).__name__} of "
                        f"dtype {units.dtype} and shape {units.shape}")
    return [int(u) for u in units]


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _output(output):
    if isinstance(output, bool) or not isinstance(output, numbers.Integral) or output < 0:
        raise ValueError(f"output must be a non-negative integer (which model output), got {output!r}")
    return int(output)


def saliency(model, x, target=None, absolute=True, logits=True, output=0, batch_size=64):
    """Saliency (Simonyan et al., 2014): d(score)/d(x) for each row of x, |gradient| when
    absolute=True (Captum's default), the signed gradient otherwise. Returns a float32 array shaped
    as x."""
    x = _array(x, "x")
    return _native.saliency(_model(model), x, _target(target), bool(absolute), bool(logits), _output(output),
                            _positive(batch_size, "batch_size"))


def smooth_grad(model, x, target=None, samples=50, noise=0.15, absolute=True, seed=0, logits=True, output=0,
                batch_size=64):
    """SmoothGrad (Smilkov et al., 2017): the saliency averaged over `samples` copies of each row
    with Gaussian noise of standard deviation `noise` times the row's range (max - min); the
    paper finds 10-20% best. absolute=True averages |gradient|. The noise is drawn from `seed`, so
    calls repeat. Returns a float32 array shaped as x."""
    x = _array(x, "x")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return _native.smooth_grad(_model(model), x, _target(target), _positive(samples, "samples"), float(noise),
                               bool(absolute), int(seed), bool(logits), _output(output),
                               _positive(batch_size, "batch_size"))


def integrated_gradients(model, x, target=None, baseline=None, steps=64, logits=True, output=0, batch_size=64):
    """Integrated Gradients (Sundararajan et al., 2017): (x - baseline) times the gradient averaged
    over `steps` points (midpoint rule) of the straight path from the baseline to x. Each row's
    attributions add up to scores(x) - scores(baseline), more closely with more steps (the paper
    suggests 20-300). baseline: None for zeros, one sample's shape, or x's shape (one per row).
    Returns a float32 array shaped as x."""
    x = _array(x, "x")
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float32)
    return _native.integrated_gradients(_model(model), x, _target(target), baseline, _positive(steps, "steps"),
                                        bool(logits), _output(output), _positive(batch_size, "batch_size"))


def grad_cam(model, x, target=None, layer=None, upsample=True, logits=True, output=0, batch_size=64):
    """Grad-CAM (Selvaraju et al., 2017): the feature maps of `layer` (a name; None: the last layer
    whose output is (height, width, channels), see last_spatial_layer) weighted by the spatial
    mean of the score's gradient over each, summed over channels, then relu. Returns a float32
    array (rows, height, width): at x's height and width when upsample=True, at the layer's
    otherwise. Upsampling places each cell at the centre of its receptive field (traced through the
    convolutions, pooling, zero padding and resizing before the layer) and interpolates bilinearly
    between the cells; where a layer on the way changes the grid otherwise (a crop, a reshape), the
    cells are spread evenly, as Keras's Resizing does."""
    x = _array(x, "x")
    if layer is not None and not isinstance(layer, str):
        raise TypeError(f"layer must be a layer's name or None, got {type(layer).__name__}")
    return _native.grad_cam(_model(model), x, _target(target), layer or "", bool(upsample), bool(logits),
                            _output(output), _positive(batch_size, "batch_size"))


def scores(model, x, target=None, logits=True, output=0, batch_size=64):
    """The score each attribution explains, for each row of x: a float32 array (rows,)."""
    x = _array(x, "x")
    return _native.scores(_model(model), x, _target(target), bool(logits), _output(output),
                          _positive(batch_size, "batch_size"))


def target_units(model, x, target=None, logits=True, output=0, batch_size=64):
    """The output unit each row of x is explained for (target=None resolved to the predicted
    class): an int array (rows,)."""
    x = _array(x, "x")
    units = _native.target_units(_model(model), x, _target(target), bool(logits), _output(output),
                                 _positive(batch_size, "batch_size"))
    return np.asarray(units, dtype=np.int64)


def last_spatial_layer(model):
    """The name of the layer grad_cam uses by default: the last whose output per sample is
    (height, width, channels). Raises ValueError when the model has none."""
    return _native.last_spatial_layer(_model(model))


def gradients(model, x, seed, logits=False, output=0, layer=None):
    """The model's backward pass to its input, for scores of your own: runs x (all rows at once) in
    inference mode, calls seed(out) with the output (logits when logits=True) and differentiates
    sum(seed(out) * out), seed's result being d(score)/d(output), an array shaped as out. Returns
    a dict: "output", "input_grad" (shaped as x) and, with a layer name, "layer_output" and
    "layer_grad" (that layer's output and the score's gradient with respect to it).

        g = explain.gradients(model, x, lambda out: np.eye(out.shape[1], dtype="float32")[units])
    """
    x = _array(x, "x")
    if not callable(seed):
        raise TypeError(f"seed must be a function of the output returning d(score)/d(output), "
                        f"got {type(seed).__name__}")
    return _native.gradients(_model(model), x, seed, bool(logits), _output(output), layer or "")


def feature_table(x, attributions, row, names=None):
    """Row `row` of a tabular x (rows, features) and of its attributions (same shape) as a list of
    FeatureAttribution(feature, value, attribution) named tuples, the largest |attribution|
    first. names labels the columns (None: "0", "1", ...). Raises ValueError when the shapes
    differ, names has the wrong length or row is out of range."""
    if isinstance(row, bool) or not isinstance(row, numbers.Integral):
        raise TypeError(f"row must be an int, got {type(row).__name__}")
    names = [] if names is None else [str(n) for n in names]
    table = _native.feature_table(_array(x, "x"), _array(attributions, "attributions"), int(row), names)
    return [FeatureAttribution(*r) for r in table]


def print_feature_table(table, print_fn=None):
    """Prints feature_table's rows: a header line "feature  value  attribution", then one aligned
    line per feature. print_fn (default print) receives the text, as Model.summary's does."""
    text = _native.format_feature_table([tuple(r) for r in table]).rstrip("\n")
    (print_fn or print)(text)


def save_heatmap(path, image, attribution, scale=1, opacity=0.5):
    """Writes a PNG of `attribution` in the jet colour map over `image` drawn in grey. image:
    (height, width) or (height, width, channels) with 1 or 3 channels; attribution: (height, width)
    or (height, width, channels), whose channels' largest magnitude is drawn. Each map is scaled by
    the 99th percentile of its magnitudes. scale: each pixel drawn as scale x scale; opacity: the
    colour's weight in [0, 1]. Raises ValueError when the shapes disagree, OSError when the file
    cannot be written."""
    _native.save_heatmap(os.fspath(path), np.asarray(image), np.asarray(attribution), _positive(scale, "scale"),
                         float(opacity))


def save_heatmap_grid(path, images, attributions, scale=1, opacity=0.5):
    """Writes a PNG grid: one row per image of `images` (n, height, width[, channels]), the image
    alone first, then one overlay per array of `attributions` (a list of arrays, each (n, height,
    width[, channels]): the methods side by side), 2-pixel white gaps between the cells."""
    if isinstance(attributions, np.ndarray):
        attributions = [attributions]
    _native.save_heatmap_grid(os.fspath(path), np.asarray(images), [np.asarray(a) for a in attributions],
                              _positive(scale, "scale"), float(opacity))
