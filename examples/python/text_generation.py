#!/usr/bin/python3
"""Keras's classic character-level text generator (lstm_text_generation), trained on the Constitution
of the United States (public domain), from Debian's package miscfiles:
/usr/share/state/us-constitution.gz (scripts/setup.sh installs it; --data PATH reads another gzip or
plain text file). The Python twin of examples/text_generation.cpp.

The text is lowercased and each run of whitespace becomes one space (its line breaks are layout), so a
sample is one line. Every 3rd position starts a 40-character window, whose next character is the
target: Embedding(32) -> LSTM(64) -> Dense(characters, softmax), Adam. After each epoch, from a
40-character prompt taken from the text at a seeded place, it writes 120 characters at temperatures
0.5 and 1.0 (the predicted distribution raised to the power 1/T and renormalised).

Figures: loss_epochN per epoch, and (text, not numbers) prompt_epochN, sample_epochN_t0.5 and
sample_epochN_t1.0."""
import argparse
import gzip

import numpy as np

from myelin.layers import LSTM, Dense, Embedding
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(
    description="A character-level LSTM that writes like the U.S. Constitution, sampled after each epoch.")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default="/usr/share/state/us-constitution.gz", help="gzip or plain text file")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)

WINDOW, STEP, SAMPLE_LENGTH = 40, 3, 120

try:
    with open(args.data, "rb") as f:
        raw = f.read()
except OSError as e:
    raise SystemExit(f"cannot read {args.data} (Debian: apt install miscfiles): {e}")
if raw[:2] == b"\x1f\x8b":
    raw = gzip.decompress(raw)
# Lowercase ASCII, whitespace runs as one space (C's isspace: space, \t \n \v \f \r).
text = " ".join(raw.decode("latin-1").lower().split())
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
ids = np.array([index[c] for c in text], dtype=np.int64)
starts = np.arange(0, len(text) - WINDOW, STEP)
x = np.stack([ids[s:s + WINDOW] for s in starts])
y = ids[starts + WINDOW].astype(np.float32)
print(f"text_characters={len(text)}\ncharacters={len(chars)}\nwindows={len(starts)}")

set_random_seed(args.seed)
model = Sequential([Embedding(len(chars), 32, input_shape=(WINDOW,)), LSTM(64),
                    Dense(len(chars), activation="softmax")])
model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(args.seed)


def sample(p, temperature):
    """An index drawn from p raised to 1/temperature and renormalised."""
    w = np.exp(np.log(np.maximum(p.astype(np.float64), 1e-12)) / temperature)
    return int(rng.choice(len(w), p=w / w.sum()))


for epoch in range(1, args.epochs + 1):
    history = model.fit(x, y, epochs=epoch, initial_epoch=epoch - 1, batch_size=args.batch_size,
                        verbose=args.verbose)
    print(f"loss_epoch{epoch}={history.history['loss'][-1]:.4f}")
    start = int(rng.integers(len(text) - WINDOW))
    prompt = text[start:start + WINDOW]
    print(f"prompt_epoch{epoch}={prompt}")
    for temperature in (0.5, 1.0):
        window, generated = prompt, ""
        for _ in range(SAMPLE_LENGTH):
            p = model.predict(np.array([[index[c] for c in window]]), batch_size=1, verbose=0)[0]
            generated += chars[sample(p, temperature)]
            window = window[1:] + generated[-1]
        print(f"sample_epoch{epoch}_t{temperature:.1f}={generated}", flush=True)
