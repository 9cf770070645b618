"""TextVectorization from Python: Keras's documented example, a reference written here from Keras's
own rules (its punctuation regex, its np.lexsort vocabulary order) on random text, the lowercase
table against Python's str.lower, numpy inputs, errors, and the config and vocabulary-file round trips."""
import collections
import random
import re

import numpy as np
import pytest

import myelin
from myelin.layers import Input, TextVectorization

# keras/src/layers/preprocessing/text_vectorization.py, verbatim.
KERAS_STRIP_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


def reference_tokens(text):
    """Keras's default standardize and split for ASCII text: tf.strings.lower (ASCII), the regex,
    tf.strings.split (runs of ASCII whitespace)."""
    text = re.sub(KERAS_STRIP_REGEX, "", text.lower())
    return [t for t in re.split(r"[ \t\n\v\f\r]+", text) if t]


def reference_vocabulary(texts, max_tokens=None):
    """IndexLookup.finalize_state: np.lexsort((tokens, counts))[::-1], then the first max_tokens - 2."""
    counts = collections.Counter(t.encode() for text in texts for t in reference_tokens(text))
    tokens = np.array(list(counts.keys()), dtype=object)
    order = np.lexsort((tokens, np.array([counts[t] for t in tokens])))[::-1]
    if max_tokens:
        order = order[:max_tokens - 2]
    return ["", "[UNK]"] + [tokens[i].decode() for i in order]


def test_keras_documented_example():
    layer = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    ids = layer([["foo qux bar"], ["qux baz"]])
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [[4, 1, 3, 0], [1, 2, 0, 0]])
    given = TextVectorization(output_sequence_length=4, vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    assert given.vocabulary_size() == 6


@pytest.mark.parametrize("max_tokens", [None, 12])
def test_matches_keras_rules_on_random_text(max_tokens):
    rng = random.Random(7)
    words = ["a", "b", "ab", "ba", "cat", "Cat", "dog", "x", "y", "zz", "it's", "e-mail"]
    spaces = [" ", "  ", "\t", "\n", " \r\n"]
    punct = ["", "", ",", ".", "!", "?!", "(", ")", "'", '"', "..."]

    def text():
        return "".join(rng.choice(punct) + rng.choice(words) + rng.choice(punct) + rng.choice(spaces)
                       for _ in range(rng.randint(0, 12)))

    texts = [text() for _ in range(60)]
    layer = TextVectorization(max_tokens=max_tokens)
    layer.adapt(texts)
    vocabulary = reference_vocabulary(texts, max_tokens)
    assert layer.get_vocabulary() == vocabulary

    queries = [text() for _ in range(20)]
    index = {t: i for i, t in enumerate(vocabulary)}
    rows = [[index.get(t, 1) for t in reference_tokens(q)] for q in queries]
    want = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        want[i, :len(r)] = r
    np.testing.assert_array_equal(layer(queries), want)


def test_lowercase_table_against_python():
    # Documented: A-Z, U+00C0-U+00DE but U+00D7, U+0100-U+017F, U+0386-U+03AB, U+0400-U+042F, by the
    # simple (one code point) mapping; everything else unchanged.
    def mapped(cp):
        return (0x41 <= cp <= 0x5A or (0xC0 <= cp <= 0xDE and cp != 0xD7) or 0x100 <= cp <= 0x17F
                or 0x386 <= cp <= 0x3AB or 0x400 <= cp <= 0x42F)

    layer = TextVectorization(standardize="lower", split="character", vocabulary=["a"])
    core = layer._core
    for cp in range(0x20, 0x600):
        c = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        got = core.tokenize(c)
        if not mapped(cp):
            assert got == [c], hex(cp)
        elif cp == 0x130:
            assert got == ["i"]  # İ: Python's full mapping gives "i" + U+0307
        else:
            assert got == [c.lower()], hex(cp)


def test_character_split_and_standardize_modes():
    layer = TextVectorization(standardize=None, split="character", vocabulary=["ñ", "😀", " "])
    np.testing.assert_array_equal(layer(["ñ😀 x€"]), [[2, 3, 4, 1, 1]])
    strip = TextVectorization(standardize="strip_punctuation", split=None, vocabulary=["Its Fine"])
    np.testing.assert_array_equal(strip(["It's Fine!", "its fine", ""]), [[2], [1], [0]])
    lower = TextVectorization(standardize="lower", vocabulary=["straße", "école"])
    np.testing.assert_array_equal(lower(["ÉCOLE Straße STRASSE"]), [[3, 2, 1]])


def test_numpy_inputs_and_sequence_length():
    layer = TextVectorization(output_sequence_length=3)
    layer.adapt(np.array(["b a b", "c"]))
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "c", "a"]
    want = [[2, 4, 3], [1, 0, 0]]
    np.testing.assert_array_equal(layer(np.array(["b a c b a", "d"])), want)
    np.testing.assert_array_equal(layer(np.array([["b a c b a"], ["d"]])), want)  # shape (n, 1)
    np.testing.assert_array_equal(layer(np.array([b"b a c b a", b"d"])), want)  # bytes
    np.testing.assert_array_equal(layer(("b a c b a", "d")), want)
    assert layer([]).shape == (0, 3)
    unpadded = TextVectorization(vocabulary=["a"])
    assert unpadded(["a a a", "a"]).shape == (2, 3)
    assert unpadded(["", ""]).shape == (2, 0)


def test_errors_are_clear():
    layer = TextVectorization()
    with pytest.raises(ValueError, match=r"text 1 is not valid UTF-8: byte 0xFF at byte offset 2"):
        layer.adapt([b"fine", b"ab\xffcd"])
    with pytest.raises(ValueError, match=r"text 0 is 10485760 bytes.*max_text_bytes"):
        layer.adapt(["a" * (10 << 20)])
    with pytest.raises(ValueError, match="no token in 2 texts"):
        layer.adapt(["", "!!"])
    with pytest.raises(ValueError, match="no vocabulary"):
        layer(["a"])
    with pytest.raises(ValueError, match="limit of 3 bytes"):
        TextVectorization(max_text_bytes=3, vocabulary=["a"])(["abcd"])
    with pytest.raises(ValueError, match="output_mode 'multi_hot' is not supported"):
        TextVectorization(output_mode="multi_hot")
    with pytest.raises(ValueError, match="'ngrams'"):
        TextVectorization(ngrams=2)
    with pytest.raises(ValueError, match="max_tokens"):
        TextVectorization(max_tokens=2)
    with pytest.raises(ValueError, match=r"vocabulary\[2\] repeats the token 'a'"):
        TextVectorization(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"vocabulary\[1\] is not valid UTF-8"):
        TextVectorization(vocabulary=[b"a", b"\xc3"])
    with pytest.raises(ValueError, match="single string"):
        TextVectorization(vocabulary=["a"])("a b")
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a str"):
        TextVectorization(vocabulary=["a"])(["a", 3])
    with pytest.raises(TypeError, match="before the model"):
        TextVectorization(vocabulary=["a"])(Input(shape=(1,)))
    with pytest.raises(myelin.ResourceError):
        TextVectorization(vocabulary=["a"], output_sequence_length=1 << 40)(["a"] * 1000)


def test_config_round_trip(tmp_path):
    layer = TextVectorization(max_tokens=5, output_sequence_length=4, name="words")
    layer.adapt(["the cat", "the dog", "the end"])  # the 3; then end > dog > cat
    config = layer.get_config()
    assert config["vocabulary"] == ["the", "end", "dog"]
    assert (config["name"], config["max_tokens"], config["output_sequence_length"]) == ("words", 5, 4)
    assert config["has_input_vocabulary"] is False
    back = TextVectorization.from_config(config)
    assert back.get_vocabulary() == layer.get_vocabulary()
    assert back.name == "words"
    np.testing.assert_array_equal(back(["The dog, the cat"]), [[2, 4, 2, 1]])
    back.adapt(["new words"])  # an adapted vocabulary may be adapted again
    assert back.get_vocabulary() == ["", "[UNK]", "words", "new"]

    # Keras's vocabulary asset (get_vocabulary() joined by newlines) as vocabulary=path.
    path = tmp_path / "vocabulary.txt"
    path.write_text("\n".join(layer.get_vocabulary()), encoding="utf-8")
    from_file = TextVectorization(vocabulary=str(path))
    assert from_file.get_vocabulary() == layer.get_vocabulary()
    with pytest.raises(ValueError, match="cannot adapt"):
        from_file.adapt(["x"])
    from_file.set_vocabulary(["", "[UNK]", "end", "the"])  # replaces it; the special tokens are dropped
    np.testing.assert_array_equal(from_file(["the end"]), [[3, 2]])
    from_file.set_vocabulary(path)
    assert from_file.get_vocabulary(include_special_tokens=False) == ["the", "end", "dog"]
    with pytest.raises(ValueError, match="tf_idf"):
        from_file.set_vocabulary(["a"], idf_weights=[1.0])
    path.write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(OSError, match=r"line 3: repeats the token 'a' of line 1"):
        TextVectorization(vocabulary=path)
