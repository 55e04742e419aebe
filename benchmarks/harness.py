"""The shared measuring machinery of the benchmark suite (see benchmarks/README.md).

Every implementation of a workload goes through ``Context.bench``:

    build()            -> a zero-argument callable doing one unit of work and returning its output
    check(output)      -> compares that output with the NumPy reference (raises on mismatch)
    warm-up, then ``reps`` timed repetitions back to back with time.perf_counter
    print one line:  RESULT workload=W2 impl=graphc-numpy median_ms=... min_ms=... n=... ratio_vs_numpy=...

A peer that is not installed (or cannot work here) prints a ``SKIP`` line with the reason; one that
raises or computes a wrong answer prints a ``FAIL`` line and is never timed. Ratios are taken
against the reference implementation (eager NumPy) of the same workload, measured in the same run.
"""
from __future__ import annotations

import dataclasses
import functools
import gc as pygc
import importlib
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np

PEERS = ("torch", "jax", "pytensor", "numexpr", "numba")


class Skip(Exception):
    """An implementation that cannot run on this machine (peer missing, backend unusable, ...)."""


# -- peers -------------------------------------------------------------------------------------

_peer_cache: dict[str, object] = {}


def import_peer(name: str, enabled: set):
    """The peer's module, or Skip with the reason it is not usable."""
    if name not in enabled:
        raise Skip(f"{name} disabled (--peers)")
    if name not in _peer_cache:
        try:
            _peer_cache[name] = importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising anything else
            _peer_cache[name] = Skip(f"{name} not installed ({type(exc).__name__}: {exc})")
    mod = _peer_cache[name]
    if isinstance(mod, Skip):
        raise mod
    return mod


def peer_versions(enabled: set) -> dict:
    """{peer: version or None (not installed)} without importing heavy modules twice."""
    from importlib import metadata
    out = {}
    for name in PEERS:
        if name not in enabled:
            out[name] = "disabled"
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# -- machine description -------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        match = re.search(r"^Model name:\s*(.+)$", text, re.M)
        if match:
            return match.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def blas_threads() -> str:
    """The BLAS thread setting as found (never forced), and the core type OpenBLAS chose: env
    variables, and threadpoolctl's view."""
    env = ", ".join(f"{k}={os.environ[k]}" for k in
                    ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")
                    if k in os.environ)
    parts = [env or "OPENBLAS_NUM_THREADS unset"]
    try:
        import threadpoolctl
        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas" and "numpy" in (info.get("filepath") or ""):
                parts.append(f"{info.get('internal_api')} {info.get('version')} "
                             f"num_threads={info.get('num_threads')} core={info.get('architecture')}")
                break
    except Exception:  # threadpoolctl is optional
        pass
    return "; ".join(parts)


def simd_level() -> str:
    """The widest x86 vector extension the CPU reports (what BLAS kernels and NumPy's loops
    can use), or the machine's architecture elsewhere."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        flags = []
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2")):
        if flag in flags:
            return name
    return platform.machine()


@functools.lru_cache(maxsize=None)
def _cpu_line() -> str:
    """The CPU and its SIMD level, on every RESULT line: ratios from different machines differ."""
    return f"{cpu_model()} {simd_level()}".replace('"', "'")


def machine_description() -> str:
    return (f"{cpu_model()} ({simd_level()}), {cpu_count()} cores; Python {platform.python_version()}, "
            f"NumPy {np.__version__}; BLAS: {blas_threads()}")


def load_average() -> str:
    """The 1-minute load average: other processes on a shared machine skew the timings."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (OSError, AttributeError):
        return "unknown"


# -- results ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    workload: str
    impl: str
    median_s: float
    min_s: float
    n: int
    ratio: float | None
    extra: dict
    checked: str
    group: str          # what the ratio is taken against: workload, or workload + depth
    label: str          # the workload column of the table (e.g. "W4 (200 layers)")


@dataclasses.dataclass
class Outcome:
    """A SKIP or FAIL: an implementation that was not timed, and why."""
    kind: str
    workload: str
    label: str          # the workload as the table shows it (e.g. "W4 (200 layers)")
    impl: str
    reason: str
    is_graphc: bool


def fmt_num(x: float) -> str:
    if x == 0 or not np.isfinite(x):
        return repr(float(x))
    return f"{x:.4g}" if abs(x) >= 1e-3 else f"{x:.4e}"


def quote(text: str) -> str:
    text = " ".join(str(text).split())
    return '"' + text.replace('"', "'")[:300] + '"'


class Context:
    """Options of the run, and the results gathered so far."""

    def __init__(self, reps=10, quick=False, scale=1.0, backend="numpy", peers=PEERS, slow=False,
                 impls=None, verbose=False, explicit_scale=None):
        self.reps = reps
        self.quick = quick
        self.scale = scale
        self.explicit_scale = explicit_scale   # --size-scale as given (None: not given)
        self.backend = backend
        self.peers = set(peers)
        self.slow = slow
        self.impls = set(impls) if impls else None
        self.verbose = verbose
        self.results: list[Result] = []
        self.outcomes: list[Outcome] = []
        self._reference: dict[str, float] = {}      # group -> the reference's median
        if backend == "cupy":
            try:
                import cupy
            except ImportError as exc:
                raise SystemExit(f"--backend cupy: CuPy is not installed ({exc})")
            self.xp = cupy
            self.sync = cupy.cuda.Device().synchronize
        else:
            self.xp = np
            self.sync = None

    # -- helpers for workloads ---------------------------------------------------------------------
    def peer(self, name):
        return import_peer(name, self.peers)

    def scaled(self, n: int, minimum: int = 1) -> int:
        return max(minimum, int(round(n * self.scale)))

    def to_host(self, value):
        """A backend array (NumPy or CuPy) as a NumPy array."""
        if hasattr(value, "detach"):               # a torch tensor (CPU or CUDA)
            return value.detach().cpu().numpy()
        if self.backend == "cupy" and hasattr(value, "get"):
            return value.get()
        return np.asarray(value)

    # -- the one way an implementation is measured ---------------------------------------------------
    def bench(self, workload, impl, build, check, *, reference=False, inner=1, warmup=1,
              group=None, label=None, extra=None, unit="ms", reps=None, annotate=None):
        """Build, check, warm up, time; print one RESULT (or SKIP / FAIL) line. Returns the Result.

        ``build()`` returns the callable to time (one call = ``inner`` units of work) and may set
        entries of ``extra`` (e.g. compile time). ``check(output)`` raises AssertionError on a
        wrong answer and may return a short text (e.g. the max error) for the RESULT line.
        ``annotate(median_s)`` may return more fields for the RESULT line (e.g. a bandwidth).

        The repetitions of one implementation run back to back (steady state: warm caches, thread
        pools awake). Interleaving implementations call by call was tried and rejected: it
        measures cold thread pools and cross-library spin-waiting (torch's OpenMP, OpenBLAS, XLA),
        e.g. made the 50-layer NumPy loop of W4 4x slower.
        """
        group = group or workload
        label = label or workload
        extra = {} if extra is None else extra
        is_graphc = impl.startswith("graphc")
        where = f"workload={workload} impl={impl}" + "".join(
            f" {k}={v}" for k, v in extra.items() if k == "depth")
        if self.impls is not None and not reference and impl not in self.impls:
            return None
        if not reference and group not in self._reference:
            return self._outcome("SKIP", workload, impl, where, "no reference measured for this workload",
                                 is_graphc)
        try:
            fn = build()
            output = fn()
            self._sync()
        except Skip as exc:
            return self._outcome("SKIP", workload, impl, where, str(exc), is_graphc)
        except Exception as exc:
            return self._outcome("FAIL", workload, impl, where,
                                 f"while building/running: {type(exc).__name__}: {exc}", is_graphc)
        try:
            note = check(output)
        except Exception as exc:
            return self._outcome("FAIL", workload, impl, where,
                                 f"check against the NumPy reference failed: {type(exc).__name__}: "
                                 f"{str(exc).strip()}", is_graphc)
        del output
        checked = "reference" if reference else ("ok" + (f":{note}" if note else ""))
        try:
            median, fastest, n = self._time(fn, reps or self.reps, warmup, inner)
        except Exception as exc:
            return self._outcome("FAIL", workload, impl, where,
                                 f"while timing: {type(exc).__name__}: {exc}", is_graphc)
        if reference:
            self._reference[group] = median
        if annotate is not None:
            extra.update(annotate(median))
        return self._report(Result(workload, impl, median, fastest, n, median / self._reference[group],
                                   dict(extra), checked, group, label), unit)

    def record(self, workload, impl, median_s, min_s, n, *, checked, group=None, label=None,
               extra=None, unit="ms"):
        """A result measured elsewhere (e.g. in a child process with a timeout), reported alike."""
        group = group or workload
        ratio = median_s / self._reference[group] if group in self._reference else float("nan")
        return self._report(Result(workload, impl, median_s, min_s, n, ratio, dict(extra or {}), checked,
                                   group, label or workload), unit)

    def _report(self, result, unit):
        self.results.append(result)
        self._print(result, unit)
        return result

    def _time(self, fn, reps, warmup, inner):
        for _ in range(warmup):
            fn()
        self._sync()
        times = []
        pygc.collect()  # start clean; the collector stays on while timing, as in real use
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            self._sync()
            times.append((time.perf_counter() - start) / inner)
        return statistics.median(times), min(times), reps

    def fail(self, workload, impl, reason, extra=None, kind="FAIL"):
        where = f"workload={workload} impl={impl}" + "".join(
            f" {k}={v}" for k, v in (extra or {}).items() if k == "depth")
        return self._outcome(kind, workload, impl, where, reason, impl.startswith("graphc"))

    def _outcome(self, kind, workload, impl, where, reason, is_graphc):
        print(f"{kind} {where} reason={quote(reason)}", flush=True)
        if self.verbose and kind == "FAIL":
            traceback.print_exc()
        label = workload + "".join(f" ({v} layers)" for k, v in (
            part.split("=", 1) for part in where.split()[2:]) if k == "depth")
        self.outcomes.append(Outcome(kind, workload, label, impl, " ".join(str(reason).split()), is_graphc))
        return None

    def _sync(self):
        if self.sync is not None:
            self.sync()

    @staticmethod
    def _print(r: Result, unit):
        line = (f"RESULT workload={r.workload} impl={r.impl} median_ms={fmt_num(r.median_s * 1e3)} "
                f"min_ms={fmt_num(r.min_s * 1e3)} n={r.n} ratio_vs_numpy={r.ratio:.3f}")
        if unit == "us":
            line += f" median_us={r.median_s * 1e6:.3f}"
        for key, value in r.extra.items():
            line += f" {key}={fmt_num(value) if isinstance(value, float) else value}"
        line += f" checked={r.checked} cpu=\"{_cpu_line()}\""
        print(line, flush=True)


# -- checks ------------------------------------------------------------------------------------------

def assert_close(got, want, rtol, atol, what="output", dtype=True) -> str:
    """assert_allclose plus a dtype check; returns the max abs error as text."""
    got = np.asarray(got)
    want = np.asarray(want)
    if dtype and got.dtype != want.dtype:
        raise AssertionError(f"{what}: dtype {got.dtype}, expected {want.dtype}")
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    if got.size == 0:
        return "empty"
    return f"abs_err<={float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))):.1e}"


def assert_all_close(gots, wants, rtol, atol, names=None, dtype=True) -> str:
    gots, wants = list(gots), list(wants)
    if len(gots) != len(wants):
        raise AssertionError(f"{len(gots)} outputs, expected {len(wants)}")
    worst = 0.0
    for i, (g, w) in enumerate(zip(gots, wants)):
        name = names[i] if names else f"output {i}"
        assert_close(g, w, rtol, atol, what=name, dtype=dtype)
        g64, w64 = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g64.size:
            worst = max(worst, float(np.max(np.abs(g64 - w64) / (atol + rtol * np.abs(w64)))))
    return f"err<={worst:.2g}*tol"


# -- graphc ------------------------------------------------------------------------------------------

def graphc_fast_path(make_function):
    """graphc's trusted-input fast path if this version has one: (how, callable) or Skip.

    Looks, at run time, for a ``Function.fast``-style callable attribute, then for a
    ``trust_input`` flag (argument of gc.function, or attribute of a Function, as in PyTensor).
    ``make_function(**kwargs)`` builds a fresh Function.
    """
    import inspect

    import graphc as gc
    f = make_function()
    for attr in ("fast", "call_fast", "trusted", "call_trusted", "unchecked", "call_unchecked",
                 "run_trusted", "fast_call"):
        fn = getattr(f, attr, None)
        if callable(fn):
            return f"Function.{attr}", f, fn
    try:
        params = inspect.signature(gc.function).parameters
    except (TypeError, ValueError):
        params = {}
    if "trust_input" in params:
        f = make_function(trust_input=True)
        return "gc.function(trust_input=True)", f, f
    if hasattr(f, "trust_input"):
        f.trust_input = True
        return "Function.trust_input=True", f, f
    raise Skip("this graphc has no trusted-input fast path (no Function.fast / trust_input)")


def run_child(argv, timeout):
    """Run a Python child process with a timeout: (returncode or None on timeout, stdout, stderr, seconds)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return None, out, "", time.perf_counter() - start
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start


# -- the table ---------------------------------------------------------------------------------------

def markdown_table(ctx: Context, command: str, load_before: str = "?") -> str:
    lines = [f"Command: `{command}`  ",
             f"Machine: {machine_description()}; load average {load_before} before the run, "
             f"{load_average()} after  ",
             "Peers: " + ", ".join(f"{k} {v}" if v and v != "disabled" else f"{k} ({v or 'not installed'})"
                                   for k, v in peer_versions(ctx.peers).items()),
             "",
             "| workload | impl | median | min | ratio vs NumPy | notes |",
             "|---|---|---:|---:|---:|---|"]

    def duration(seconds, workload):
        if workload == "W1":
            return f"{seconds * 1e6:.3g} µs"
        return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"
    for r in ctx.results:
        notes = [note_text(key, value) for key, value in r.extra.items() if key != "depth"]
        lines.append(f"| {r.label} | {r.impl} | {duration(r.median_s, r.workload)} | "
                     f"{duration(r.min_s, r.workload)} | {r.ratio:.2f} | {', '.join(notes)} |")
    if ctx.outcomes:
        lines.append("")
        lines.append("Not timed:")
        for o in ctx.outcomes:
            lines.append(f"- {o.label} {o.impl}: {o.kind.lower()}: {o.reason[:200]}")
    return "\n".join(lines)


NOTES = {
    "first_result_s": "first result {:.3g} s",
    "compile_s": "compile {:.3g} s",
    "GB_per_s": "{:.3g} GB/s",
    "bandwidth_fraction": "{:.3f} of the copy bandwidth",
    "fast_path": "via {}",
}


def note_text(key, value) -> str:
    if key in NOTES:
        return NOTES[key].format(value)
    return f"{key.replace('_', ' ')} {value:.3g}" if isinstance(value, float) else f"{key.replace('_', ' ')} {value}"


def command_line(argv) -> str:
    return "python3 benchmarks/run.py" + "".join(" " + shlex.quote(a) for a in argv)
