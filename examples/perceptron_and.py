"""Rosenblatt's perceptron learns the AND gate, worked sample by sample as in the seed.

Bias as w0 with x0 = 1, weights starting at 0, learning rate 1, Heaviside output with
f(0) = 1, and after every sample w ← w + α (target − output) x. The table lists each sample
as it is seen: its inputs, the target, the output, the error and the weights after the
update. Training stops after the first epoch without an error.

    python examples/perceptron_and.py
"""
import graphc as gc

x, y = gc.datasets.and_gate()
perceptron = gc.models.Perceptron(learning_rate=1.0).fit(x, y, epochs=20)

print("AND gate, Rosenblatt's rule, w = (w0, w1, w2) starting at 0, α = 1:\n")
print(perceptron.iteration_table())
print()
print(f"errors per epoch: {perceptron.errors_}")
print(f"converged after {len(perceptron.errors_)} epochs: w = {perceptron.weights.tolist()}")
print(f"decision: {perceptron.weights[1]:g}·x1 + {perceptron.weights[2]:g}·x2 {perceptron.weights[0]:+g} ≥ 0")
for xi, prediction in zip(x, perceptron.predict(x)):
    print(f"  AND{tuple(int(v) for v in xi)} = {prediction}")
