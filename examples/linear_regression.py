"""Linear regression two ways, as the seed teaches: the closed form W = pinv(X) y, and
gradient descent on the mean squared error with a compiled update step."""
import numpy as np

import graphc as gc

rng = np.random.default_rng(0)
x_data = rng.uniform(-2, 2, size=(200, 1))
y_data = 2.0 * x_data[:, 0] - 1.0 + rng.normal(scale=0.1, size=200)   # y = 2x - 1 + noise

# 1. Closed form: prepend a column of ones for the bias, W = pinv(X) @ y
X = gc.placeholder((None, 2), "float64", name="X")
y = gc.placeholder((None,), "float64", name="y")
W = gc.linalg.pinv(X) @ y
design = np.hstack([np.ones((len(x_data), 1)), x_data])
b_closed, w_closed = gc.function([X, y], W)(design, y_data)
print(f"closed form:       w = {w_closed:.4f}, b = {b_closed:.4f}")

# 2. Gradient descent: the whole step (loss, gradients, update) is one compiled graph
x = gc.placeholder((None,), "float64", name="x")
w = gc.variable(0.0, dtype="float64", name="w")
b = gc.variable(0.0, dtype="float64", name="b")
loss = gc.reduce_mean(gc.square(w * x + b - y))
gw, gb = gc.grad(loss, [w, b])
learning_rate = 0.1
step = gc.function([x, y], loss, updates=[(w, w - learning_rate * gw), (b, b - learning_rate * gb)])
for epoch in range(200):
    mse = step(x_data[:, 0], y_data)
    if epoch % 50 == 0:
        print(f"epoch {epoch:3d}: mse {float(mse):.5f}")
print(f"gradient descent:  w = {float(w.value):.4f}, b = {float(b.value):.4f}")
assert abs(float(w.value) - w_closed) < 1e-3 and abs(float(b.value) - b_closed) < 1e-3
