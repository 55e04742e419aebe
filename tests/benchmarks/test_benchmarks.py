"""The benchmark suite runs end to end at tiny sizes: its RESULT lines parse and every timed
implementation was checked against the NumPy reference first. No timing is asserted — on shared
machines timings are noise; benchmarks/run.py is where they are read."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
RUN = ROOT / "benchmarks" / "run.py"
REQUIRED = ("workload", "impl", "median_ms", "min_ms", "n", "ratio_vs_numpy", "checked")
TINY = ("--quick", "--size-scale", "0.05", "--reps", "3")


def run_suite(*args, timeout=900):
    proc = subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    return proc


def parse(stdout: str, kind="RESULT") -> list[dict]:
    """Each ``KIND key=value ...`` line as a dict (values may be "quoted strings")."""
    rows = []
    for line in stdout.splitlines():
        if not line.startswith(kind + " "):
            continue
        row, rest = {}, line[len(kind) + 1:]
        while rest:
            key, _, rest = rest.partition("=")
            if rest.startswith('"'):
                value, _, rest = rest[1:].partition('"')
            else:
                value, _, rest = rest.partition(" ")
            row[key.strip()] = value
            rest = rest.lstrip()
        rows.append(row)
    return rows


def check_result_rows(rows, reps=3):
    assert rows, "no RESULT lines"
    for row in rows:
        missing = [k for k in REQUIRED if k not in row]
        assert not missing, f"RESULT line without {missing}: {row}"
        median, fastest = float(row["median_ms"]), float(row["min_ms"])
        assert 0 < fastest <= median, row
        assert int(row["n"]) == reps, row
        float(row["ratio_vs_numpy"])
        # the check against the NumPy reference ran before timing
        assert row["checked"] == "reference" or row["checked"].startswith("ok"), row


@pytest.fixture(scope="module")
def no_peer_run():
    """W1-W4 with every peer disabled: what CI (which installs no peers) sees."""
    proc = run_suite("W1", "W2", "W3", "W4", *TINY, "--peers", "none", "--markdown")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


def test_every_result_line_parses_and_was_checked(no_peer_run):
    assert not parse(no_peer_run, "FAIL"), no_peer_run
    check_result_rows(parse(no_peer_run))


def test_numpy_reference_and_graphc_run_for_each_workload(no_peer_run):
    rows = parse(no_peer_run)
    by_workload = {}
    for row in rows:
        by_workload.setdefault(row["workload"], {})[row["impl"]] = row
    assert set(by_workload) == {"W1", "W2", "W3", "W4"}
    reference = {"W1": "numpy-scalar", "W2": "numpy", "W3": "numpy-by-hand", "W4": "numpy-by-hand"}
    for workload, impls in by_workload.items():
        ref = impls[reference[workload]]
        assert ref["checked"] == "reference" and float(ref["ratio_vs_numpy"]) == 1.0
        assert impls["graphc-numpy"]["checked"].startswith("ok")
    assert "bandwidth_fraction" in by_workload["W2"]["graphc-numpy"]
    assert "copy-bandwidth-limit" in by_workload["W2"]
    assert "median_us" in by_workload["W1"]["graphc-numpy"]


def test_the_chain_benchmark_reports_first_result_per_depth(no_peer_run):
    graphc = [r for r in parse(no_peer_run) if r["workload"] == "W4" and r["impl"] == "graphc-numpy"]
    depths = [int(r["depth"]) for r in graphc]
    assert len(depths) >= 2 and len(set(depths)) == len(depths)
    for row in graphc:
        assert float(row["first_result_s"]) > 0


def test_peers_disabled_are_reported_as_skipped(no_peer_run):
    skipped = {(r["workload"], r["impl"]) for r in parse(no_peer_run, "SKIP")}
    assert ("W2", "jax-jit") in skipped and ("W3", "torch-eager") in skipped
    assert all("disabled" in r["reason"] or "skips" in r["reason"] or "not run" in r["reason"]
               or "fast path" in r["reason"] for r in parse(no_peer_run, "SKIP") if "impl" in r)


def test_markdown_table(no_peer_run):
    assert "| workload | impl | median | min | ratio vs NumPy | notes |" in no_peer_run
    assert "Machine: " in no_peer_run and "Command: `python3 benchmarks/run.py W1 W2 W3 W4" in no_peer_run
    assert "| W4 (" in no_peer_run


def test_the_mlp_benchmark_runs_through_the_model_api(no_peer_run):
    """W3 also runs through gc.models.Sequential: its compiled train_function called directly,
    and model.fit on the one batch; both checked against the NumPy step."""
    w3 = {r["impl"]: r for r in parse(no_peer_run) if r["workload"] == "W3"}
    for impl in ("graphc-model-step", "graphc-model-fit"):
        assert impl in w3, sorted(w3)
        assert w3[impl]["checked"].startswith("ok:loss_"), w3[impl]


def test_the_digits_benchmark_runs_end_to_end():
    """W6 at the tiny scale (2 epochs instead of 30; accuracy bar lowered accordingly): the NumPy
    reference and graphc's fit are timed and report their test accuracy; peers (torch, Keras)
    disabled are SKIPs."""
    proc = run_suite("W6", *TINY, "--peers", "none", timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert not parse(proc.stdout, "FAIL"), proc.stdout
    rows = {r["impl"]: r for r in parse(proc.stdout) if r["workload"] == "W6"}
    check_result_rows(list(rows.values()))
    assert set(rows) == {"numpy-by-hand", "graphc-fit"}, proc.stdout
    for row in rows.values():
        assert int(row["epochs"]) < 30 and float(row["cold_fit_s"]) > 0
        assert float(row["accuracy"]) >= 0.8, row
    skipped = {r["impl"]: r["reason"] for r in parse(proc.stdout, "SKIP") if r.get("workload") == "W6"}
    assert set(skipped) == {"torch-eager", "keras-fit"} and all("disabled" in r for r in skipped.values())


def test_unknown_workload_is_a_usage_error():
    proc = run_suite("W9")
    assert proc.returncode == 2 and "unknown workload" in proc.stderr


INSTALLED = [p for p in ("torch", "jax", "pytensor", "numexpr", "numba") if importlib.util.find_spec(p)]


@pytest.mark.skipif(not INSTALLED, reason="no peer (torch, jax, pytensor, numexpr, numba) installed")
def test_installed_peers_are_checked_and_timed():
    """With whatever peers this machine has, W1 and W2 run them: each gives a checked RESULT
    (or a SKIP saying why), never a FAIL (a wrong answer or a broken benchmark)."""
    proc = run_suite("W1", "W2", *TINY)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert not parse(proc.stdout, "FAIL"), proc.stdout
    rows = parse(proc.stdout)
    check_result_rows(rows)
    impls = {r["impl"] for r in rows}
    if "jax" in INSTALLED:
        assert "jax-jit" in impls
    if "torch" in INSTALLED:
        assert "torch-eager" in impls
