"""ONNX export checked against the real thing: each model exported by myelin passes onnx's checker
(full_check) and runs in onnxruntime with the outputs of myelin's predict() within 1e-5. onnx and
onnxruntime come from the pinned reference environment (scripts/reference_env.sh interop), run in
a subprocess under its own Python; the tests skip, saying why, when PyPI cannot be reached."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import myelin
from myelin import layers as L
from myelin.models import Model, Sequential

from conftest import SOURCE_DIR

# Runs under the reference environment's Python: check, run the full batch and a batch of one
# (the batch dimension is dynamic), and report the graph's signature.
RUNNER = r"""
import json, sys
import numpy as np, onnx, onnxruntime as ort
model_path, in_path, out_path = sys.argv[1:4]
m = onnx.load(model_path)
onnx.checker.check_model(m, full_check=True)
def dims(v):
    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
info = {"opset": {o.domain: o.version for o in m.opset_import},
        "inputs": {v.name: dims(v) for v in m.graph.input},
        "outputs": [v.name for v in m.graph.output],
        "ops": sorted({n.op_type for n in m.graph.node})}
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
feeds = dict(np.load(in_path))
full = sess.run(None, feeds)
one = sess.run(None, {k: v[:1] for k, v in feeds.items()})
np.savez(out_path, **{f"full{i}": a for i, a in enumerate(full)}, **{f"one{i}": a for i, a in enumerate(one)})
print(json.dumps(info))
"""


@pytest.fixture(scope="session")
def onnx_python(tmp_path_factory):
    """The reference environment's Python, made (or reused) by scripts/reference_env.sh."""
    proc = subprocess.run(["bash", str(SOURCE_DIR / "scripts" / "reference_env.sh"), "interop"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        pytest.skip(f"reference environment unavailable: {reason[0]}")
    python = Path(proc.stdout.strip().splitlines()[-1]) / "bin" / "python"
    runner = tmp_path_factory.mktemp("onnx_runner") / "run_onnx.py"
    runner.write_text(RUNNER)
    return python, runner


def run_onnx(onnx_python, path, feeds):
    python, runner = onnx_python
    inputs, outputs = path.with_suffix(".in.npz"), path.with_suffix(".out.npz")
    np.savez(inputs, **feeds)
    proc = subprocess.run([str(python), str(runner), str(path), str(inputs), str(outputs)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(outputs) as out:
        n = len(info["outputs"])
        return info, [out[f"full{i}"] for i in range(n)], [out[f"one{i}"] for i in range(n)]


def check_export(onnx_python, tmp_path, model, xs):
    """Exports `model`, runs it on `xs` (one array per input) in onnxruntime and compares with predict."""
    path = tmp_path / f"{model.name}.onnx"
    model.export(str(path), format="onnx")
    expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    names = model._model.input_names
    info, got, got_one = run_onnx(onnx_python, path, dict(zip(names, xs)))
    assert info["opset"] == {"": 17}
    assert list(info["inputs"]) == names
    for name, x in zip(names, xs):
        assert info["inputs"][name] == ["batch", *x.shape[1:]]
    assert info["outputs"] == model._model.output_names
    assert len(got) == len(expected)
    for g, e, g1 in zip(got, expected, got_one):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(g1, e[:1], rtol=1e-5, atol=1e-5)
    return info


def rng_data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def trained(model, xs, ys, loss):
    """Trains a little so that weights and batch-normalization statistics are not their initial values."""
    model.compile(optimizer="adam", loss=loss)
    model.fit(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0], epochs=2, batch_size=16, verbose=0)
    return model


def test_seed_mlp(onnx_python, tmp_path):
    myelin.utils.set_random_seed(1)
    model = Sequential([L.Flatten(input_shape=(28, 28)), L.Dense(32, activation="relu"),
                        L.Dense(10, activation="softmax")], name="mlp")
    x = np.random.default_rng(1).random((64, 28, 28), dtype=np.float32)
    trained(model, [x], [np.arange(64) % 10], "sparse_categorical_crossentropy")
    info = check_export(onnx_python, tmp_path, model, [x[:9]])
    assert "MatMul" in info["ops"] and "Softmax" in info["ops"]


def test_seed_cnn(onnx_python, tmp_path):
    myelin.utils.set_random_seed(2)
    model = Sequential([
        L.Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1)), L.MaxPooling2D((2, 2)),
        L.Conv2D(16, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(16, (3, 3), activation="relu"), L.Flatten(),
        L.Dense(32, activation="relu"), L.Dense(10, activation="softmax")], name="cnn")
    x = np.random.default_rng(2).random((32, 28, 28, 1), dtype=np.float32)
    trained(model, [x], [np.arange(32) % 10], "sparse_categorical_crossentropy")
    info = check_export(onnx_python, tmp_path, model, [x[:7]])
    assert {"Conv", "MaxPool", "Transpose"} <= set(info["ops"])


def test_functional_residual_with_batch_normalization(onnx_python, tmp_path):
    myelin.utils.set_random_seed(3)
    inputs = L.Input(shape=(12, 12, 3))
    x = L.Conv2D(8, (3, 3), padding="same", activation="relu")(inputs)
    y = L.Conv2D(8, (3, 3), padding="same")(x)
    y = L.BatchNormalization()(y)
    x = L.Activation("relu")(L.Add()([x, y]))
    x = L.AveragePooling2D((2, 2), padding="same", strides=(2, 2))(x)
    x = L.GlobalAveragePooling2D()(x)
    model = Model(inputs, L.Dense(4, activation="softmax")(x), name="residual")
    xs = rng_data(48, 12, 12, 3, seed=3)
    trained(model, [xs], [np.arange(48) % 4], "sparse_categorical_crossentropy")
    info = check_export(onnx_python, tmp_path, model, [xs[:6]])
    assert "Sum" in info["ops"]


def test_multi_input_multi_output(onnx_python, tmp_path):
    myelin.utils.set_random_seed(4)
    a = L.Input(shape=(6,), name="a")
    b = L.Input(shape=(3,), name="b")
    h = L.Concatenate()([L.Dense(8, activation="tanh")(a), L.Dense(8, activation="gelu")(b)])
    h = L.Dense(8, activation="elu")(h)
    cls = L.Dense(3, activation="softmax", name="cls")(h)
    box = L.Dense(2, name="box")(L.Multiply()([h, L.Dense(8, activation="sigmoid")(b)]))
    model = Model([a, b], [cls, box], name="two_heads")
    xa, xb = rng_data(40, 6, seed=4), rng_data(40, 3, seed=5)
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "box": "mse"})
    model.fit([xa, xb], [np.arange(40) % 3, rng_data(40, 2, seed=6)], epochs=2, batch_size=8, verbose=0)
    check_export(onnx_python, tmp_path, model, [xa[:5], xb[:5]])


def test_conv1d_sequence_model(onnx_python, tmp_path):
    myelin.utils.set_random_seed(5)
    model = Sequential([
        L.Conv1D(8, 5, padding="causal", activation="relu", dilation_rate=2, input_shape=(40, 2)),
        L.MaxPooling1D(2),
        L.Conv1D(8, 3, padding="same", strides=2, activation="swish"),
        L.UpSampling1D(3),
        L.AveragePooling1D(3, strides=2, padding="same"),
        L.Conv1D(4, 3, activation="leaky_relu"),
        L.GlobalMaxPooling1D(),
        L.Dense(3, activation="softmax")], name="sequence")
    x = rng_data(32, 40, 2, seed=7)
    trained(model, [x], [np.arange(32) % 3], "sparse_categorical_crossentropy")
    check_export(onnx_python, tmp_path, model, [x[:8]])


def test_lstm_text_model(onnx_python, tmp_path):
    """Embedding -> LayerNormalization -> LSTM (sequences) -> LSTM: ONNX's Gather, LayerNormalization
    and LSTM, whose gates are ordered i, o, f, c where Keras's are i, f, c, o."""
    myelin.utils.set_random_seed(8)
    model = Sequential([
        L.Embedding(50, 8, input_shape=(12,)), L.LayerNormalization(),
        L.LSTM(10, return_sequences=True), L.LSTM(6, go_backwards=True),
        L.Dense(2, activation="softmax")], name="lstm_text")
    ids = np.random.default_rng(11).integers(0, 50, size=(48, 12)).astype(np.float32)
    trained(model, [ids], [np.arange(48) % 2], "sparse_categorical_crossentropy")
    info = check_export(onnx_python, tmp_path, model, [ids[:7]])
    assert {"Gather", "LayerNormalization", "LSTM"} <= set(info["ops"])


def test_gru_simple_rnn_and_bidirectional(onnx_python, tmp_path):
    """GRU (Keras's reset_after, ONNX's linear_before_reset=1), SimpleRNN with relu, and
    Bidirectional in its merge modes, with go_backwards sequences."""
    myelin.utils.set_random_seed(9)
    inputs = L.Input(shape=(9, 4), name="seq")
    a = L.Bidirectional(L.GRU(5, return_sequences=True))(inputs)
    a = L.Bidirectional(L.SimpleRNN(5, activation="relu", return_sequences=True, go_backwards=True),
                        merge_mode="sum")(a)
    b = L.Bidirectional(L.LSTM(5), merge_mode="ave")(a)
    c = L.Bidirectional(L.GRU(5), merge_mode="mul")(inputs)
    d = L.GRU(5, go_backwards=True, return_sequences=True)(inputs)
    out = L.Dense(3)(L.Concatenate()([b, c, L.GlobalAveragePooling1D()(d)]))
    model = Model(inputs, out, name="recurrent")
    x = rng_data(40, 9, 4, seed=12)
    trained(model, [x], [rng_data(40, 3, seed=13)], "mse")
    info = check_export(onnx_python, tmp_path, model, [x[:6]])
    assert {"GRU", "RNN", "LSTM"} <= set(info["ops"])


def test_preprocessing_shape_and_inference_only_layers(onnx_python, tmp_path):
    """Every other layer class: preprocessing, padding, cropping and resizing, reshaping, the merge
    layers, and the training-only ones that pass their input through."""
    myelin.utils.set_random_seed(6)
    x = np.random.default_rng(8).random((24, 15, 17, 3), dtype=np.float32) * 255
    norm = L.Normalization()
    norm.adapt((x / 255.0 - 0.5).reshape(-1, 3))
    inputs = L.Input(shape=(15, 17, 3), name="image")
    h = L.Rescaling(1 / 255.0, offset=-0.5)(inputs)
    h = norm(h)
    h = L.RandomFlip("horizontal")(h)
    h = L.RandomContrast(0.2)(h)
    h = L.ZeroPadding2D(((1, 2), (0, 1)))(h)
    h = L.Conv2D(6, (3, 3), strides=(2, 2), padding="same", activation="softplus")(h)
    h = L.SpatialDropout2D(0.3)(h)
    r = L.Resizing(11, 7, interpolation="bilinear", crop_to_aspect_ratio=True)(h)
    n = L.Resizing(11, 7, interpolation="nearest")(h)
    c = L.CenterCrop(8, 6)(h)
    up = L.Resizing(11, 7)(c)
    crop = L.RandomCrop(11, 7)(h)
    m = L.Maximum()([r, n])
    m = L.Subtract()([m, L.Minimum()([up, crop])])
    m = L.Average()([m, r, n])
    m = L.BatchNormalization()(m)
    m = L.MaxPooling2D((3, 3), strides=(2, 2), padding="same")(m)
    g = L.GlobalMaxPooling2D(keepdims=True)(m)
    f = L.Flatten()(L.Add()([m, g]))
    f = L.Dropout(0.5)(f)
    f = L.Reshape((6, -1))(f)
    f = L.GlobalAveragePooling1D()(f)
    out = L.Dense(5, activation="gelu")(f)
    model = Model(inputs, out, name="everything")
    trained(model, [x], [rng_data(24, 5, seed=9)], "mse")
    check_export(onnx_python, tmp_path, model, [x[:6]])


def test_multi_head_attention(onnx_python, tmp_path):
    """MultiHeadAttention as MatMul, Transpose, Reshape and Softmax: self-attention with a causal
    mask, cross-attention with its own key, value_dim and output_shape, and an explicit
    attention_mask (given as a model input) that leaves some query steps nothing to attend."""
    myelin.utils.set_random_seed(14)
    x_in = L.Input(shape=(7, 6), name="x")
    m_in = L.Input(shape=(5, 4), name="memory")
    k_in = L.Input(shape=(5, 3), name="keys")
    a_in = L.Input(shape=(7, 5), name="allowed")
    h = L.MultiHeadAttention(2, 3, use_causal_mask=True)(x_in, x_in)
    h = L.LayerNormalization()(L.Add()([x_in, h]))
    c = L.MultiHeadAttention(3, 4, value_dim=2, output_shape=5)(h, m_in, key=k_in)
    d = L.MultiHeadAttention(2, 2, use_bias=False)(h, m_in, attention_mask=a_in)
    out = L.Dense(2)(L.Concatenate()([c, d]))
    model = Model([x_in, m_in, k_in, a_in], out, name="attention")
    x, m, k = rng_data(32, 7, 6, seed=14), rng_data(32, 5, 4, seed=15), rng_data(32, 5, 3, seed=16)
    allowed = (np.random.default_rng(17).random((32, 7, 5)) < 0.6).astype(np.float32)
    allowed[:, 2] = 0  # a query step that may attend nothing: a uniform row, as myelin's
    trained(model, [x, m, k, allowed], [rng_data(32, 7, 2, seed=18)], "mse")
    info = check_export(onnx_python, tmp_path, model, [x[:6], m[:6], k[:6], allowed[:6]])
    assert {"MatMul", "Softmax", "Where", "Transpose"} <= set(info["ops"])


def test_attention(onnx_python, tmp_path):
    """Luong's dot-product Attention, with and without a separate key and a causal mask."""
    myelin.utils.set_random_seed(19)
    q_in = L.Input(shape=(6, 4), name="query")
    v_in = L.Input(shape=(6, 4), name="value")
    a = L.Attention(use_causal_mask=True)([q_in, v_in])
    b = L.Attention()([q_in, L.Dense(3)(v_in), v_in])
    out = L.Dense(2)(L.Concatenate()([a, b]))
    model = Model([q_in, v_in], out, name="luong")
    q, v = rng_data(32, 6, 4, seed=19), rng_data(32, 6, 4, seed=20)
    trained(model, [q, v], [rng_data(32, 6, 2, seed=21)], "mse")
    info = check_export(onnx_python, tmp_path, model, [q[:5], v[:5]])
    assert {"MatMul", "Softmax", "Where"} <= set(info["ops"])


def test_dot(onnx_python, tmp_path):
    """Dot on matrices along the last axes, along the first axes (a transposed product), with
    normalize (cosine similarity), and on two vectors: one batched MatMul each."""
    myelin.utils.set_random_seed(23)
    a_in, b_in = L.Input(shape=(6, 4), name="a"), L.Input(shape=(5, 4), name="b")
    c_in, u_in, w_in = L.Input(shape=(6, 3), name="c"), L.Input(shape=(4,), name="u"), L.Input(shape=(4,), name="w")
    last = L.Dot(axes=2)([a_in, b_in])                      # (6, 5)
    first = L.Dot(axes=(1, 1))([a_in, c_in])                # (4, 3)
    cosine = L.Dot(axes=-1, normalize=True)([a_in, b_in])   # (6, 5)
    vectors = L.Dot(axes=1, normalize=True)([u_in, w_in])   # (1,)
    out = L.Dense(2)(L.Concatenate()([L.Flatten()(last), L.Flatten()(first), L.Flatten()(cosine), vectors]))
    model = Model([a_in, b_in, c_in, u_in, w_in], out, name="dots")
    xs = [rng_data(8, 6, 4, seed=23), rng_data(8, 5, 4, seed=24), rng_data(8, 6, 3, seed=25),
          rng_data(8, 4, seed=26), rng_data(8, 4, seed=27)]
    xs[3][0] = 0  # a zero vector: the norm's floor keeps it finite, as in myelin
    trained(model, xs, [rng_data(8, 2, seed=28)], "mse")
    info = check_export(onnx_python, tmp_path, model, xs)
    assert {"MatMul", "ReduceSumSquare", "Transpose"} <= set(info["ops"])


def test_time_distributed(onnx_python, tmp_path):
    """TimeDistributed folds the steps into the batch around the wrapped layer's own translation:
    Conv2D, MaxPooling2D, Flatten and Dense over a sequence of images."""
    myelin.utils.set_random_seed(22)
    model = Sequential([
        L.TimeDistributed(L.Conv2D(4, (3, 3), activation="relu"), input_shape=(5, 8, 8, 2)),
        L.TimeDistributed(L.MaxPooling2D((2, 2))),
        L.TimeDistributed(L.Flatten()),
        L.TimeDistributed(L.Dense(6, activation="tanh")),
        L.GRU(4),
        L.Dense(3)], name="frames")
    x = rng_data(24, 5, 8, 8, 2, seed=22)
    trained(model, [x], [rng_data(24, 3, seed=23)], "mse")
    info = check_export(onnx_python, tmp_path, model, [x[:4]])
    assert {"Conv", "MaxPool", "Reshape", "GRU"} <= set(info["ops"])


def test_time_distributed_of_an_untranslatable_layer_is_an_error(tmp_path):
    model = Sequential([L.TimeDistributed(L.Masking(), input_shape=(3, 4, 2)), L.Flatten(), L.Dense(1)])
    model.build()
    with pytest.raises(ValueError, match="TimeDistributed '.*' wraps .*Masking has no ONNX translation"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")


def test_cli_export(onnx_python, tmp_path):
    myelin.utils.set_random_seed(7)
    model = Sequential([L.Dense(4, activation="relu", input_shape=(3,)), L.Dense(2)], name="cli")
    saved, exported = tmp_path / "m.safetensors", tmp_path / "m.onnx"
    model.build()
    model.save(str(saved))
    cli = Path(myelin._myelin.__file__).resolve().parents[2] / "tools" / "myelin"
    if not cli.is_file():
        pytest.skip("the myelin command is not built")
    proc = subprocess.run([str(cli), "export", str(saved), str(exported)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    x = rng_data(4, 3, seed=10)
    _, got, _ = run_onnx(onnx_python, exported, {model._model.input_names[0]: x})
    np.testing.assert_allclose(got[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_unknown_format_is_an_error(tmp_path):
    model = Sequential([L.Dense(2, input_shape=(3,))])
    model.build()
    with pytest.raises(ValueError, match="format 'tf_saved_model' is not supported"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    assert not (tmp_path / "m").exists()


def test_unbuilt_model_is_an_error(tmp_path):
    model = Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        model.export(str(tmp_path / "m.onnx"))
