"""A model that opens with a TextVectorization, as in Keras: Sequential([Input(shape=(1,),
dtype="string"), vectorizer, Embedding(...), ...]) fits, evaluates and predicts on raw strings
exactly as the same model on the ids the vectorizer makes; saved (.keras or .safetensors) it keeps
the vocabulary, and the loaded model predicts from strings; a damaged stored vocabulary is an error
naming the file."""
import zipfile

import numpy as np
import pytest

from myelin.layers import Dense, Embedding, GlobalAveragePooling1D, Input, TextVectorization
from myelin.models import Sequential, load_model
from myelin.optimizers import Adam
from myelin.utils import set_random_seed

TEXTS = np.array(["the cat sat on the mat", "a dog ran", "The Cat ran!", "birds sing at dawn", "the dog sat",
                  "a bird on the mat", "unseen words only", "cat"])
LABELS = np.array([("cat" in t.lower()) for t in TEXTS], dtype=np.float32)
ASSET = "assets/layers/text_vectorization/vocabulary.txt"


def vectorizer():
    v = TextVectorization(max_tokens=12, output_sequence_length=5)
    v.adapt(TEXTS)
    return v


def classifier(first_layers, vocabulary_size):
    set_random_seed(7)
    model = Sequential(first_layers + [Embedding(vocabulary_size, 4), GlobalAveragePooling1D(),
                                       Dense(2, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_strings_in_equal_the_ids_in():
    v = vectorizer()
    on_texts = classifier([Input(shape=(1,), dtype="string"), v], v.vocabulary_size())
    on_ids = classifier([Input(shape=(5,))], v.vocabulary_size())
    ids = v(TEXTS).astype(np.float32)
    np.testing.assert_array_equal(on_texts.predict(TEXTS, verbose=0), on_ids.predict(ids, verbose=0))
    a = on_texts.fit(TEXTS, LABELS, epochs=3, batch_size=4, verbose=0)
    b = on_ids.fit(ids, LABELS, epochs=3, batch_size=4, verbose=0)
    assert a.history["loss"] == b.history["loss"]
    np.testing.assert_array_equal(on_texts.predict(list(TEXTS), verbose=0), on_ids.predict(ids, verbose=0))
    assert on_texts.evaluate(TEXTS, LABELS, verbose=0) == on_ids.evaluate(ids, LABELS, verbose=0)
    # Without the string Input, the vectorizer alone may open the model too.
    alone = classifier([v], v.vocabulary_size())
    np.testing.assert_array_equal(alone.predict(TEXTS, verbose=0), classifier([Input(shape=(5,))], v.vocabulary_size())
                                  .predict(ids, verbose=0))


@pytest.mark.parametrize("suffix", [".keras", ".safetensors"])
def test_saved_text_model_predicts_from_raw_strings(tmp_path, suffix):
    v = vectorizer()
    model = classifier([Input(shape=(1,), dtype="string"), v], v.vocabulary_size())
    model.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    fresh = np.array(["the cat", "never seen before", ""])
    expected = model.predict(v(fresh).astype(np.float32), verbose=0)
    model.save(tmp_path / f"text{suffix}")
    loaded = load_model(tmp_path / f"text{suffix}")
    np.testing.assert_array_equal(loaded.predict(fresh, verbose=0), expected)
    # And the loaded model trains on strings.
    loaded.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)


def test_keras_file_holds_the_vocabulary_as_keras_does(tmp_path):
    v = vectorizer()
    model = classifier([Input(shape=(1,), dtype="string"), v], v.vocabulary_size())
    model.save(tmp_path / "text.keras")
    with zipfile.ZipFile(tmp_path / "text.keras") as z:
        assert z.read(ASSET).decode() == "\n".join(v.get_vocabulary())


def test_a_damaged_stored_vocabulary_is_named(tmp_path):
    v = vectorizer()
    classifier([v], v.vocabulary_size()).save(tmp_path / "ok.keras")
    with zipfile.ZipFile(tmp_path / "ok.keras") as z:
        files = {name: z.read(name) for name in z.namelist()}
    files[ASSET] = b"\n[UNK]\nthe\ncat\nthe"
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    with pytest.raises(OSError, match=r"bad\.keras.*vocabulary\.txt.*line 5.*repeats the token 'the'"):
        load_model(tmp_path / "bad.keras")


def test_misuse_is_refused_by_name():
    v = vectorizer()
    plain = classifier([Input(shape=(5,))], v.vocabulary_size())
    with pytest.raises(TypeError, match="dtype <U.*TextVectorization"):
        plain.predict(TEXTS)
    with pytest.raises(ValueError, match="must open the Sequential"):
        Sequential([Input(shape=(5,)), v])
    with pytest.raises(ValueError, match="followed by a TextVectorization"):
        Sequential([Input(shape=(1,), dtype="string"), Dense(2)])
