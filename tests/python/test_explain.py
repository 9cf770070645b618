"""myelin.explain from Python: attributions checked against PyTorch's autograd on the same weights,
Integrated Gradients' completeness, target handling and its errors, the feature table and the
heat-map pictures."""
import io

import numpy as np
import pytest

import myelin
from myelin import explain
from myelin.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D)
from myelin.models import Model, Sequential


@pytest.fixture(autouse=True)
def direct_convolutions():
    # Winograd's rounding (about 1e-6 of a tensor's largest value) would blur the 1e-4 comparisons.
    myelin.set_winograd_convolutions(False)
    myelin.set_random_seed(11)
    yield
    myelin.set_winograd_convolutions(True)
    myelin.set_random_seed(0)


def cnn():
    """8x8x2 images -> 3 classes: conv relu, batch norm, pool, conv relu, dropout, flatten, dense softmax."""
    inputs = Input(shape=(8, 8, 2))
    x = Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = BatchNormalization(name="bn")(x)
    x = MaxPooling2D(2, name="pool")(x)
    x = Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = Dropout(0.3, name="drop")(x)
    x = Flatten(name="flat")(x)
    return Model(inputs, Dense(3, activation="softmax", name="head")(x))


def mlp():
    return Sequential([Dense(7, activation="relu", input_shape=(5,), name="hidden"),
                       Dense(6, activation="tanh", name="hidden2"),
                       Dense(3, activation="softmax", name="head")])


def give_batch_norm_statistics(model, rng):
    """Non-trivial gamma, beta, moving mean and variance, so that inference's normalisation matters."""
    bn = model.get_layer("bn")
    gamma, beta, mean, var = (w.shape for w in bn.get_weights())
    bn.set_weights([rng.uniform(0.5, 1.5, gamma).astype(np.float32), rng.normal(0, 0.3, beta).astype(np.float32),
                    rng.normal(0, 0.3, mean).astype(np.float32), rng.uniform(0.2, 2.0, var).astype(np.float32)])


def trained(model, x, y, epochs=3):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


def classification_data(rng, shape, n=96):
    x = rng.normal(0, 1, (n,) + shape).astype(np.float32)
    flat = x.reshape(n, -1)
    y = (flat[:, 0] > 0).astype(np.int64) + (flat[:, 1] > 0.5)  # three classes from two features
    return x, y


def assert_close(actual, expected, what):
    """As tests/test_pytorch_conv.cpp: each entry within 1e-4 of its own size, with a floor of 1% of
    the tensor's largest magnitude for entries near zero."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, what
    scale = np.abs(expected).max()
    assert scale > 0, f"{what}: the reference is all zeros, the comparison would prove nothing"
    tol = 1e-4 * np.maximum(np.abs(expected), 1e-2 * scale)
    err = np.abs(actual - expected)
    bad = np.argwhere(err > tol)
    assert bad.size == 0, (f"{what}: {len(bad)} of {expected.size} entries out of tolerance, first at "
                           f"{tuple(bad[0])}: {actual[tuple(bad[0])]} vs {expected[tuple(bad[0])]}")


# --- PyTorch references --------------------------------------------------------------------------

def torch_or_skip():
    return pytest.importorskip("torch", reason="Debian's python3-torch is not installed: no PyTorch reference")


def torch_cnn(model):
    """The same CNN in float64 PyTorch, NCHW inside: returns f(x_nhwc) -> (logits, {name: feature map
    as NHWC})."""
    torch = torch_or_skip()
    F = torch.nn.functional
    w = {layer.name: [torch.tensor(a, dtype=torch.float64) for a in layer.get_weights()] for layer in model.layers}

    def conv(t, name):  # Keras kernel (kh, kw, in, out) -> torch (out, in, kh, kw)
        kernel, bias = w[name]
        return F.relu(F.conv2d(t, kernel.permute(3, 2, 0, 1), bias, padding=1))

    def forward(x_nhwc):
        maps = {}
        t = x_nhwc.permute(0, 3, 1, 2)
        t = conv(t, "conv1")
        maps["conv1"] = t
        gamma, beta, mean, var = w["bn"]
        t = F.batch_norm(t, mean, var, gamma, beta, training=False, eps=1e-3)
        t = F.max_pool2d(t, 2)
        t = conv(t, "conv2")
        maps["conv2"] = t
        # Dropout is off in inference; Keras flattens NHWC.
        t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
        kernel, bias = w["head"]
        return t @ kernel + bias, maps

    return forward


def torch_mlp(model):
    torch = torch_or_skip()
    w = [torch.tensor(a, dtype=torch.float64) for a in model.get_weights()]

    def forward(x):
        h = torch.relu(x @ w[0] + w[1])
        h = torch.tanh(h @ w[2] + w[3])
        return h @ w[4] + w[5], {}

    return forward


def torch_scores(forward, x, units, logits):
    torch = torch_or_skip()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out, maps = forward(xt)
    if not logits:
        out = torch.softmax(out, dim=1)
    score = out[torch.arange(len(units)), torch.tensor(units)]
    return xt, score, maps


def torch_saliency(forward, x, units, logits):
    torch = torch_or_skip()
    xt, score, _ = torch_scores(forward, x, units, logits)
    (grad,) = torch.autograd.grad(score.sum(), xt)
    return grad.numpy()


def torch_grad_cam(forward, x, units, layer, logits=True):
    """Selvaraju et al.: channel weights = spatial mean of d(score)/d(feature map), weighted sum over
    channels, relu. NCHW: (rows, height, width)."""
    torch = torch_or_skip()
    _, score, maps = torch_scores(forward, x, units, logits)
    a = maps[layer]
    (g,) = torch.autograd.grad(score.sum(), a)
    weights = g.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * a).sum(dim=1))


@pytest.mark.parametrize("logits", [True, False])
def test_cnn_saliency_is_torch_gradient(logits):
    rng = np.random.default_rng(1)
    model = cnn()
    model.build((8, 8, 2))
    give_batch_norm_statistics(model, rng)
    x = rng.normal(0, 1, (5, 8, 8, 2)).astype(np.float32)
    units = [0, 2, 1, 1, 0]
    got = explain.saliency(model, x, target=units, absolute=False, logits=logits)
    assert got.dtype == np.float32 and got.shape == x.shape
    assert_close(got, torch_saliency(torch_cnn(model), x, units, logits), f"CNN saliency, logits={logits}")
    # absolute=True is the magnitude of the same gradient.
    np.testing.assert_allclose(explain.saliency(model, x, target=units, logits=logits), np.abs(got), rtol=1e-6)


@pytest.mark.parametrize("logits", [True, False])
def test_mlp_saliency_is_torch_gradient(logits):
    rng = np.random.default_rng(2)
    model = mlp()
    x = rng.normal(0, 1, (6, 5)).astype(np.float32)
    units = [0, 1, 2, 2, 1, 0]
    got = explain.saliency(model, x, target=units, absolute=False, logits=logits)
    assert_close(got, torch_saliency(torch_mlp(model), x, units, logits), f"MLP saliency, logits={logits}")


def test_smooth_grad_averages_saliency_over_noisy_copies():
    rng = np.random.default_rng(12)
    model = cnn()
    model.build((8, 8, 2))
    give_batch_norm_statistics(model, rng)
    x = rng.normal(0, 1, (3, 8, 8, 2)).astype(np.float32)
    # Without noise every copy is x itself: the average is the saliency.
    for absolute in (True, False):
        np.testing.assert_allclose(explain.smooth_grad(model, x, target=1, samples=4, noise=0.0, absolute=absolute),
                                   explain.saliency(model, x, target=1, absolute=absolute), rtol=1e-5, atol=1e-8)
    noisy = explain.smooth_grad(model, x, target=1, samples=8, seed=3)
    assert noisy.shape == x.shape and noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy, explain.smooth_grad(model, x, target=1, samples=8, seed=3))  # repeats
    assert not np.array_equal(noisy, explain.smooth_grad(model, x, target=1, samples=8, seed=4))
    assert not np.allclose(noisy, explain.saliency(model, x, target=1))
    # The noisy copies' signed gradients average towards the gradient of the smoothed score, which
    # a torch reference of the same noise cannot check; their magnitudes stay of the same order.
    ratio = np.abs(noisy).mean() / np.abs(explain.saliency(model, x, target=1)).mean()
    assert 0.2 < ratio < 5, ratio
    with pytest.raises(ValueError, match="samples"):
        explain.smooth_grad(model, x, samples=0)


@pytest.mark.parametrize("logits", [True, False])
def test_gradients_with_a_python_seed_are_torch_gradients(logits):
    rng = np.random.default_rng(10)
    model = cnn()
    model.build((8, 8, 2))
    give_batch_norm_statistics(model, rng)
    x = rng.normal(0, 1, (4, 8, 8, 2)).astype(np.float32)
    units = [2, 0, 1, 2]
    seen = []

    def seed(out):
        seen.append(out.copy())
        return np.eye(3, dtype=np.float32)[units]

    g = explain.gradients(model, x, seed, logits=logits, layer="conv2")
    forward = torch_cnn(model)
    assert_close(g["input_grad"], torch_saliency(forward, x, units, logits), f"input gradient, logits={logits}")
    torch = torch_or_skip()
    out, maps = forward(torch.tensor(x, dtype=torch.float64))
    expected_out = out if logits else torch.softmax(out, dim=1)
    assert_close(seen[0], expected_out.detach().numpy(), "the output the seed receives")
    assert_close(g["output"], expected_out.detach().numpy(), "the output returned")
    assert_close(g["layer_output"], maps["conv2"].permute(0, 2, 3, 1).detach().numpy(), "conv2's maps")
    assert g["layer_grad"].shape == (4, 4, 4, 6)

    with pytest.raises(ValueError, match="seed"):  # myelin.ShapeError
        explain.gradients(model, x, lambda out: np.zeros((4, 2), np.float32))
    with pytest.raises(ZeroDivisionError):  # the seed's own exception comes through
        explain.gradients(model, x, lambda out: 1 / 0)


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_grad_cam_is_torch_grad_cam(layer):
    rng = np.random.default_rng(3)
    model = cnn()
    model.build((8, 8, 2))
    give_batch_norm_statistics(model, rng)
    x = rng.normal(0, 1, (6, 8, 8, 2)).astype(np.float32)
    units = [0, 1, 2, 0, 1, 2]
    forward = torch_cnn(model)
    reference = torch_grad_cam(forward, x, units, layer)
    got = explain.grad_cam(model, x, target=units, layer=layer, upsample=False)
    assert got.shape == tuple(reference.shape)
    assert_close(got, reference.detach().numpy(), f"Grad-CAM at {layer}")

    torch = torch_or_skip()
    upsampled = torch.nn.functional.interpolate(reference[:, None], size=(8, 8), mode="bilinear",
                                                align_corners=False)[:, 0]
    got = explain.grad_cam(model, x, target=units, layer=layer, upsample=True)
    assert got.shape == (6, 8, 8)
    assert_close(got, upsampled.detach().numpy(), f"upsampled Grad-CAM at {layer}")


def test_grad_cam_default_layer_is_the_last_spatial_one():
    rng = np.random.default_rng(4)
    model = cnn()
    x = rng.normal(0, 1, (4, 8, 8, 2)).astype(np.float32)
    model.predict(x)  # builds it
    # Dropout keeps conv2's (4, 4, 6) maps: the last layer with a spatial output.
    assert explain.last_spatial_layer(model) == "drop"
    # Dropout is the identity in inference, so its maps and gradients are conv2's.
    np.testing.assert_allclose(explain.grad_cam(model, x, upsample=False),
                               explain.grad_cam(model, x, layer="conv2", upsample=False), rtol=1e-5, atol=1e-7)


# --- Integrated Gradients: completeness ---------------------------------------------------------

def check_completeness(model, x, target, logits, baseline=None):
    """Integrated Gradients' rows add up to scores(x) - scores(baseline), up to the midpoint rule's
    error, which shrinks as 1/steps. A ReLU network's gradient jumps along the path, so at 64 steps
    one row may miss by several percent (measured on these models: 0.6-1.7% on average, 7.5% at
    worst, where a kink falls far from a midpoint; the paper asks for 5% and suggests 20-300
    steps); at 256 steps every row is within 1%. Near-zero differences get a floor of 10% of the
    batch's largest (their float32 rounding is of the same size as that of the others)."""
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(baseline, x.shape)
    units = explain.target_units(model, x, target=target)  # x's predicted units also at the baseline
    expected = (explain.scores(model, x, target=units, logits=logits).astype(np.float64)
                - explain.scores(model, base, target=units, logits=logits))
    assert np.abs(expected).max() > 1e-3, "the scores do not change: the check would prove nothing"
    scale = np.maximum(np.abs(expected), 0.1 * np.abs(expected).max())
    errors = {}
    for steps, mean_bound, row_bound in ((64, 0.025, 0.10), (256, 0.01, 0.01)):
        ig = explain.integrated_gradients(model, x, target=target, baseline=baseline, steps=steps, logits=logits)
        assert ig.shape == x.shape and ig.dtype == np.float32
        sums = ig.reshape(len(x), -1).sum(axis=1, dtype=np.float64)
        errors[steps] = np.abs(sums - expected) / scale
        what = f"logits={logits}, {steps} steps: IG sums {sums} vs score differences {expected}"
        assert errors[steps].mean() <= mean_bound, f"{what}: mean relative error {errors[steps].mean():.4f}"
        assert errors[steps].max() <= row_bound, f"{what}: relative errors {errors[steps]}"
    # More steps, less error: the midpoint rule converges.
    assert errors[256].mean() < errors[64].mean()


@pytest.mark.parametrize("logits", [True, False])
def test_integrated_gradients_completeness_mlp(logits):
    rng = np.random.default_rng(5)
    x, y = classification_data(rng, (5,))
    model = trained(mlp(), x, y)
    check_completeness(model, x[:16], None, logits)


@pytest.mark.parametrize("logits", [True, False])
def test_integrated_gradients_completeness_cnn(logits):
    rng = np.random.default_rng(6)
    x, y = classification_data(rng, (8, 8, 2))
    model = trained(cnn(), x, y)
    check_completeness(model, x[:8], [0, 1, 2, 0, 1, 2, 0, 1], logits)
    # A baseline other than zeros: one sample's shape, for every row.
    check_completeness(model, x[:8], 1, logits, baseline=np.full((8, 8, 2), 0.25, np.float32))


@pytest.mark.parametrize("logits", [True, False])
def test_integrated_gradients_completeness_regression(logits):
    (x_train, y_train), (x_test, _) = myelin.datasets.boston_housing.load_data(test_split=0.2, seed=42)
    scaler = myelin.preprocessing.StandardScaler()
    x_train, x_test = scaler.fit_transform(x_train), scaler.transform(x_test)
    model = Sequential([Dense(16, activation="relu", input_shape=(13,)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x_train, y_train, epochs=20, batch_size=16, verbose=0)
    # A regression's one output is unit 0, with or without logits (it has no softmax or sigmoid).
    check_completeness(model, x_test[:20], None, logits)
    np.testing.assert_array_equal(explain.target_units(model, x_test[:3]), [0, 0, 0])
    np.testing.assert_allclose(explain.scores(model, x_test[:20]), model.predict(x_test[:20])[:, 0], rtol=1e-5)


# --- targets, and errors that name the problem ---------------------------------------------------

def test_targets_none_int_and_list():
    rng = np.random.default_rng(7)
    x, y = classification_data(rng, (5,), n=48)
    model = trained(mlp(), x, y)
    predicted = model.predict(x).argmax(axis=1)
    assert len(set(predicted.tolist())) > 1, "one class everywhere would not tell the targets apart"
    np.testing.assert_array_equal(explain.target_units(model, x), predicted)
    np.testing.assert_array_equal(explain.saliency(model, x), explain.saliency(model, x, target=predicted))
    np.testing.assert_array_equal(explain.saliency(model, x, target=list(predicted)),
                                  explain.saliency(model, x, target=predicted))
    np.testing.assert_array_equal(explain.target_units(model, x, target=2), np.full(len(x), 2))
    np.testing.assert_array_equal(explain.target_units(model, x, target=np.int64(1)), np.ones(len(x)))
    units = rng.integers(0, 3, len(x))
    np.testing.assert_array_equal(explain.target_units(model, x, target=units), units)
    # The probability of each row's chosen unit is what predict says.
    np.testing.assert_allclose(explain.scores(model, x, target=units, logits=False),
                               model.predict(x)[np.arange(len(x)), units], rtol=1e-5)
    # Another target gives another explanation.
    assert not np.array_equal(explain.saliency(model, x, target=0), explain.saliency(model, x, target=1))


def test_errors_name_the_problem():
    rng = np.random.default_rng(8)
    x = rng.normal(0, 1, (5, 5)).astype(np.float32)
    model = mlp()
    model.predict(x)
    with pytest.raises(ValueError, match="target 3"):  # three classes: units 0..2
        explain.saliency(model, x, target=3)
    with pytest.raises(ValueError, match="target -1"):
        explain.saliency(model, x, target=[0, 1, -1, 0, 1])
    with pytest.raises(ValueError, match=r"target has 2 .* 5 rows"):  # two targets for five rows
        explain.integrated_gradients(model, x, target=[0, 1])
    with pytest.raises(myelin.ShapeError, match=r"\(5, 7\)"):  # the model takes 5 features
        explain.saliency(model, rng.normal(0, 1, (5, 7)).astype(np.float32))
    with pytest.raises(TypeError, match="target"):
        explain.saliency(model, x, target=[0.5, 1.0, 0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="batch_size"):
        explain.saliency(model, x, batch_size=0)
    with pytest.raises(TypeError, match="model"):
        explain.saliency(model._model, x)
    # No layer with (height, width, channels) maps in an MLP.
    with pytest.raises(ValueError, match="spatial"):
        explain.last_spatial_layer(model)
    with pytest.raises(ValueError, match="spatial"):
        explain.grad_cam(model, x)

    images = rng.normal(0, 1, (2, 8, 8, 2)).astype(np.float32)
    conv = cnn()
    conv.predict(images)
    with pytest.raises(ValueError, match="no_such_layer"):
        explain.grad_cam(conv, images, layer="no_such_layer")
    with pytest.raises(ValueError, match="flat"):  # (96,) per sample: not spatial
        explain.grad_cam(conv, images, layer="flat")
    with pytest.raises(myelin.ShapeError, match="baseline"):
        explain.integrated_gradients(conv, images, baseline=np.zeros((3, 3), np.float32))


# --- feature table and pictures ------------------------------------------------------------------

def test_feature_table_from_python():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, -6.0, 7.0, 8.0]], np.float32)
    attributions = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, -2.0, 0.0, 1.0]], np.float32)
    table = explain.feature_table(x, attributions, 1, names=["a", "b", "c", "d"])
    assert [r.feature for r in table] == ["b", "d", "a", "c"]
    assert isinstance(table[0], explain.FeatureAttribution)
    feature, value, attribution = table[0]  # unpacks as a tuple
    assert (feature, value, attribution) == ("b", -6.0, -2.0)
    assert [r.feature for r in explain.feature_table(x, attributions, 0)] == ["3", "2", "1", "0"]

    lines = []
    explain.print_feature_table(table, print_fn=lines.append)
    text = lines[0].splitlines()
    assert text[0].split() == ["feature", "value", "attribution"]
    assert [line.split()[0] for line in text[1:]] == ["b", "d", "a", "c"]

    with pytest.raises(ValueError):
        explain.feature_table(x, attributions, 2)
    with pytest.raises(ValueError):
        explain.feature_table(x, attributions, 0, names=["a", "b"])
    with pytest.raises(ValueError):
        explain.feature_table(x, attributions[:, :3], 0)


def test_save_heatmap_writes_a_png_of_the_scaled_size(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="python3-pil is not installed")
    image = np.linspace(0, 1, 8 * 8, dtype=np.float32).reshape(8, 8)
    attribution = np.zeros((8, 8), np.float32)
    attribution[2, 5] = 1.0
    path = tmp_path / "heat.png"
    explain.save_heatmap(path, image, attribution, scale=3, opacity=1.0)
    picture = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
    assert picture.size == (24, 24)
    hot = picture.getpixel((5 * 3 + 1, 2 * 3 + 1))
    cold = picture.getpixel((0, 0))
    assert hot[0] > 100 and hot[1] < 30 and hot[2] < 30, hot  # jet ends in dark red at the largest attribution
    assert cold[2] > 100 and cold[0] < 30 and cold[1] < 30, cold  # and starts in dark blue where there is none

    images = np.random.default_rng(9).random((3, 8, 8, 1)).astype(np.float32)
    grid = tmp_path / "grid.png"
    explain.save_heatmap_grid(grid, images, [images, images[..., 0]], scale=2)
    picture = Image.open(io.BytesIO(grid.read_bytes()))
    # Three columns (the image, two overlays) and three rows of 16x16 cells, 2-pixel gaps between.
    assert picture.size == (3 * 16 + 2 * 2, 3 * 16 + 2 * 2)

    with pytest.raises(ValueError):
        explain.save_heatmap(tmp_path / "bad.png", image, np.zeros((4, 4), np.float32))
    with pytest.raises(OSError):
        explain.save_heatmap(tmp_path / "missing" / "heat.png", image, attribution)


def test_an_unbuilt_model_is_built_from_x_as_predict_builds_it():
    x = np.random.default_rng(13).normal(0, 1, (4, 5)).astype(np.float32)
    model = Sequential([Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="not built"):
        explain.last_spatial_layer(model)  # nothing to build it from
    assert explain.saliency(model, x).shape == (4, 5)
    assert model.built and model.input_shape == (None, 5)
