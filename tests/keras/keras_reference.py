"""The Keras 3 side of tests/python/test_keras_files.py, run with the reference environment's
Python (scripts/reference_env.sh interop) and KERAS_BACKEND=jax.

  keras_reference.py train DIR     builds and briefly trains the seed MLP, the seed CNN and a
                                   functional residual model with batch normalization, and an
                                   LSTM text model (Embedding, LayerNormalization, Bidirectional
                                   LSTM, GRU, SimpleRNN); writes
                                   DIR/<name>.keras, DIR/<name>.h5 (Keras's legacy whole-model
                                   saver), DIR/<name>_x.npy, DIR/<name>_y.npy, DIR/<name>_pred.npy
  keras_reference.py predict MODEL X OUT [MODEL X OUT ...]
                                   loads each MODEL with keras.models.load_model, predicts its X
                                   into OUT (several in one call: Keras starts once)
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def data(shape, n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, *shape)).astype(np.float32)
    # Learnable labels: the class a fixed random projection of the input scores highest.
    w = rng.normal(size=(int(np.prod(shape)), 10)).astype(np.float32)
    y = np.argmax(x.reshape(n, -1) @ w, axis=1).astype(np.int64)
    return x, y


def seed_mlp():
    return keras.Sequential([
        keras.Input((28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ], name="seed_mlp")


def seed_cnn():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ], name="seed_cnn")


def residual():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    y = keras.layers.Conv2D(8, 3, padding="same")(x)
    y = keras.layers.BatchNormalization()(y)
    x = keras.layers.Activation("relu")(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual")


def text():
    return keras.Sequential([
        keras.Input((12,), dtype="int32"),
        keras.layers.Embedding(50, 8),
        keras.layers.LayerNormalization(),
        keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True)),
        keras.layers.GRU(6, return_sequences=True),
        keras.layers.SimpleRNN(6),
        keras.layers.Dense(10, activation="softmax"),
    ], name="text")


def token_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 50, size=(n, 12)).astype(np.int32)
    return x, (x[:, 0] % 10).astype(np.int64)  # the first token decides the class


MODELS = {"mlp": (seed_mlp, (28, 28)), "cnn": (seed_cnn, (28, 28, 1)), "residual": (residual, (8, 8, 3)), "text": (text, None)}


def train(out):
    keras.utils.set_random_seed(1)
    for name, (make, shape) in MODELS.items():
        x, y = data(shape) if shape else token_data()
        model = make()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        model.save(os.path.join(out, name + ".keras"))
        model.save(os.path.join(out, name + ".h5"))
        np.save(os.path.join(out, name + "_x.npy"), x)
        np.save(os.path.join(out, name + "_y.npy"), y)
        np.save(os.path.join(out, name + "_pred.npy"), model.predict(x, verbose=0))


def predict(path, x_path, out):
    # Neither compiled nor through model.predict: both would only add start-up time here.
    model = keras.models.load_model(path, compile=False)
    np.save(out, keras.ops.convert_to_numpy(model(np.load(x_path), training=False)))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2])
    elif sys.argv[1] == "predict":
        triples = sys.argv[2:]
        if not triples or len(triples) % 3:
            sys.exit("predict takes MODEL X OUT, once or more")
        for i in range(0, len(triples), 3):
            predict(*triples[i:i + 3])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
