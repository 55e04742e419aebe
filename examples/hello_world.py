"""The "hello world" of neural networks (the seed's Keras example): one Dense unit learns
y = 2x - 1 from six points with stochastic gradient descent on the mean squared error.

    python examples/hello_world.py            # 500 epochs, as the seed
    python examples/hello_world.py 100        # fewer epochs (the test suite's quick run)
"""
import sys

import numpy as np

import graphc as gc

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 500

xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32)
ys = np.array([-3.0, -1.0, 1.0, 3.0, 5.0, 7.0], dtype=np.float32)   # y = 2x - 1

model = gc.models.Sequential([gc.layers.Dense(units=1, input_shape=[1])], seed=0)
model.compile(optimizer="sgd", loss="mean_squared_error")
history = model.fit(xs, ys, epochs=epochs, verbose=0)

prediction = float(model.predict(np.array([10.0]))[0, 0])
kernel, bias = model.get_weights()
print(f"loss after {epochs} epochs: {history.history['loss'][-1]:.6f}")
sign = "-" if bias[0] < 0 else "+"
print(f"learned: y = {kernel[0, 0]:.4f} x {sign} {abs(bias[0]):.4f}   (truth: y = 2x - 1)")
print(f"model.predict([10.0]) = {prediction:.4f}   (truth: 19)")
