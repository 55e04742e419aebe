"""Handwritten digits (8×8, 1797 images) with a multi-layer perceptron, end to end:
train/validation/test split 70/15/15, standardization with the training set's statistics,
an MLP 64-128-64-10 (ReLU, softmax), Adam (learning rate 1e-3), mini-batches of 32, early
stopping on the validation loss, then the test accuracy and the confusion matrix. Saves
the trained model, and a PNG of the loss/accuracy curves when matplotlib is installed.

    python examples/digits_mlp.py                       # up to 100 epochs, files in ./
    python examples/digits_mlp.py --epochs 20 --out DIR
"""
import argparse
import os
import time

import numpy as np

import graphc as gc

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=100, help="most epochs (early stopping ends sooner)")
parser.add_argument("--out", default=".", help="directory for digits_mlp.npz and digits_mlp_curves.png")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0, 1 (progress bar) or 2")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

# data: 70 % train, 15 % validation, 15 % test; standardized with the training statistics
x, y = gc.datasets.load_digits()
(x_train, y_train), (x_val, y_val), (x_test, y_test) = gc.data.train_val_test_split(x, y, seed=0)
x_train, mean, std = gc.data.standardize(x_train)
x_val, _, _ = gc.data.standardize(x_val, mean, std)
x_test, _, _ = gc.data.standardize(x_test, mean, std)
print(f"train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}")

model = gc.models.Sequential([
    gc.layers.Input(shape=(64,)),
    gc.layers.Dense(128, activation="relu"),
    gc.layers.Dense(64, activation="relu"),
    gc.layers.Dense(10, activation="softmax"),
], name="digits_mlp", seed=0)
model.summary()
model.compile(optimizer=gc.optimizers.Adam(learning_rate=1e-3),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])

early_stopping = gc.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True,
                                            verbose=1)
start = time.perf_counter()
history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_val, y_val),
                    callbacks=[early_stopping], verbose=args.verbose)
seconds = time.perf_counter() - start
print(f"fit: {len(history.epoch)} epochs in {seconds:.2f} s "
      f"(training step compiled for {len(model.train_function._cache)} batch shapes)")

test_loss, test_accuracy = model.evaluate(x_test, y_test)
predicted = model.predict(x_test).argmax(axis=1)
print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
print("confusion matrix (rows: true digit, columns: predicted digit):")
matrix = gc.metrics.confusion_matrix(y_test, predicted, num_classes=10)
print("      " + " ".join(f"{d:>3}" for d in range(10)))
for digit, row in enumerate(matrix):
    print(f"  {digit}:  " + " ".join(f"{n:>3}" for n in row))
print(f"macro F1 {gc.metrics.f1_score(y_test, predicted, average='macro'):.4f}")

path = model.save(os.path.join(args.out, "digits_mlp.npz"))
reloaded = gc.models.load_model(path)
assert np.array_equal(reloaded.predict(x_test), model.predict(x_test))
print(f"saved to {path} (reloaded: identical predictions)")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot of the curves")
else:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [e + 1 for e in history.epoch]
    for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        ax.plot(epochs, history.history[key], label="training")
        ax.plot(epochs, history.history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.suptitle(f"digits MLP: test accuracy {test_accuracy:.4f}")
    png = os.path.join(args.out, "digits_mlp_curves.png")
    fig.savefig(png, dpi=100, bbox_inches="tight")
    print(f"curves saved to {png}")
