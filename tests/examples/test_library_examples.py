"""The deep-learning examples run and show what they promise (reduced where they are long)."""
import importlib.util
import pathlib
import re
import subprocess
import sys

EXAMPLES = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "pyproject.toml").is_file()) / "examples"


def run(script, *args, cwd):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_perceptron_and_prints_the_iteration_table(tmp_path):
    out = run("perceptron_and.py", cwd=tmp_path)
    rows = [line.split() for line in out.splitlines() if re.fullmatch(r"\s*\d+(\s+-?\d+){8}\s*", line)]
    assert len(rows) == 24
    assert rows[0] == ["1", "0", "0", "0", "1", "-1", "-1", "0", "0"]
    assert rows[3] == ["1", "1", "1", "1", "0", "1", "0", "1", "1"]
    assert rows[-1] == ["6", "1", "1", "1", "1", "0", "-3", "2", "1"]
    assert "errors per epoch: [2, 3, 3, 2, 1, 0]" in out
    assert "w = [-3.0, 2.0, 1.0]" in out and "AND(1, 1) = 1" in out


def test_hello_world_predicts_19(tmp_path):
    out = run("hello_world.py", cwd=tmp_path)   # the full 500 epochs take well under a second
    prediction = float(re.search(r"model.predict\(\[10.0\]\) = (\S+)", out).group(1))
    assert abs(prediction - 19) < 0.1


def test_xor_perceptron_fails_and_mlp_succeeds(tmp_path):
    out = run("xor_mlp.py", "200", cwd=tmp_path)
    assert "perceptron predicts" in out and "accuracy 0.50" in out
    assert "MLP predicts [0, 1, 1, 0] for targets [0, 1, 1, 0]" in out


def test_digits_mlp_reaches_97_percent(tmp_path):
    out = run("digits_mlp.py", "--out", str(tmp_path / "out"), cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert accuracy >= 0.97, out
    assert "early stopping" in out or "Epoch 100/100" in out
    assert "confusion matrix (rows: true digit, columns: predicted digit):" in out
    matrix = [line for line in out.splitlines() if re.match(r"\s+\d:\s", line)]
    assert len(matrix) == 10
    assert sum(int(n) for line in matrix for n in line.split()[1:]) == 270
    assert (tmp_path / "out" / "digits_mlp.npz").exists()
    png = tmp_path / "out" / "digits_mlp_curves.png"
    if importlib.util.find_spec("matplotlib") is None:
        assert not png.exists() and "matplotlib is not installed" in out
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
