"""myelin: Keras's workflow (Sequential, the functional Model, compile, fit, evaluate, predict) over a C++ engine.

    from myelin.models import Sequential
    from myelin.layers import Dense
    model = Sequential([Dense(10, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32)

Training runs in C++ without the GIL; numpy arrays go in and come out (float32).
"""
from . import _myelin
from . import (callbacks, data, datasets, distributed, explain, initializers, layers, losses, metrics, mixed_precision,
               model_selection, models, optimizers, preprocessing, regularizers, utils)
from .layers import Input
from .models import Model, Sequential, load_model, model_from_json
from .utils import set_num_threads, set_random_seed, set_winograd_convolutions

Error = _myelin.Error
ShapeError = _myelin.ShapeError
ResourceError = _myelin.ResourceError  # a MemoryError
__version__ = _myelin.__version__

__all__ = ["callbacks", "data", "datasets", "distributed", "explain", "initializers", "layers", "losses", "metrics", "mixed_precision", "model_selection", "models",
           "optimizers", "preprocessing", "regularizers", "utils", "Input", "Model", "Sequential", "load_model",
           "model_from_json", "set_num_threads", "set_random_seed",
           "set_winograd_convolutions", "Error", "ShapeError", "ResourceError", "__version__"]
