#!/usr/bin/python3
"""Training from files instead of memory: the Fashion-MNIST perceptron of mlp_fashion_mnist.py, fed
by myelin.data.IdxDataset, which maps the raw IDX files and reads each batch's rows on a background
thread while the previous batch trains. The same script runs data-parallel with
`mpirun -np 2 python3 out_of_core_fashion_mnist.py`: each rank trains on its half of every batch.

The .gz files of Debian's dataset-fashion-mnist (or of --data / $MYELIN_FASHION_MNIST_DIR) are
decompressed once into a temporary folder (a memory map needs the raw bytes). Prints Keras's one line
per epoch, then its figures.
"""
import argparse
import os
import shutil
import tempfile

from myelin import distributed
from myelin.data import IdxDataset, gunzip_file
from myelin.layers import Dense, Flatten
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed


def peak_rss_mib():
    """Peak resident memory of this process (Linux), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return 0.0


parser = argparse.ArgumentParser(description="Fashion-MNIST perceptron trained from memory-mapped IDX files.")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the .gz IDX files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)

source = args.data or os.environ.get("MYELIN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
# One folder per rank: ranks may share a machine, and each writes its own copy.
raw = tempfile.mkdtemp(prefix=f"myelin-fashion-mnist-{distributed.rank()}-")
try:
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        gunzip_file(os.path.join(source, name + ".gz"), os.path.join(raw, name))

    # Rows are 28x28 bytes scaled to [0, 1]; labels are class indices 0..9.
    train = IdxDataset(os.path.join(raw, "train-images-idx3-ubyte"), os.path.join(raw, "train-labels-idx1-ubyte"))
    test = IdxDataset(os.path.join(raw, "t10k-images-idx3-ubyte"), os.path.join(raw, "t10k-labels-idx1-ubyte"))

    model = Sequential([
        Flatten(input_shape=(28, 28)),
        Dense(32, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)

    # Every rank evaluates its share of the test rows; the results combine all of them.
    test_loss, test_accuracy = model.evaluate(test, batch_size=1024, verbose=0)
    # predict on a dataset returns the outputs of every row, in file order.
    probabilities = model.predict(test, batch_size=1024)
finally:
    shutil.rmtree(raw, ignore_errors=True)

if distributed.is_primary():
    print(f"ranks={distributed.size()}")
    print(f"test_accuracy={test_accuracy:.4f}")
    print(f"test_loss={test_loss:.4f}")
    print(f"predicted_rows={len(probabilities)}")
    print(f"peak_rss_mib={peak_rss_mib():.1f}")
