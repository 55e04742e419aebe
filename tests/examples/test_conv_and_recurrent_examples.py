"""The convolutional and recurrent examples run, in reduced form (fewer epochs / samples, so a
lower bar than the full runs' 98 % and 95 %), and show what they promise."""
import importlib.util
import pathlib
import re
import subprocess
import sys

EXAMPLES = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "pyproject.toml").is_file()) / "examples"


def run(script, *args, cwd):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args, "--verbose", "0"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_digits_cnn_reduced(tmp_path):
    out = run("digits_cnn.py", "--epochs", "12", "--out", str(tmp_path), cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert accuracy >= 0.93, out
    assert re.search(r"conv2d \(Conv2D\) +│ \(None, 8, 8, 32\) +│ +320 │", out), out
    assert re.search(r"batch_normalization +│ \(None, 8, 8, 32\) +│ +128 │", out), out
    assert "(reloaded: identical predictions)" in out and (tmp_path / "digits_cnn.npz").exists()
    matrix = [line for line in out.splitlines() if re.match(r"\s+\d:\s", line)]
    assert len(matrix) == 10 and sum(int(n) for line in matrix for n in line.split()[1:]) == 270


def test_sequence_lstm_reduced(tmp_path):
    out = run("sequence_lstm.py", "--samples", "2000", "--epochs", "10", "--out", str(tmp_path), cwd=tmp_path)
    accuracy = float(re.search(r"LSTM: test loss \S+, test accuracy (\d\.\d+)", out).group(1))
    bag = float(re.search(r"bag-of-words logistic regression: test accuracy (\d\.\d+)", out).group(1))
    assert accuracy >= 0.9 and accuracy > bag + 0.05, out
    assert re.search(r"lstm \(LSTM\) +│ \(None, 32\) +│ +6,272 │", out), out
    assert re.search(r"embedding \(Embedding\) +│ \(None, 20, 16\) +│ +480 │", out), out
    assert "(reloaded: identical predictions)" in out


def test_the_cnn_benchmark_checks_graphc_against_the_numpy_step():
    """W5 at a tiny batch: every implementation that runs agrees with the hand-written NumPy
    step (loss and weights after one SGD step) before it is timed; no timing is asserted."""
    root = EXAMPLES.parent
    peers = "torch" if importlib.util.find_spec("torch") else "none"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "run.py"), "W5", "--quick", "--size-scale",
                           "0.05", "--reps", "3", "--peers", peers], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "FAIL" not in proc.stdout, proc.stdout + proc.stderr
    results = {m.group(1): m.group(2) for m in re.finditer(r"^RESULT workload=W5 impl=(\S+) .* checked=(\S+)",
                                                            proc.stdout, re.M)}
    assert results["numpy-im2col"] == "reference"
    for impl in ("graphc-numpy", "graphc-model") + (("torch-eager",) if peers == "torch" else ()):
        assert results[impl].startswith("ok:loss_"), proc.stdout
