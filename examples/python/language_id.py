#!/usr/bin/python3
"""Which of seven languages a word is: English, German, French, Spanish, Italian, Dutch or Portuguese,
learnt from the word lists that Debian ships (packages wamerican, wngerman, wfrench, wspanish,
witalian, wdutch, wportuguese: /usr/share/dict/; scripts/setup.sh installs them; --data DIR reads the
same file names from another folder). The Python twin of examples/language_id.cpp: the same words,
split, network and baseline, and the same figures.

The words: those written only in lowercase letters (a-z, the Latin-1 letters à-ÿ and ß, and œ), 1 to
16 letters long; a word with a capital, an apostrophe, a hyphen or a digit is skipped, which leaves out
proper names, English possessives and German nouns. A word found in more than one list is dropped
from all of them. Then 3,000 words per language, drawn by a seeded shuffle, and a seeded 80/20 split.

The network reads characters: TextVectorization(split="character") gives each character an id, padded
at the end with 0 to 16 ids, then Embedding(16) -> Bidirectional(LSTM(32)) -> Dense(7, softmax).
The vectorizer opens the model, which trains on the words themselves and, saved as .keras and loaded,
predicts from words. With --model transformer, a small Transformer encoder instead, as Keras's "Text classification with
Transformer" example builds it: a token embedding plus a learnt position embedding (the positions
0..15 come in as a second input), one block of MultiHeadAttention(2 heads) and a feed-forward Dense
pair, each added back to its input and followed by LayerNormalization, then GlobalAveragePooling1D ->
Dense(20, relu) -> Dense(7, softmax), with Dropout(0.1) where Keras's example has it; a model of two
inputs, it takes the ids vectorized before it, and its saved .keras file is checked on them. Beside it,
on the same split, a character-bigram naive Bayes classifier (bigrams of the word framed by a start and
an end mark, add-one smoothing). --precision bf16 trains and predicts under Keras's mixed_bfloat16
policy (the LSTM or the attention and Dense layers multiply in bfloat16; the Embedding,
LayerNormalization and the softmax stay float32), --precision auto under it only where it runs faster
than float32; the saved model keeps its policy. The shuffles use splitmix64, as the C++ program does."""
import argparse
import math
import os
import tempfile
from collections import Counter

import numpy as np

from myelin import mixed_precision
from myelin.layers import (LSTM, Add, Bidirectional, Dense, Dropout, Embedding, GlobalAveragePooling1D, Input,
                           LayerNormalization, MultiHeadAttention, TextVectorization)
from myelin.models import Model, Sequential, load_model
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(
    description="Which of seven languages a word is: a character Bidirectional LSTM (or Transformer) beside a "
                "bigram naive Bayes.")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default="/usr/share/dict", help="folder of the word lists")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--model", default="lstm", choices=["lstm", "transformer"], help="the network")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                    help="bf16: Keras's mixed_bfloat16 policy; auto: it only where it runs faster")
args = parser.parse_args()
set_num_threads(args.threads)
if args.precision != "fp32":
    mixed_precision.set_global_policy("mixed_bfloat16" if args.precision == "bf16" else "auto")
print(f"mixed_bfloat16={int(mixed_precision.global_policy().name == 'mixed_bfloat16')}")

WORDS_PER_LANGUAGE = 3000
MAX_LENGTH = 16
FILES = ["american-english", "ngerman", "french", "spanish", "italian", "dutch", "portuguese"]
LETTERS = set("abcdefghijklmnopqrstuvwxyz") | {chr(c) for c in range(0xDF, 0x100) if c != 0xF7} | {"œ"}
MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def shuffle_front(self, v, n):
        """The first n places of a Fisher-Yates shuffle of v."""
        for i in range(min(n, len(v) - 1)):
            j = i + self.next() % (len(v) - i)
            v[i], v[j] = v[j], v[i]


lists = {}  # word -> the languages whose list holds it
for language, name in enumerate(FILES):
    try:
        with open(f"{args.data}/{name}", encoding="utf-8") as f:
            for word in f.read().split("\n"):
                if 1 <= len(word) <= MAX_LENGTH and set(word) <= LETTERS:
                    lists.setdefault(word, set()).add(language)
    except OSError as e:
        raise SystemExit(f"cannot read the word list {args.data}/{name}: {e}")
kept = [[] for _ in FILES]
for word in sorted(lists):  # code point order, as the C++ program's byte order
    if len(lists[word]) == 1:
        kept[next(iter(lists[word]))].append(word)
rng = SplitMix64(args.seed)
words = []
for language, candidates in enumerate(kept):
    if len(candidates) < WORDS_PER_LANGUAGE:
        raise SystemExit(f"too few words in {FILES[language]}: {len(candidates)}")
    rng.shuffle_front(candidates, WORDS_PER_LANGUAGE)
    words += [(w, language) for w in candidates[:WORDS_PER_LANGUAGE]]
rng.shuffle_front(words, len(words))
n_test = len(words) // 5
train, test = words[:-n_test], words[-n_test:]
train_text = [w for w, _ in train]
test_text = [w for w, _ in test]
y_train = np.array([l for _, l in train], dtype=np.float32)
y_test = np.array([l for _, l in test], dtype=np.float32)

# Characters to ids (0 pads, 1 would be a character never seen in training).
chars = TextVectorization(standardize=None, split="character", output_sequence_length=MAX_LENGTH)
chars.adapt(train_text)



def transformer_classifier(vocabulary, classes, width=32, heads=2, feed_forward=32):
    """The Transformer encoder of Keras's text classification example, sized for words of 16 characters."""
    tokens = Input(shape=(MAX_LENGTH,), name="characters")
    positions = Input(shape=(MAX_LENGTH,), name="positions")
    x = Add()([Embedding(vocabulary, width)(tokens), Embedding(MAX_LENGTH, width)(positions)])
    attended = Dropout(0.1)(MultiHeadAttention(num_heads=heads, key_dim=width)(x, x))
    x = LayerNormalization(epsilon=1e-6)(Add()([x, attended]))
    fed = Dropout(0.1)(Dense(width)(Dense(feed_forward, activation="relu")(x)))
    x = LayerNormalization(epsilon=1e-6)(Add()([x, fed]))
    x = Dropout(0.1)(GlobalAveragePooling1D()(x))
    x = Dropout(0.1)(Dense(20, activation="relu")(x))
    return Model([tokens, positions], Dense(classes, activation="softmax")(x))


def position_ids(rows):
    """The position ids 0..15 of every word, the position embedding's input."""
    return np.tile(np.arange(MAX_LENGTH, dtype=np.float32), (rows, 1))


set_random_seed(args.seed)
if args.model == "transformer":
    # Two inputs, the ids and their positions: the words are vectorized before the model.
    x_train, x_test = chars(train_text), chars(test_text)
    model = transformer_classifier(chars.vocabulary_size(), len(FILES))
    model.compile(optimizer=Adam(learning_rate=0.002), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([x_train, position_ids(len(x_train))], y_train, epochs=args.epochs, batch_size=args.batch_size,
              verbose=args.verbose)
    test_inputs = [x_test, position_ids(len(x_test))]
    test_accuracy = model.evaluate(test_inputs, y_test, verbose=0)[1]
else:
    # The vectorizer opens the model, as in Keras: the model takes the words themselves.
    model = Sequential([Input(shape=(1,), dtype="string"), chars, Embedding(chars.vocabulary_size(), 16),
                        Bidirectional(LSTM(32)), Dense(len(FILES), activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.array(train_text), y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    test_inputs = np.array(test_text)
    test_accuracy = model.evaluate(test_inputs, y_test, verbose=0)[1]

# Saved, the model keeps its vocabulary (the LSTM's takes words): the loaded one predicts the same.
saved_as = "language_id.keras"
with tempfile.TemporaryDirectory() as tmp:
    model.save(os.path.join(tmp, saved_as))
    loaded = load_model(os.path.join(tmp, saved_as))
    loaded_difference = np.max(np.abs(loaded.predict(test_inputs, verbose=0) - model.predict(test_inputs, verbose=0)))


# Character-bigram naive Bayes: log P(language) + sum of log P(bigram | language), add-one smoothing
# over the bigrams seen in training plus one for any unseen bigram.
def bigrams(word):
    framed = "\0" + word + "\1"
    return [framed[i:i + 2] for i in range(len(framed) - 1)]


counts = [Counter() for _ in FILES]
docs = [0] * len(FILES)
for w, language in train:
    docs[language] += 1
    counts[language].update(bigrams(w))
totals = [sum(c.values()) for c in counts]
v = len(set().union(*counts)) + 1


def predict(word):
    best, best_score = 0, -math.inf
    for language in range(len(FILES)):
        score = math.log(docs[language] / len(train))
        for b in bigrams(word):
            score += math.log((counts[language][b] + 1) / (totals[language] + v))
        if score > best_score:
            best, best_score = language, score
    return best


naive_bayes = sum(predict(w) == language for w, language in test) / len(test)
print(f"train_words={len(train)}\ntest_words={len(test)}\ncharacters={chars.vocabulary_size()}")
print(f"test_accuracy={test_accuracy:.4f}")
print(f"naive_bayes_test_accuracy={naive_bayes:.4f}")
print(f"loaded_prediction_max_difference={loaded_difference:g}")
