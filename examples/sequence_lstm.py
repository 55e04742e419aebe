"""An LSTM learns a synthetic sentiment task, built offline, where word order matters.

A "review" is 20 word ids from a vocabulary of 30: id 0 is padding (unused here), id 1 is
"not", ids 2-7 are positive words, 8-13 negative words, 14-29 neutral ones. Its score adds
+1 for each positive and −1 for each negative word, except that a word right after "not"
counts with the opposite sign ("not good" is negative); the label is 1 when the score is
positive (reviews scoring 0 are not generated). A bag-of-words model cannot see which word
follows "not"; the recurrent model reads the words in order:

    Embedding(30, 16) → LSTM(32) → Dense(1, sigmoid),  binary cross-entropy, Adam (1e-2)

Prints the summary, the LSTM's test accuracy (≥ 95 %) beside a bag-of-words logistic
regression's on the same data, and checks that the saved model predicts identically after
loading.

    python examples/sequence_lstm.py                         # 4000 reviews, 20 epochs
    python examples/sequence_lstm.py --samples 1500 --epochs 8
"""
import argparse
import os
import time

import numpy as np

import graphc as gc

STEPS, VOCABULARY = 20, 30
NOT = 1
POSITIVE, NEGATIVE, NEUTRAL = (2, 8), (8, 14), (14, VOCABULARY)   # [low, high) id ranges

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--samples", type=int, default=4000, help="training reviews (10 %% of them for validation)")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--out", default=".", help="directory for sequence_lstm.npz")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0, 1 (progress bar) or 2")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)


def score(review) -> int:
    """+1 per positive word, −1 per negative word, the sign flipped right after "not"."""
    total = 0
    for t, word in enumerate(review):
        sign = 1 if POSITIVE[0] <= word < POSITIVE[1] else -1 if NEGATIVE[0] <= word < NEGATIVE[1] else 0
        if t > 0 and review[t - 1] == NOT:
            sign = -sign
        total += sign
    return total


def reviews(n, rng):
    """n reviews (int64, (n, STEPS)) and their labels; about 60 % neutral words, 10 % "not"."""
    xs, ys = [], []
    while len(xs) < n:
        review = rng.integers(POSITIVE[0], NEGATIVE[1], size=STEPS)        # sentiment words
        neutral = rng.random(STEPS) < 0.6
        review[neutral] = rng.integers(*NEUTRAL, size=int(neutral.sum()))
        review[rng.random(STEPS) < 0.1] = NOT
        s = score(review)
        if s != 0:
            xs.append(review)
            ys.append(int(s > 0))
    return np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)


rng = np.random.default_rng(0)
x_train, y_train = reviews(args.samples, rng)
x_test, y_test = reviews(1000, rng)
print(f"train {x_train.shape} (positive {y_train.mean():.2f}), test {x_test.shape}; "
      f"e.g. {x_train[0].tolist()} -> score {score(x_train[0])}, label {y_train[0]}")

layers = gc.layers
model = gc.models.Sequential([
    layers.Input(shape=(STEPS,)),
    layers.Embedding(VOCABULARY, 16),
    layers.LSTM(32),
    layers.Dense(1, activation="sigmoid"),
], name="sentiment_lstm", seed=0)
model.summary()
model.compile(optimizer=gc.optimizers.Adam(learning_rate=1e-2), loss="binary_crossentropy", metrics=["accuracy"])
start = time.perf_counter()
history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, validation_split=0.1,
                    verbose=args.verbose)
seconds = time.perf_counter() - start
print(f"fit: {len(history.epoch)} epochs in {seconds:.2f} s (the LSTM unrolled over {STEPS} steps in one "
      "compiled training step)")
test_loss, test_accuracy = model.evaluate(x_test, y_test)
print(f"LSTM: test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")


def bag_of_words(x):
    """Word counts per review (order forgotten)."""
    counts = np.zeros((len(x), VOCABULARY), np.float32)
    np.add.at(counts, (np.arange(len(x))[:, None], x), 1.0)
    return counts


baseline = gc.models.Sequential([layers.Input(shape=(VOCABULARY,)), layers.Dense(1, activation="sigmoid")],
                                name="bag_of_words", seed=0)
baseline.compile(optimizer=gc.optimizers.Adam(learning_rate=1e-2), loss="binary_crossentropy",
                 metrics=["accuracy"])
baseline.fit(bag_of_words(x_train), y_train, epochs=args.epochs, batch_size=64, verbose=0)
_, bow_accuracy = baseline.evaluate(bag_of_words(x_test), y_test)
print(f"bag-of-words logistic regression: test accuracy {bow_accuracy:.4f} (cannot tell 'not good' from 'good')")

path = model.save(os.path.join(args.out, "sequence_lstm.npz"))
reloaded = gc.models.load_model(path)
assert np.array_equal(reloaded.predict(x_test), model.predict(x_test))
print(f"saved to {path} (reloaded: identical predictions)")
