"""The runnable examples run and print what they promise."""
import pathlib
import subprocess
import sys

EXAMPLES = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "pyproject.toml").is_file()) / "examples"


def _run(script, *args, cwd):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quickstart(tmp_path):
    out = _run("quickstart.py", str(tmp_path), cwd=tmp_path)
    assert "[21.0, 7.0, 3.0]" in out and "def fn_graph_fn" in out
    assert (tmp_path / "quickstart_h.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_linear_regression_closed_form_and_gradient_descent_agree(tmp_path):
    out = _run("linear_regression.py", cwd=tmp_path)
    closed = [line for line in out.splitlines() if line.startswith("closed form")][0]
    descent = [line for line in out.splitlines() if line.startswith("gradient descent")][0]
    assert closed.split(":")[1].split() == descent.split(":")[1].split()


def test_render_gallery_writes_every_stage(tmp_path):
    _run("render_gallery.py", str(tmp_path / "g"), cwd=tmp_path)
    for name in ["1_source.svg", "2_gradient.svg", "3_optimized.svg", "3_optimized.png"]:
        assert (tmp_path / "g" / name).stat().st_size > 1000, name
