"""XOR: a perceptron cannot learn it (no straight line separates its classes), a
multi-layer perceptron can.

    python examples/xor_mlp.py          # 100 perceptron epochs, 300 MLP epochs
"""
import sys

import numpy as np

import graphc as gc

mlp_epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
x, y = gc.datasets.xor()

# 1. Rosenblatt's perceptron never gets through an epoch without an error.
perceptron = gc.models.Perceptron(learning_rate=1.0).fit(x, y, epochs=100)
print(f"perceptron: errors in the last 5 of {len(perceptron.errors_)} epochs: {perceptron.errors_[-5:]}")
print(f"perceptron predicts {perceptron.predict(x).tolist()} for targets {y.tolist()}: "
      f"accuracy {np.mean(perceptron.predict(x) == y):.2f}")

# 2. One hidden layer of tanh units bends the decision boundary.
model = gc.models.Sequential([
    gc.layers.Dense(8, activation="tanh", input_shape=(2,)),
    gc.layers.Dense(1, activation="sigmoid"),
], seed=0)
model.compile(optimizer=gc.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
              metrics=["accuracy"])
history = model.fit(x, y, epochs=mlp_epochs, batch_size=4, verbose=0)
probabilities = model.predict(x)[:, 0]
predictions = (probabilities > 0.5).astype(int)
print(f"MLP 2-8-1 after {mlp_epochs} epochs: loss {history.history['loss'][-1]:.4f}, "
      f"accuracy {history.history['accuracy'][-1]:.2f}")
for xi, p, yhat in zip(x, probabilities, predictions):
    print(f"  XOR{tuple(int(v) for v in xi)}: p = {p:.3f} → {yhat}")
print(f"MLP predicts {predictions.tolist()} for targets {y.tolist()}")
