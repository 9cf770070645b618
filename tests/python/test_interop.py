"""Python and C++ agree: the same model trained with one seed from each gives identical weights, and
model files cross between them. tests/python/cpp_reference.cpp is the C++ side."""
import functools
import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import myelin
from myelin.layers import Dense, Dropout
from myelin.models import Sequential, load_model
from myelin.optimizers import Adam

from conftest import SOURCE_DIR, cpp_reference_program, read_safetensors

SEED = 1234


def reference_data():
    # As cpp_reference.cpp: small integers / 22 - 0.5, exact in float32 on both sides.
    i = np.arange(64)[:, None]
    j = np.arange(5)[None, :]
    x = ((7 * i + 13 * j) % 23).astype(np.float32) / np.float32(22) - np.float32(0.5)
    y = (5 * i[:, 0] + i[:, 0] // 3) % 3
    return x, y


def reference_model():
    model = Sequential([Dense(8, activation="relu", input_shape=(5,)), Dropout(0.25), Dense(3, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def trained_in_python():
    myelin.set_random_seed(SEED)
    x, y = reference_data()
    model = reference_model()
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    return model


def cpp(*args):
    out = subprocess.run([cpp_reference_program(), *map(str, args)], check=True, capture_output=True, text=True)
    return out.stdout


def cpp_predictions(path):
    lines = cpp("predict", path).split()
    values = [float(v) for v in lines if not v.startswith("loss=")]
    loss = [float(v.split("=")[1]) for v in lines if v.startswith("loss=")]
    return np.array(values, dtype=np.float32).reshape(64, 3), loss


def test_same_seed_gives_identical_weights_in_python_and_cpp(tmp_path):
    cpp("train", SEED, tmp_path / "cpp.safetensors")
    cpp_weights = read_safetensors(tmp_path / "cpp.safetensors")
    model = trained_in_python()
    names = model._model.weight_names()
    assert sorted(names) == sorted(cpp_weights)
    for name, value in zip(names, model.get_weights()):
        # Bit for bit: the same engine, data, seed and thread count.
        np.testing.assert_array_equal(value, cpp_weights[name], err_msg=name)


def test_a_different_seed_gives_different_weights(tmp_path):
    # The check above must be able to fail: another seed changes the C++ weights.
    cpp("train", SEED + 1, tmp_path / "other.safetensors")
    other = read_safetensors(tmp_path / "other.safetensors")
    model = trained_in_python()
    assert not np.array_equal(model.get_weights()[0], other["dense/kernel"])


def test_model_saved_in_python_loads_in_cpp(tmp_path):
    model = trained_in_python()
    path = tmp_path / "python.safetensors"
    model.save(path)
    x, y = reference_data()
    predictions, loss = cpp_predictions(path)
    np.testing.assert_array_equal(predictions, model.predict(x, verbose=0))
    # It came back compiled, with the same loss.
    assert loss and loss[0] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-6)
    # The file's tensors are the model's weights (read by a plain safetensors reader).
    stored = read_safetensors(path)
    for name, value in zip(model._model.weight_names(), model.get_weights()):
        np.testing.assert_array_equal(stored[name], value)


def test_model_saved_in_cpp_loads_in_python(tmp_path):
    path = tmp_path / "cpp_model.safetensors"
    cpp("save", SEED, path)
    loaded = load_model(path)
    x, y = reference_data()
    cpp_pred, cpp_loss = cpp_predictions(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), cpp_pred)
    assert [l.name for l in loaded.layers] == ["dense", "dropout", "dense_1"]
    assert type(loaded.layers[0]).__name__ == "Dense"
    assert loaded.metrics_names == ["loss", "accuracy"]
    assert loaded.evaluate(x, y, verbose=0)[0] == pytest.approx(cpp_loss[0], rel=1e-6)
    # And it is the model the same seed trains in Python.
    np.testing.assert_array_equal(loaded.get_weights()[0], trained_in_python().get_weights()[0])
    # It trains further.
    before = loaded.get_weights()[0].copy()
    loaded.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before, loaded.get_weights()[0])


# --- the examples: Python and C++ print the same figures where they read the same data -------------

EXAMPLES = SOURCE_DIR / "examples" / "python"


def run_example(name, *args):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--threads", "1", *args], check=True,
                         capture_output=True, text=True, env=env)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def run_cpp_example(name, *args):
    bin_dir = os.environ.get("MYELIN_EXAMPLES_BIN")
    if not bin_dir or not (Path(bin_dir) / name).is_file():
        pytest.skip("the C++ examples are not built")
    out = subprocess.run([str(Path(bin_dir) / name), "--threads", "1", *args], check=True, capture_output=True,
                         text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("name,args", [
    ("boston_regression", ["--epochs", "30"]),
    ("cross_validation", ["--epochs", "5"]),
    ("wide_and_deep", []),
])
def test_example_prints_the_cpp_figures(name, args):
    assert run_example(name, *args) == run_cpp_example(name, *args)


def test_binary_classifier_example():
    py = run_example("binary_classifier")
    cpp_figures = run_cpp_example("binary_classifier")
    assert set(py) == set(cpp_figures)
    # The random data are numpy's in Python and myelin's in C++; the diabetes part is the same.
    for key in ("real_test_accuracy", "precision", "recall", "auc"):
        assert py[key] == cpp_figures[key], key
    assert 0.4 <= float(py["random_accuracy"]) <= 0.6  # a coin
    assert float(py["real_test_accuracy"]) >= 0.7 and float(py["auc"]) >= 0.8


def test_small_regression_example_reaches_its_bars():
    py = run_example("small_regression")
    assert set(py) == {"test_mae", "l2_test_mae", "stopped_epoch", "best_epoch", "epochs_run"}
    assert float(py["l2_test_mae"]) < float(py["test_mae"])
    # Early stopping ended the run (patience 10) before its 1000 epochs.
    assert int(py["stopped_epoch"]) == int(py["epochs_run"]) == int(py["best_epoch"]) + 10
    assert int(py["epochs_run"]) < 1000


def test_sequence_memory_example_reaches_its_bars():
    # numpy's data in Python and myelin's in C++, so the figures differ; the bars are the same.
    py = run_example("sequence_memory")
    assert set(py) == {"lstm_test_accuracy", "bidirectional_test_accuracy"}
    assert float(py["bidirectional_test_accuracy"]) >= 0.9
    assert float(py["bidirectional_test_accuracy"]) > float(py["lstm_test_accuracy"])


def test_mlp_fashion_mnist_example_prints_the_cpp_figures():
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("MYELIN_FASHION_MNIST_DIR"):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    py = run_example("mlp_fashion_mnist", "--epochs", "1", "--verbose", "0")
    cpp_figures = run_cpp_example("mlp_fashion_mnist", "--epochs", "1", "--verbose", "0")
    for key in ("test_accuracy", "test_loss"):
        assert py[key] == cpp_figures[key], key
    assert float(py["test_accuracy"]) >= 0.78


def test_cnn_fashion_mnist_example_reaches_its_bar_on_a_reduced_run():
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("MYELIN_FASHION_MNIST_DIR"):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    # 6,000 training images, 2 epochs: seconds on one thread; the full run is the C++ example's job.
    py = run_example("cnn_fashion_mnist", "--epochs", "2", "--train-samples", "6000", "--verbose", "0")
    assert set(py) == {"test_accuracy", "test_loss", "train_seconds", "train_seconds_per_epoch"}
    # Evaluated on all 10,000 test images: a tenth of the data and two epochs already beat 0.70
    # (a network that learned nothing scores 0.10, and a collapsed one 0.10 too).
    assert float(py["test_accuracy"]) >= 0.70
    assert 0 < float(py["test_loss"]) < 1.0


def test_explain_fashion_mnist_example_on_a_reduced_run(tmp_path):
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("MYELIN_FASHION_MNIST_DIR"):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    Image = pytest.importorskip("PIL.Image", reason="python3-pil is not installed")
    picture = tmp_path / "attributions.png"
    # 6,000 training images, one epoch: seconds on one thread.
    out = subprocess.run([sys.executable, str(EXAMPLES / "explain_fashion_mnist.py"), "--threads", "1", "--epochs", "1",
                          "--train-samples", "6000", "--output", str(picture)],
                         check=True, capture_output=True, text=True)
    py = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert set(py) == {"test_accuracy", "completeness_error", "in_item_fraction", "in_item_fraction_uniform",
                       "bias_free_test_accuracy", "in_item_fraction_bias_free", "house_price_predicted",
                       "house_price_average"}
    # The measure's control: 525 of the first 1000 test items cover more than half their image.
    assert py["in_item_fraction_uniform"] == "0.5250"
    assert float(py["test_accuracy"]) >= 0.6
    # 8 rows of 5 cells (the image, saliency, SmoothGrad, IG, Grad-CAM) of 28x28 drawn 4x, 2-pixel gaps.
    assert Image.open(picture).size == (5 * 112 + 4 * 2, 8 * 112 + 7 * 2)
    # Integrated Gradients add up to the logit's change within a percent at 64 steps.
    assert float(py["completeness_error"]) < 0.01
    assert 0 <= float(py["in_item_fraction"]) <= 1
    assert 0 <= float(py["in_item_fraction_bias_free"]) <= 1
    assert float(py["bias_free_test_accuracy"]) >= 0.6
    # The Boston table: a header and the 13 features, each once, the largest contribution first.
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["feature", "value", "attribution"])
    rows = [line.split() for line in lines[header + 1:]]
    assert sorted(r[0] for r in rows) == sorted(["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD",
                                                 "TAX", "PTRATIO", "B", "LSTAT"])
    contributions = [abs(float(r[2])) for r in rows]
    assert contributions == sorted(contributions, reverse=True)
    # They add up to the price's difference from the average house's (both printed to 0.01).
    difference = float(py["house_price_predicted"]) - float(py["house_price_average"])
    assert sum(float(r[2]) for r in rows) == pytest.approx(difference, abs=0.02 + 0.01 * abs(difference))


def test_explain_fashion_mnist_example_prints_the_cpp_figures(tmp_path):
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("MYELIN_FASHION_MNIST_DIR"):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    # Untrained (--epochs 0), so that it takes seconds: the same initial weights explained the same
    # way, and the same Boston regression and table, as the C++ example.
    cpp_figures = run_cpp_example("explain_fashion_mnist", "--epochs", "0", "--output", str(tmp_path / "cpp.png"))
    py = run_example("explain_fashion_mnist", "--epochs", "0", "--output", str(tmp_path / "py.png"))
    assert py == cpp_figures
    assert (tmp_path / "cpp.png").read_bytes() == (tmp_path / "py.png").read_bytes()


WORD_LISTS = ["american-english", "ngerman", "french", "spanish", "italian", "dutch", "portuguese"]


@functools.cache
def language_id_one_epoch():
    return run_example("language_id", "--epochs", "1")


def require_word_lists():
    for name in WORD_LISTS:
        if not (Path("/usr/share/dict") / name).is_file():
            pytest.skip(f"/usr/share/dict/{name} is not installed (scripts/setup.sh installs the word lists)")


def test_language_id_example_on_a_reduced_run():
    require_word_lists()
    py = language_id_one_epoch()
    assert set(py) == {"mixed_bfloat16", "train_words", "test_words", "characters", "test_accuracy",
                       "naive_bayes_test_accuracy", "loaded_prediction_max_difference"}
    assert py["mixed_bfloat16"] == "0"
    assert (py["train_words"], py["test_words"]) == ("16800", "4200")
    assert py["loaded_prediction_max_difference"] == "0"  # the saved .keras model predicts from words the same
    # One epoch: 0.6148 measured (chance is 1/7); the bigram naive Bayes does not train by epochs: 0.7981.
    assert float(py["test_accuracy"]) >= 0.5
    assert float(py["naive_bayes_test_accuracy"]) >= 0.7


def test_language_id_example_prints_the_cpp_figures():
    require_word_lists()
    # The same splitmix64 draws, TextVectorization vocabulary, seed and engine: the same words, network
    # and figures to the digit.
    assert language_id_one_epoch() == run_cpp_example("language_id", "--epochs", "1")


@functools.cache
def language_id_transformer_one_epoch():
    return run_example("language_id", "--model", "transformer", "--epochs", "1")


def test_language_id_transformer_on_a_reduced_run():
    require_word_lists()
    py = language_id_transformer_one_epoch()
    assert set(py) == {"mixed_bfloat16", "train_words", "test_words", "characters", "test_accuracy",
                       "naive_bayes_test_accuracy", "loaded_prediction_max_difference"}
    assert py["mixed_bfloat16"] == "0"
    assert (py["train_words"], py["test_words"]) == ("16800", "4200")
    # Saved as .keras, the model of two inputs predicts the same.
    assert py["loaded_prediction_max_difference"] == "0"
    # One epoch: 0.5283 measured (chance is 1/7); the baseline is the LSTM run's, whatever the network.
    assert float(py["test_accuracy"]) >= 0.4
    assert py["naive_bayes_test_accuracy"] == "0.7981"


def test_language_id_transformer_prints_the_cpp_figures():
    require_word_lists()
    assert language_id_transformer_one_epoch() == run_cpp_example("language_id", "--model", "transformer",
                                                                   "--epochs", "1")


def test_language_id_transformer_under_mixed_bfloat16_prints_the_cpp_figures():
    # --precision bf16: both programs set Keras's mixed_bfloat16 policy and run the same bfloat16 kernels.
    require_word_lists()
    if not myelin.mixed_precision.bf16_supported():
        pytest.skip("no bfloat16 dot products on this CPU")
    arguments = ("--model", "transformer", "--epochs", "1", "--precision", "bf16")
    py = run_example("language_id", *arguments)
    assert py["mixed_bfloat16"] == "1"
    assert py["loaded_prediction_max_difference"] == "0"  # the saved .keras file keeps the policy
    assert py == run_cpp_example("language_id", *arguments)


@functools.cache
def text_generation_two_epochs():
    out = subprocess.run([sys.executable, str(EXAMPLES / "text_generation.py"), "--threads", "1", "--epochs", "2"],
                         check=True, capture_output=True, text=True)
    return out.stdout


def test_text_generation_example_on_a_reduced_run():
    source = Path("/usr/share/state/us-constitution.gz")
    if not source.is_file():
        pytest.skip(f"{source} is not installed (Debian: miscfiles)")
    lines = text_generation_two_epochs().splitlines()
    assert all("=" in line for line in lines)
    py = dict(line.split("=", 1) for line in lines)
    # The text as the example reads it: lowercased, whitespace runs as one space.
    allowed = set(" ".join(gzip.decompress(source.read_bytes()).decode("ascii").lower().split()))
    assert int(py["characters"]) == len(allowed)
    samples = [key for key in py if key.startswith("sample_")]
    assert sorted(samples) == ["sample_epoch1_t0.5", "sample_epoch1_t1.0", "sample_epoch2_t0.5", "sample_epoch2_t1.0"]
    for key in samples:
        assert len(py[key]) == 120 and set(py[key]) <= allowed, key
    for key in ("prompt_epoch1", "prompt_epoch2"):
        assert len(py[key]) == 40 and set(py[key]) <= allowed, key
    # Measured 2.5575 then 1.9643 (a uniform guess over the 45 characters costs ln 45 = 3.81).
    assert float(py["loss_epoch1"]) < np.log(int(py["characters"]))
    assert float(py["loss_epoch2"]) < float(py["loss_epoch1"]) - 0.2


def test_text_generation_example_trains_as_the_cpp_one():
    if not Path("/usr/share/state/us-constitution.gz").is_file():
        pytest.skip("/usr/share/state/us-constitution.gz is not installed (Debian: miscfiles)")
    py = dict(line.split("=", 1) for line in text_generation_two_epochs().splitlines())
    cpp = run_cpp_example("text_generation", "--epochs", "2")
    # The same windows, seed and engine give the same losses; the samples are numpy's draws in Python.
    for key in ("text_characters", "characters", "windows", "loss_epoch1", "loss_epoch2"):
        assert py[key] == cpp[key], key


@functools.cache
def sequence_regression_five_epochs():
    return run_example("sequence_regression", "--epochs", "5")


def test_sequence_regression_example_beats_the_last_value_on_a_reduced_run():
    py = sequence_regression_five_epochs()
    assert (py["weeks"], py["filled_weeks"]) == ("2284", "59")
    # Five epochs: 0.3920 ppm measured against the last value's 0.7579 (40 epochs: 0.3358).
    assert float(py["test_mae"]) < 0.75 * float(py["last_value_mae"])


def test_sequence_regression_example_prints_the_cpp_figures():
    assert sequence_regression_five_epochs() == run_cpp_example("sequence_regression", "--epochs", "5")
