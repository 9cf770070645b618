"""Losses, metrics, optimizers, regularizers and initializers: Keras's names, checked against numpy."""
import numpy as np
import pytest

import myelin
from myelin import initializers, losses, metrics, optimizers, regularizers
from myelin.layers import Dense
from myelin.models import Sequential


def test_losses_compute_keras_formulas():
    y_true = np.array([[1.0], [0.0], [2.0]])
    y_pred = np.array([[0.5], [0.5], [4.0]])
    assert losses.MeanSquaredError()(y_true, y_pred) == pytest.approx((0.25 + 0.25 + 4) / 3)
    assert losses.MeanAbsoluteError()(y_true, y_pred) == pytest.approx((0.5 + 0.5 + 2) / 3)
    # Huber(delta=1): 0.5 e^2 for |e| <= 1, else |e| - 0.5.
    assert losses.Huber()(y_true, y_pred) == pytest.approx((0.125 + 0.125 + 1.5) / 3)
    p = np.array([[0.9], [0.2]])
    t = np.array([[1.0], [0.0]])
    assert losses.BinaryCrossentropy()(t, p) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2, rel=1e-5)
    logits = np.array([[2.0, -1.0, 0.5]])
    log_softmax = logits - np.log(np.exp(logits).sum())
    assert losses.SparseCategoricalCrossentropy(from_logits=True)([[2]], logits) == pytest.approx(
        -log_softmax[0, 2], rel=1e-5)
    assert losses.CategoricalCrossentropy(from_logits=True)([[0, 1, 0]], logits) == pytest.approx(
        -log_softmax[0, 1], rel=1e-5)
    assert losses.get("mse").name == "mean_squared_error"
    assert losses.BinaryCrossentropy(from_logits=True).get_config()["from_logits"] is True
    with pytest.raises(ValueError):
        losses.get("nope")


def test_compile_takes_loss_and_metric_objects():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    model = Sequential([Dense(1, input_dim=1, activation="sigmoid", kernel_initializer="ones",
                              bias_initializer=initializers.Constant(-1.5))])
    model.compile(optimizer=optimizers.SGD(), loss=losses.BinaryCrossentropy(),
                  metrics=[metrics.BinaryAccuracy(name="acc"), metrics.Precision(), metrics.AUC()])
    loss, acc, precision, auc = model.evaluate(x, y, verbose=0)
    p = 1 / (1 + np.exp(-(x[:, 0] - 1.5)))  # 0.18, 0.38, 0.62, 0.82
    assert loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-5)
    assert acc == 1.0 and precision == 1.0 and auc == 1.0
    assert model.metrics_names == ["loss", "acc", "precision", "auc"]
    with pytest.raises(ValueError, match="metric"):
        model.compile(optimizer="adam", loss="mse", metrics=["not_a_metric"])
    with pytest.raises(TypeError):
        model.compile(optimizer="adam", loss="mse", metrics=[len])
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="optimizer"):
        model.compile(optimizer="nope", loss="mse")


def test_metric_objects_and_plain_functions():
    y_true = np.array([1, 0, 1, 1, 0])
    y_pred = np.array([0.9, 0.6, 0.4, 0.8, 0.1])
    m = metrics.Recall()
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(2 / 3)  # tp = 2 (0.9, 0.8), fn = 1 (0.4)
    m.reset_state()
    assert m.result() == 0.0
    assert metrics.precision_score(y_true, y_pred) == pytest.approx(2 / 3)  # fp = 1 (0.6)
    assert metrics.recall_score(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.accuracy_score(y_true, y_pred) == pytest.approx(3 / 5)
    # AUC: positive-negative pairs ranked right: (0.9>0.6, 0.9>0.1, 0.4<0.6, 0.4>0.1, 0.8>0.6, 0.8>0.1) = 5/6
    assert metrics.roc_auc_score(y_true, y_pred) == pytest.approx(5 / 6)
    assert metrics.mean_squared_error([1.0, 2.0], [[2.0], [4.0]]) == pytest.approx(2.5)
    assert metrics.mean_absolute_error([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.5)
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state([[2], [0]], [[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]])
    assert acc.result() == 0.5
    assert metrics.get("mae").name == "mae"


def test_optimizers_take_kerass_arguments_and_schedules():
    adam = optimizers.Adam(learning_rate=0.01, beta_1=0.8, clipnorm=1.0)
    config = adam.get_config()
    assert config["learning_rate"] == pytest.approx(0.01) and config["beta_1"] == pytest.approx(0.8)
    assert config["clipnorm"] == pytest.approx(1.0) and adam.name == "Adam"
    sgd = optimizers.SGD(momentum=0.9, nesterov=True)
    assert sgd.learning_rate == pytest.approx(0.01)
    sgd.learning_rate = 0.5
    assert sgd.learning_rate == 0.5
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert schedule(20) == pytest.approx(0.025)
    opt = optimizers.RMSprop(learning_rate=schedule)
    assert opt.learning_rate == pytest.approx(0.1)
    assert optimizers.get("adagrad").name == "Adagrad"
    assert isinstance(optimizers.AdamW(weight_decay=0.1), optimizers.Adam)
    with pytest.raises(TypeError):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(TypeError):
        optimizers.SGD(0.1, 0.9, False, 1.0)  # clipping is keyword-only, as in Keras


def test_sgd_step_from_python_is_the_hand_computed_update():
    # One weight w = 1, x = 1, y = 0, mse: loss = w^2, gradient 2w = 2; SGD(0.1): w = 1 - 0.2 = 0.8.
    model = Sequential([Dense(1, input_dim=1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    assert model.train_on_batch(np.array([[1.0]]), np.array([[0.0]])) == pytest.approx(1.0)
    assert model.get_weights()[0][0, 0] == pytest.approx(0.8)


def test_regularizer_penalty_is_added_to_the_loss():
    model = Sequential([Dense(2, input_dim=3, kernel_regularizer=regularizers.l2(0.1),
                              bias_regularizer=regularizers.L1L2(l1=0.5))])
    model.compile(optimizer="sgd", loss="mse")
    w, b = np.arange(6.0).reshape(3, 2) / 10, np.array([1.0, -2.0])
    model.set_weights([w, b])
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    pred = x @ w + b
    expected = np.mean(pred ** 2) + 0.1 * np.sum(w ** 2) + 0.5 * np.sum(np.abs(b))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert regularizers.l2(0.1)(w) == pytest.approx(0.1 * np.sum(w ** 2))
    assert regularizers.l1_l2().get_config() == {"l1": 0.01, "l2": 0.01}
    assert Dense(1, kernel_regularizer=regularizers.L1(0.2)).get_config()["kernel_regularizer"]["config"][
        "l1"] == pytest.approx(0.2)


def test_initializers_by_object_and_by_name(seeded):
    model = Sequential([Dense(50, input_dim=40, kernel_initializer=initializers.HeNormal(),
                              bias_initializer=initializers.Constant(0.25))])
    kernel, bias = model.get_weights()
    assert np.all(bias == 0.25)
    # He normal: truncated normal with standard deviation sqrt(2 / fan_in) (Keras's scaling).
    assert kernel.std() == pytest.approx(np.sqrt(2 / 40), rel=0.1)
    assert np.abs(kernel).max() <= 2 * np.sqrt(2 / 40) / 0.87962566103423978 + 1e-6
    ones = Sequential([Dense(3, input_dim=2, kernel_initializer="ones")]).get_weights()[0]
    assert np.all(ones == 1)
    with pytest.raises(ValueError):
        initializers.GlorotUniform(seed=1)


def test_threads_setting_and_version():
    myelin.set_num_threads(1)
    assert myelin._myelin.num_threads() == 1
    myelin.set_num_threads(0)
    assert myelin._myelin.num_threads() >= 1
    assert isinstance(myelin.__version__, str) and myelin.__version__
    assert "Dense" in myelin._myelin.known_layer_classes()


def test_conv_layers_exist_with_kerass_arguments_or_say_they_are_missing():
    # The Python classes are there; they work once the C++ registry knows the class.
    if "Conv2D" not in myelin._myelin.known_layer_classes():
        with pytest.raises(ValueError, match="Conv2D"):
            myelin.layers.Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1))
        return
    conv = myelin.layers.Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1))
    assert conv.get_config()["kernel_size"] == [3, 3]
