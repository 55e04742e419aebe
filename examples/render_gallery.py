"""Render one graph at every stage: the source graph, its gradient, and the optimized
compiled function, side by side in a folder."""
import pathlib
import sys

import graphc as gc

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "gallery")
out.mkdir(parents=True, exist_ok=True)

x = gc.placeholder((None, 4), name="x")
w = gc.variable([[0.1] * 3] * 4, name="w")
bias = gc.variable([0.0, 0.0, 0.0], name="bias")
y = gc.placeholder((None, 3), name="y")
prediction = gc.sigmoid(x @ w + bias)
loss = gc.reduce_mean(gc.square(prediction - y))
grads = gc.grad(loss, [w, bias])
step = gc.function([x, y], loss, updates=[(w, w - 0.1 * grads[0]), (bias, bias - 0.1 * grads[1])])

paths = [
    gc.render(loss, out / "1_source.svg"),
    gc.render([loss] + grads, out / "2_gradient.svg"),
    gc.render(step, out / "3_optimized.svg"),
    gc.render(step, out / "3_optimized.png"),
]
print(step.explain())
print("wrote:", *paths, sep="\n  ")
