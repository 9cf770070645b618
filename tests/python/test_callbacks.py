"""Callbacks from Python: called with the logs dict; Ctrl-C stops fit cleanly; the GIL is released."""
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import myelin
from myelin.callbacks import (Callback, CSVLogger, EarlyStopping, LambdaCallback, ModelCheckpoint,
                              ReduceLROnPlateau, TerminateOnNaN)
from myelin.layers import Dense
from myelin.models import Sequential


def data(n=100):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4))
    return x, x @ np.array([1.0, -2.0, 0.5, 3.0])


def regression_model(lr=0.01):
    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(1)])
    model.compile(optimizer=myelin.optimizers.Adam(learning_rate=lr), loss="mse", metrics=["mae"])
    return model


def test_lambda_callback_gets_the_epoch_logs_fit_reports(seeded):
    x, y = data()
    seen = []
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, dict(logs))))
    history = regression_model().fit(x, y, epochs=3, validation_split=0.2, callbacks=[cb], verbose=0)
    assert [e for e, _ in seen] == [0, 1, 2]
    for key in ("loss", "mae", "val_loss", "val_mae"):
        assert [logs[key] for _, logs in seen] == history.history[key]


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):  # Keras's older name works too
        self.events.append(f"batch_end {batch} {sorted(logs)}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callback_subclass_hooks_are_called_in_keras_order(seeded):
    x, y = data(40)
    rec = Recorder()
    model = regression_model()
    model.fit(x, y, epochs=2, batch_size=20, callbacks=[rec], verbose=0)
    assert rec.model is model and rec.params["epochs"] == 2 and rec.params["steps"] == 2
    batch = "['loss', 'mae']"
    assert rec.events == [
        "train_begin",
        "epoch_begin 0", f"batch_end 0 {batch}", f"batch_end 1 {batch}", f"epoch_end 0 {batch}",
        "epoch_begin 1", f"batch_end 0 {batch}", f"batch_end 1 {batch}", f"epoch_end 1 {batch}",
        "train_end",
    ]


def test_a_callback_can_stop_training(seeded):
    x, y = data()

    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    history = regression_model().fit(x, y, epochs=10, callbacks=[StopAfterTwo()], verbose=0)
    assert history.epoch == [0, 1]


def test_an_exception_in_a_callback_propagates_and_the_model_stays_usable(seeded):
    x, y = data()
    model = regression_model()

    def fail(batch, logs):
        if batch == 2:
            raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        model.fit(x, y, epochs=5, batch_size=10, callbacks=[LambdaCallback(on_batch_end=fail)], verbose=0)
    # Three batches ran, then training stopped: the optimizer made exactly three steps.
    assert model.optimizer.iterations == 3
    assert np.isfinite(model.evaluate(x, y, verbose=0)[0])
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    assert model.optimizer.iterations == 3 + 10


def test_keyboard_interrupt_from_a_callback_stops_after_that_batch(seeded):
    x, y = data()
    model = regression_model()

    def interrupt(batch, logs):
        if batch == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=10, callbacks=[LambdaCallback(on_batch_end=interrupt)], verbose=0)
    assert model.optimizer.iterations == 5
    assert model.predict(x[:2]).shape == (2, 1)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_during_fit_raises_keyboard_interrupt_and_leaves_the_model_usable(seeded):
    # SIGINT arrives while the C++ loop runs without the GIL: the loop notices after the current batch.
    x, y = data(1000)
    model = regression_model()
    steps = []
    started = threading.Event()

    class Watch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            started.set()

    def send_sigint():
        started.wait(30)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=send_sigint)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, epochs=100000, batch_size=10, callbacks=[Watch()], verbose=0)
    finally:
        sender.join()
    steps.append(model.optimizer.iterations)
    assert 0 < steps[0] < 100000 * 100
    before = model.get_weights()
    # Usable: it predicts, and trains further from where it stopped.
    assert np.all(np.isfinite(model.predict(x)))
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    assert model.optimizer.iterations == steps[0] + 100
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_fit_releases_the_gil_so_other_threads_run(seeded):
    # With a switch interval far longer than the test, a thread that wants the GIL gets it only when
    # the running thread gives it up: if fit held it, the counter could not move during fit.
    x, y = data(2000)
    model = regression_model()
    counter = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1
            time.sleep(0.0002)  # gives the GIL back, so the main thread is never starved

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    thread = threading.Thread(target=count)
    try:
        thread.start()
        while counter[0] == 0:
            time.sleep(0.001)
        before = counter[0]
        model.fit(x, y, epochs=20, batch_size=8, verbose=0)
        during = counter[0] - before
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)
    assert during > 0


def test_early_stopping_stops_and_restores_the_best_weights(seeded):
    x, y = data()
    model = regression_model(lr=0.05)
    es = EarlyStopping(monitor="loss", patience=0, min_delta=1e9)  # no epoch improves by 1e9
    history = model.fit(x, y, epochs=10, callbacks=[es], verbose=0)
    # Keras's rule: the first epoch sets the reference, the second fails to beat it, patience 0 stops.
    assert history.epoch == [0, 1]
    assert es.stopped_epoch == 1 and es.best_epoch == 0

    es = EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)
    history = regression_model().fit(x, y, epochs=5, validation_split=0.2, callbacks=[es], verbose=0)
    assert es.stopped_epoch == -1 and len(history.epoch) == 5


def test_reduce_lr_on_plateau_and_terminate_on_nan(seeded):
    x, y = data()
    model = regression_model(lr=0.01)
    model.fit(x, y, epochs=3, callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                                           min_delta=1e9)], verbose=0)
    # Epoch 0 sets the reference; epochs 1 and 2 do not improve by 1e9: two halvings.
    assert model.optimizer.learning_rate == pytest.approx(0.0025)

    model = regression_model(lr=1e30)
    stop = TerminateOnNaN()
    history = model.fit(x * 1e20, y, epochs=5, callbacks=[stop], verbose=0)
    assert len(history.epoch) == 1


def test_checkpoint_and_csv_logger_write_files(tmp_path, seeded):
    x, y = data()
    model = regression_model()
    model.fit(x, y, epochs=2, callbacks=[ModelCheckpoint(str(tmp_path / "ck_{epoch}.safetensors"), monitor="loss"),
                                         CSVLogger(tmp_path / "log.csv")], verbose=0)
    assert (tmp_path / "ck_1.safetensors").is_file() and (tmp_path / "ck_2.safetensors").is_file()
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].split(",")[0] == "epoch" and len(rows) == 3
    restored = myelin.models.load_model(tmp_path / "ck_2.safetensors")
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))


def test_progress_bar_lines_come_in_order_with_python_prints(seeded, capfd):
    x, y = data()
    model = regression_model()
    print("before")
    model.fit(x, y, epochs=2, verbose=2, callbacks=[LambdaCallback(on_epoch_end=lambda e, l: print(f"cb {e}"))])
    print("after")
    out = capfd.readouterr().out.splitlines()
    assert out[0] == "before" and out[-1] == "after"
    assert out[1] == "Epoch 1/2" and out[2].startswith("4/4 - ") and "loss:" in out[2]
    assert out[3] == "cb 0" and out[4] == "Epoch 2/2" and out[6] == "cb 1"
