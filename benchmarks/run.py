"""Run the benchmark workloads of shared/BENCHMARKS.md: graphc beside eager NumPy and its peers.

    python3 benchmarks/run.py [W1 W2 ...] [--reps N] [--quick] [--backend numpy|cupy] [--markdown]

Prints a header (machine, versions, BLAS threads, peers found), one ``RESULT`` line per
implementation (``SKIP``/``FAIL`` lines for those not timed, with the reason), and with
``--markdown`` a table for the README. Every implementation is checked against the NumPy
reference before it is timed. Exit status 1 when a graphc implementation failed, else 0.
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):          # the workload modules, and graphc/backends from this checkout
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402

import harness  # noqa: E402

# Workload id -> module in benchmarks/. A module defines WORKLOAD, TITLE and run(ctx); it may
# define available() -> None or the reason it cannot run yet. W5/W6 need graphc's layers: their
# modules are added when the layers exist, and are picked up from here without other changes.
WORKLOADS = {
    "W1": "w1_dispatch",
    "W2": "w2_elementwise",
    "W3": "w3_mlp_step",
    "W4": "w4_chain",
    "W5": "w5_cnn_step",
    "W6": "w6_digits",
    "W7": "w7_dask",
}
# Run only when named on the command line: W7 starts clusters of worker processes (Dask)
OPT_IN = {"W7"}


def load(workload_id):
    """(module, None) or (None, why it is not available)."""
    name = WORKLOADS[workload_id]
    if not os.path.exists(os.path.join(HERE, name + ".py")):
        return None, f"benchmarks/{name}.py not written yet"
    module = importlib.import_module(name)
    reason = module.available() if hasattr(module, "available") else None
    return (None, reason) if reason else (module, None)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="*", metavar="W",
                    help=f"workload ids ({', '.join(WORKLOADS)}); default: all available except "
                         f"{', '.join(sorted(OPT_IN))} (name them to run them)")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per implementation (default 10)")
    ap.add_argument("--quick", action="store_true",
                    help="a short smoke run: sizes scaled by 1/16 (unless --size-scale), W4 at fewer "
                         "depths, no slow compilers (torch.compile)")
    ap.add_argument("--size-scale", type=float, default=None,
                    help="multiply the workloads' sizes (array length, calls per repetition, batch, "
                         "depths) by this factor (tests use 0.01)")
    ap.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                    help="graphc backend; cupy compares against CuPy eager and PyTorch CUDA")
    ap.add_argument("--markdown", action="store_true", help="print the results as a markdown table at the end")
    ap.add_argument("--peers", default="all",
                    help=f"comma-separated peers to try ({','.join(harness.PEERS)}), 'all' or 'none'")
    ap.add_argument("--impl", default=None,
                    help="only these implementations (comma-separated impl names; the reference always runs)")
    ap.add_argument("--slow", action="store_true",
                    help="also the very slow peers: W4 torch.compile and PyTensor with the recursion "
                         "limit raised (minutes each)")
    ap.add_argument("--verbose", action="store_true", help="tracebacks for FAIL lines")
    ap.add_argument("--blas-core", default=None, metavar="NAME",
                    help="run with OPENBLAS_CORETYPE=NAME (e.g. SkylakeX), for NumPy and graphc alike: "
                         "OpenBLAS picks its kernels when NumPy loads, from this variable when set (these "
                         "machines set Haswell, AVX2 kernels on an AVX-512 CPU); the header's BLAS line "
                         "says which core ran")
    args = ap.parse_args(argv)
    ids = [w.upper() for w in args.workloads]
    unknown = [w for w in ids if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    if args.peers == "all":
        args.peer_set = harness.PEERS
    elif args.peers == "none":
        args.peer_set = ()
    else:
        args.peer_set = tuple(p.strip() for p in args.peers.split(",") if p.strip())
        bad = [p for p in args.peer_set if p not in harness.PEERS]
        if bad:
            ap.error(f"unknown peer(s) {bad}; choose from {list(harness.PEERS)}")
    args.ids = ids
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # users' machines leave OpenBLAS to pick its kernel for the CPU: a core type or cache size
    # set in this environment (some machines set one) is dropped unless --blas-core asks for it.
    # NumPy's OpenBLAS is already loaded here: only a fresh process picks the core.
    tuned = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    wanted = {"OPENBLAS_CORETYPE": args.blas_core} if args.blas_core else {}
    if tuned != wanted:
        for key in tuned:
            os.environ.pop(key)
        os.environ.update(wanted)
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + list(argv))
    scale = args.size_scale if args.size_scale is not None else (1 / 16 if args.quick else 1.0)
    ctx = harness.Context(reps=args.reps, quick=args.quick, scale=scale, backend=args.backend,
                          peers=args.peer_set, slow=args.slow,
                          impls=args.impl.split(",") if args.impl else None, verbose=args.verbose,
                          explicit_scale=args.size_scale)

    # torch.compile's compile time is measured from a cold Inductor cache unless the user set one
    own_cache = None
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        own_cache = tempfile.mkdtemp(prefix="graphc-bench-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = own_cache
    load_before = harness.load_average()
    print(f"# graphc benchmark suite: {harness.command_line(argv)}")
    print(f"# machine: {harness.machine_description()}; load average {load_before}")
    print(f"# python {platform.python_version()} ({sys.executable}); numpy {np.__version__}; "
          f"backend {args.backend}; reps {args.reps}; size scale {scale:g}")
    try:
        import graphc
        from graphc.backends.numpy import allocator, blas_threads
        # the NumPy backend tunes malloc at its first compile; done here first, every
        # implementation in this process runs under the same malloc
        allocator.keep_freed_memory()
        print(f"# graphc {getattr(graphc, '__version__', '?')} from {os.path.dirname(graphc.__file__)}; "
              f"malloc: {allocator.state} (for every implementation in this process); "
              f"{blas_threads.describe()}")
    except Exception as exc:
        print(f"# graphc cannot be imported: {type(exc).__name__}: {exc}")
    versions = harness.peer_versions(ctx.peers)
    print("# peers: " + ", ".join(f"{k}={v or 'not-installed'}" for k, v in versions.items()))

    chosen = args.ids or [w for w in WORKLOADS if w not in OPT_IN]
    start = time.perf_counter()
    for wid in chosen:
        try:
            module, reason = load(wid)
        except Exception as exc:
            module, reason = None, f"cannot import {WORKLOADS[wid]}: {type(exc).__name__}: {exc}"
        if module is None:
            print(f"SKIP workload={wid} reason={harness.quote(reason)}")
            continue
        print(f"# --- {wid}: {module.TITLE}", flush=True)
        t = time.perf_counter()
        try:
            module.run(ctx)
        except Exception as exc:  # a bug in the workload module itself: report, go on
            ctx.fail(wid, "(workload)", f"{type(exc).__name__}: {exc}")
            if args.verbose:
                import traceback
                traceback.print_exc()
        print(f"# {wid} took {time.perf_counter() - t:.1f} s", flush=True)
    print(f"# total {time.perf_counter() - start:.1f} s; load average now {harness.load_average()}")
    if own_cache:
        shutil.rmtree(own_cache, ignore_errors=True)

    if args.markdown:
        print()
        print(harness.markdown_table(ctx, harness.command_line(argv), load_before))
    failed = [o for o in ctx.outcomes if o.kind == "FAIL" and (o.is_graphc or o.impl == "(workload)")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
