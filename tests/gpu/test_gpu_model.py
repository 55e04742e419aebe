"""A model trained with backend="cupy" reaches the accuracy it reaches on NumPy: the digits
MLP (the README's example), same seed, same data, same epochs."""
import numpy as np

from tests.gpu.gpu_support import require_gpu

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
    # the Keras-style API hands out NumPy, whichever backend ran the model
    probs = gpu_model.predict(x_test, batch_size=100)  # several batches, concatenated on the host
    assert isinstance(probs, np.ndarray) and probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(probs, cpu_model.predict(x_test), rtol=1e-3, atol=1e-4)
    assert all(isinstance(w, np.ndarray) for w in gpu_model.get_weights())


def test_a_model_trained_on_the_gpu_saves_and_loads(tmp_path):
    model, _, logs, x_test = _train("cupy")
    path = model.save(tmp_path / "digits.graphc")
    loaded = gc.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x_test), model.predict(x_test), rtol=1e-5, atol=1e-6)
