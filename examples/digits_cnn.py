"""Handwritten digits (8×8, 1797 images) with a small convolutional network: the images as
(N, 8, 8, 1) arrays, pixels scaled to [0, 1], train/validation/test split 70/15/15, then

    Conv2D(32, 3×3, same, ReLU) → BatchNormalization → MaxPooling2D(2)
    → Conv2D(64, 3×3, same, ReLU) → BatchNormalization → MaxPooling2D(2)
    → Flatten → Dropout(0.25) → Dense(10, softmax)

trained with Adam (1e-3), mini-batches of 32, early stopping on the validation loss (best
weights restored). Prints the summary, the test accuracy (≥ 98 %), the confusion matrix, and
checks that the saved model predicts identically after loading.

    python examples/digits_cnn.py                   # up to 60 epochs (early stopping ends sooner)
    python examples/digits_cnn.py --epochs 10 --out DIR
"""
import argparse
import os
import time

import numpy as np

import graphc as gc

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=60, help="most epochs (early stopping ends sooner)")
parser.add_argument("--out", default=".", help="directory for digits_cnn.npz")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0, 1 (progress bar) or 2")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

x, y = gc.datasets.load_digits()
images = (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)      # NHWC: one channel
(x_train, y_train), (x_val, y_val), (x_test, y_test) = gc.data.train_val_test_split(images, y, seed=0)
print(f"train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}")

layers = gc.layers
model = gc.models.Sequential([
    layers.Input(shape=(8, 8, 1)),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.BatchNormalization(),
    layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, padding="same", activation="relu"),
    layers.BatchNormalization(),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dropout(0.25),
    layers.Dense(10, activation="softmax"),
], name="digits_cnn", seed=0)
model.summary()
model.compile(optimizer=gc.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])

early_stopping = gc.callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True, verbose=1)
start = time.perf_counter()
history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_val, y_val),
                    callbacks=[early_stopping], verbose=args.verbose)
seconds = time.perf_counter() - start
print(f"fit: {len(history.epoch)} epochs in {seconds:.2f} s "
      f"(one compiled training step: forward, loss, gradients, Adam and the batch-norm moving statistics)")

test_loss, test_accuracy = model.evaluate(x_test, y_test)
predicted = model.predict(x_test).argmax(axis=1)
print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
print("confusion matrix (rows: true digit, columns: predicted digit):")
matrix = gc.metrics.confusion_matrix(y_test, predicted, num_classes=10)
print("      " + " ".join(f"{d:>3}" for d in range(10)))
for digit, row in enumerate(matrix):
    print(f"  {digit}:  " + " ".join(f"{n:>3}" for n in row))

path = model.save(os.path.join(args.out, "digits_cnn.npz"))
reloaded = gc.models.load_model(path)
assert np.array_equal(reloaded.predict(x_test), model.predict(x_test))
print(f"saved to {path} (reloaded: identical predictions)")
