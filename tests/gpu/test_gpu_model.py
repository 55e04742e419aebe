"""A model trained with backend="cupy" reaches the accuracy it reaches on NumPy: the digits
MLP (the README's example), same seed, same data, same epochs."""
import numpy as np

from gpu_support import require_gpu

require_gpu()

import cupy  # noqa: E402

import graphc as gc  # noqa: E402


def _train(backend):
    x, y = gc.datasets.load_digits()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = gc.data.train_val_test_split(x, y, seed=0)
    x_train, mean, std = gc.data.standardize(x_train)
    x_test, _, _ = gc.data.standardize(x_test, mean, std)
    model = gc.models.Sequential([gc.layers.Input(shape=(64,)), gc.layers.Dense(128, activation="relu"),
                                  gc.layers.Dense(10)], name="digits", seed=0)
    model.compile(optimizer=gc.optimizers.Adam(1e-3),
                  loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  backend=backend)
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    logs = model.evaluate(x_test, y_test, return_dict=True)
    return model, history, logs, x_test


def test_digits_mlp_on_the_gpu_matches_numpy():
    cpu_model, cpu_history, cpu_logs, _ = _train("numpy")
    gpu_model, gpu_history, gpu_logs, x_test = _train("cupy")
    assert gpu_logs["accuracy"] >= cpu_logs["accuracy"] - 0.01, (gpu_logs, cpu_logs)
    assert gpu_logs["accuracy"] >= 0.95
    # the same seed and data: the loss curves agree to float32 rounding
    np.testing.assert_allclose(gpu_history.history["loss"], cpu_history.history["loss"], rtol=2e-3)
    assert all(isinstance(w.value, cupy.ndarray) for w in gpu_model.weights)  # weights stayed on the device
    probs = gpu_model.predict(x_test[:500], batch_size=500)
    assert isinstance(probs, cupy.ndarray) and probs.shape == (500, 10)
