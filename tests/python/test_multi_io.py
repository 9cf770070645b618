"""Several inputs and outputs, sample_weight and class_weight from Python: lists and dicts of arrays,
losses against values worked out by hand, and clear errors. The two-input model is read from a
Keras 3 functional config."""
import json

import numpy as np
import pytest

import myelin
from myelin import optimizers
from myelin.layers import Dense
from myelin.models import Sequential, model_from_json


def _tensor(name):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _layer(cls, name, config, inputs):
    args = [[_tensor(i) for i in inputs] if len(inputs) > 1 else _tensor(inputs[0])] if inputs else []
    return {"class_name": cls, "name": name, "config": dict(config, name=name),
            "inbound_nodes": [{"args": args, "kwargs": {}}] if inputs else []}


def two_by_two(seed=7):
    """Inputs "a" (3 values) and "b" (2); a hidden layer read by a 3-way softmax "class" and a linear "box"."""
    myelin.set_random_seed(seed)
    arch = {"class_name": "Functional", "config": {"name": "two_by_two", "layers": [
        _layer("InputLayer", "a", {"batch_shape": [None, 3]}, []),
        _layer("InputLayer", "b", {"batch_shape": [None, 2]}, []),
        _layer("Concatenate", "concatenate", {"axis": -1}, ["a", "b"]),
        _layer("Dense", "hidden", {"units": 5, "activation": "tanh"}, ["concatenate"]),
        _layer("Dense", "class", {"units": 3, "activation": "softmax"}, ["hidden"]),
        _layer("Dense", "box", {"units": 2, "activation": "linear"}, ["hidden"]),
    ], "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["class", 0, 0], ["box", 0, 0]]}}
    return model_from_json(json.dumps(arch))


def data(n=24, seed=3):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.uniform(-1, 1, (n, 2)).astype(np.float32),
            np.arange(n) % 3, rng.uniform(-1, 1, (n, 2)).astype(np.float32))


def compiled(model, lr=0.01):
    model.compile(optimizer=optimizers.Adam(learning_rate=lr),
                  loss={"class": "sparse_categorical_crossentropy", "box": "mse"},
                  loss_weights={"class": 1.0, "box": 0.5}, metrics={"class": ["accuracy"]})
    return model


def test_lists_and_dicts_of_arrays_train_alike():
    xa, xb, yc, yb = data()
    a, b = compiled(two_by_two()), compiled(two_by_two())
    ha = a.fit([xa, xb], [yc, yb], epochs=2, batch_size=8, verbose=0, shuffle=False)
    hb = b.fit({"b": xb, "a": xa}, {"box": yb, "class": yc}, epochs=2, batch_size=8, verbose=0, shuffle=False)
    assert ha.history == hb.history
    assert set(ha.history) == {"loss", "class_loss", "box_loss", "class_accuracy"}
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    out = a.predict([xa, xb], verbose=0)
    assert isinstance(out, list) and [o.shape for o in out] == [(24, 3), (24, 2)]


def test_evaluate_reports_each_output_by_hand():
    xa, xb, yc, yb = data(10)
    model = compiled(two_by_two())
    probs, box = model.predict({"a": xa, "b": xb}, verbose=0)
    ce = -np.log(probs[np.arange(10), yc].astype(np.float64)).mean()
    se = ((box.astype(np.float64) - yb) ** 2).mean()
    results = model.evaluate([xa, xb], [yc, yb], verbose=0, return_dict=True)
    assert list(results)[:3] == ["loss", "box_loss", "class_loss"]
    assert results["class_loss"] == pytest.approx(ce, rel=1e-5)
    assert results["box_loss"] == pytest.approx(0.5 * se, rel=1e-5)
    assert results["loss"] == pytest.approx(ce + 0.5 * se, rel=1e-5)
    assert results["class_accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == yc))


def line_model():
    """out = x0 - x1 + 0.5: on the rows below -0.5, -0.5, 3.5, 0.5."""
    model = Sequential([Dense(1, input_shape=(2,))])
    model.set_weights([np.array([[1.0], [-1.0]], np.float32), np.array([0.5], np.float32)])
    return model


X = np.array([[1, 2], [0, 1], [3, 0], [2, 2]], np.float32)
Y = np.array([0, 1, 3, 0], np.float32)


def test_sample_weight_in_fit_and_evaluate_by_hand():
    model = line_model()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    sw = np.array([1, 2, 0, 4], np.float32)
    # Errors -0.5, -1.5, 0.5, 0.5; the weighted sum of squares over the 4 samples.
    results = model.evaluate(X, Y, sample_weight=sw, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx((0.25 + 2 * 2.25 + 0 + 4 * 0.25) / 4)
    assert results["mae"] == pytest.approx(0.75)
    assert results["weighted_mae"] == pytest.approx((0.5 + 2 * 1.5 + 4 * 0.5) / 7)
    history = model.fit(X, Y, sample_weight=sw, batch_size=4, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(5.75 / 4)


def test_class_weight_in_fit_by_hand():
    # Softmax over logits (0, ln 3): every row predicts [0.25, 0.75].
    model = Sequential([Dense(2, activation="softmax", input_shape=(2,))])
    model.set_weights([np.zeros((2, 2), np.float32), np.array([0, np.log(3)], np.float32)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    labels = np.array([0, 1, 1, 0])
    history = model.fit(X, labels, class_weight={0: 2.0, 1: 0.5}, batch_size=4, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx((4 * np.log(4) + np.log(4 / 3)) / 4, rel=1e-6)
    assert history.history["accuracy"][0] == pytest.approx(0.5)
    with pytest.raises(TypeError, match="class indices"):
        model.fit(X, labels, class_weight={"0": 1.0}, verbose=0)


def test_bad_arrays_name_the_problem():
    xa, xb, yc, yb = data(6)
    model = compiled(two_by_two())
    with pytest.raises(ValueError, match=r"x\['c'\] names no input .*inputs: a, b"):
        model.fit({"a": xa, "c": xb}, [yc, yb], verbose=0)
    with pytest.raises(ValueError, match="x is a list of 1 arrays but .* has 2 inputs"):
        model.fit([xa], [yc, yb], verbose=0)
    with pytest.raises(myelin.ShapeError, match=r"x\[0\] \('a'\) has 6 rows but x\[1\] \('b'\) has 5"):
        model.fit([xa, xb[:5]], [yc, yb], verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight.*nan at row 1"):
        model.fit([xa, xb], [yc, yb], sample_weight=np.array([1, np.nan, 1, 1, 1, 1]), verbose=0)
    with pytest.raises(ValueError, match="'boxes' names no output"):
        model.compile(optimizer="adam", loss={"class": "mse", "boxes": "mse"})
