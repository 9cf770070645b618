"""Dot from Python: Keras's batched dot product against numpy's einsum for an int and a pair of axes,
normalize=True as the cosine similarity, the config and a save/load round trip, and clear errors."""
import numpy as np
import pytest

import myelin
from myelin.layers import Dense, Dot, Flatten, Input
from myelin.models import Model, load_model


@pytest.fixture
def seeded():
    myelin.set_random_seed(3)
    yield
    myelin.set_random_seed(0)


def cosine(a, b, axis_a, axis_b):
    na = a / np.maximum(np.linalg.norm(a, axis=axis_a, keepdims=True), 1e-7)
    nb = b / np.maximum(np.linalg.norm(b, axis=axis_b, keepdims=True), 1e-7)
    return na, nb


@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_numpy(normalize, seeded):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 4, 5)).astype(np.float32)
    b = rng.normal(size=(3, 6, 5)).astype(np.float32)
    c = rng.normal(size=(3, 4, 2)).astype(np.float32)
    ia, ib, ic = Input(shape=(4, 5)), Input(shape=(6, 5)), Input(shape=(4, 2))
    model = Model([ia, ib, ic], [Dot(axes=2, normalize=normalize)([ia, ib]), Dot(axes=(1, 1), normalize=normalize)([ia, ic])])
    y_last, y_first = model.predict([a, b, c], verbose=0)
    a64, b64, c64 = (x.astype(np.float64) for x in (a, b, c))
    na, nb = cosine(a64, b64, 2, 2) if normalize else (a64, b64)
    np.testing.assert_allclose(y_last, np.einsum("bmn,bkn->bmk", na, nb), rtol=1e-5, atol=1e-5)
    na, nc = cosine(a64, c64, 1, 1) if normalize else (a64, c64)
    np.testing.assert_allclose(y_first, np.einsum("bmn,bmk->bnk", na, nc), rtol=1e-5, atol=1e-5)


def test_vectors_give_one_column_and_the_model_reloads(tmp_path, seeded):
    x, y = Input(shape=(3,)), Input(shape=(3,))
    model = Model([x, y], Dot(axes=-1, normalize=True, name="cos")([Dense(3)(x), y]))
    data = np.random.default_rng(5).normal(size=(2, 8, 3)).astype(np.float32)
    out = model.predict([data[0], data[1]], verbose=0)
    assert out.shape == (8, 1) and np.all(np.abs(out) <= 1 + 1e-6)
    assert model.get_layer("cos").get_config()["axes"] == -1
    path = str(tmp_path / "dot.safetensors")
    model.save(path)
    np.testing.assert_array_equal(load_model(path).predict([data[0], data[1]], verbose=0), out)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="axes"):
        Dot(axes="last")
    with pytest.raises(ValueError, match="axis 0"):
        Dot(axes=0)
    a, b = Input(shape=(3, 4)), Input(shape=(3, 5))
    with pytest.raises(Exception, match=r"Dot.*4 and 5"):
        Model([a, b], Flatten()(Dot(axes=2)([a, b]))).get_weights()
