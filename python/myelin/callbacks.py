"""Callbacks with Keras's names (keras.callbacks).

Callback subclasses written in Python are called from the C++ training loop, which takes the GIL
for each call; only the hooks a subclass overrides are called. EarlyStopping, ReduceLROnPlateau,
TerminateOnNaN, ModelCheckpoint, BackupAndRestore and CSVLogger run in C++.
"""
from . import _myelin

__all__ = [
    "Callback", "History", "LambdaCallback", "EarlyStopping", "ReduceLROnPlateau", "TerminateOnNaN",
    "ModelCheckpoint", "BackupAndRestore", "CSVLogger",
]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end")


class Callback:
    """Base class of Python callbacks: override the hooks you need; self.model is the model."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    # Keras's older names for the training batch hooks; overriding either works.
    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def _hooks(self):
        """The hooks this object overrides: the training loop calls only these."""
        def overridden(name):
            return getattr(type(self), name, None) is not getattr(Callback, name)
        hooks = [h for h in _HOOKS if overridden(h)]
        if overridden("on_batch_begin") and "on_train_batch_begin" not in hooks:
            hooks.append("on_train_batch_begin")
        if overridden("on_batch_end") and "on_train_batch_end" not in hooks:
            hooks.append("on_train_batch_end")
        return hooks


class History(Callback):
    """What fit() returns: history[name] is the list of per-epoch values; epoch the epochs run."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class LambdaCallback(Callback):
    """LambdaCallback(on_epoch_end=lambda epoch, logs: ..., ...): hooks from plain functions."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        self._functions = {
            "on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
            "on_train_batch_begin": kwargs.pop("on_train_batch_begin", on_batch_begin),
            "on_train_batch_end": kwargs.pop("on_train_batch_end", on_batch_end),
            "on_train_begin": on_train_begin, "on_train_end": on_train_end,
        }
        if kwargs:
            raise TypeError(f"LambdaCallback got unexpected arguments: {', '.join(kwargs)}")

    def on_train_begin(self, logs=None):
        self._functions["on_train_begin"](logs)

    def on_train_end(self, logs=None):
        self._functions["on_train_end"](logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._functions["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._functions["on_epoch_end"](epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._functions["on_train_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._functions["on_train_batch_end"](batch, logs)

    def _hooks(self):
        return [name for name, f in self._functions.items() if f is not None]


class _NativeCallback(Callback):
    """A callback that runs in C++: self._cpp is the C++ object fit() hands to the training loop."""

    def _hooks(self):
        return []

    def _after_fit(self):
        pass


class EarlyStopping(_NativeCallback):
    """Stops training when `monitor` stops improving. stopped_epoch and best_epoch are 0-based
    epoch indices; stopped_epoch is -1 when training ran every epoch."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.verbose = verbose
        self._cpp = _myelin.EarlyStopping(monitor=monitor, min_delta=float(min_delta), patience=int(patience),
                                          mode=mode, baseline=baseline,
                                          restore_best_weights=bool(restore_best_weights),
                                          start_from_epoch=int(start_from_epoch))

    @property
    def stopped_epoch(self):
        return self._cpp.stopped_epoch

    @property
    def best_epoch(self):
        return self._cpp.best_epoch

    def _after_fit(self):
        if self.verbose and self.stopped_epoch >= 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ReduceLROnPlateau(_NativeCallback):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        self._cpp = _myelin.ReduceLROnPlateau(monitor=monitor, factor=float(factor), patience=int(patience),
                                              verbose=int(verbose), mode=mode, min_delta=float(min_delta),
                                              cooldown=int(cooldown), min_lr=float(min_lr))


class TerminateOnNaN(_NativeCallback):
    def __init__(self):
        super().__init__()
        self._cpp = _myelin.TerminateOnNaN()


class ModelCheckpoint(_NativeCallback):
    """Saves the model (or its weights) after epochs; filepath may hold {epoch} and log names."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("myelin's ModelCheckpoint saves once per epoch (save_freq='epoch')")
        self._cpp = _myelin.ModelCheckpoint(str(filepath), monitor=monitor, save_best_only=bool(save_best_only),
                                            save_weights_only=bool(save_weights_only), mode=mode)


class BackupAndRestore(_NativeCallback):
    """Backs training up after each epoch; a run started again resumes where the last one ended."""

    def __init__(self, backup_dir):
        super().__init__()
        self._cpp = _myelin.BackupAndRestore(str(backup_dir))

    @property
    def restored_epoch(self):
        """The epoch (0-based) the last fit resumed from, or -1 when it started afresh."""
        return self._cpp.restored_epoch


class CSVLogger(_NativeCallback):
    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self._cpp = _myelin.CSVLogger(str(filename), separator=separator, append=bool(append))
