"""``graphc demo``: the tour of graphc on h = (a + b) * (c + d) — values and gradients, the
generated source, the pass report, and four diagrams in ``--out``. A command of its own so
that what it prints can change without touching the other commands or the expression parser.
"""
from __future__ import annotations

import os

import numpy as np

from graphc.cli.common import EXIT_OK


def add_demo_parser(commands) -> None:
    """Register ``demo`` and its arguments with the ``graphc`` subparsers ``commands``."""
    demo = commands.add_parser(
        "demo", help="h = (a+b)*(c+d): values, gradients, generated code, diagrams",
        description="Build h = (a+b)*(c+d) and its gradients, compile, run at a,b,c,d = 1,2,3,4, "
                    "print the generated code and the pass report, and draw the graphs.")
    demo.add_argument("--out", default="graphc-demo", metavar="DIR",
                      help="folder for h.svg, grad.svg, f.svg and f.png (default: ./graphc-demo)")
    demo.add_argument("--backend", default="numpy", metavar="NAME",
                      help="backend to compile with: numpy (default), c, cupy, dask (gc.backends() lists "
                           "those usable here)")
    demo.set_defaults(run=run_demo)


def run_demo(args) -> int:
    from graphc import api as gc
    from graphc.render import render

    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)

    a, b, c, d = (gc.placeholder(name=n) for n in "abcd")
    h = (a + b) * (c + d)
    grads = gc.grad(h, [a, c])
    f = gc.function([a, b, c, d], [h] + list(grads), backend=args.backend)

    inputs = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    h_value, dh_da, dh_dc = f(*inputs.values())
    print("h = (a + b) * (c + d)")
    print("inputs:  " + ", ".join(f"{k} = {_number(v)}" for k, v in inputs.items()))
    print(f"h     = {_number(h_value)}")
    print(f"dh/da = c + d = {_number(dh_da)}")
    print(f"dh/dc = a + b = {_number(dh_dc)}")
    print("\n# f.source: the generated code")
    print(f.source)
    print("# f.explain(): what each pass did")
    print(f.explain())

    labels = ["h", "dh/da", "dh/dc"]
    written = [
        render(h, os.path.join(out_dir, "h.svg"), title="h = (a + b) * (c + d)", output_labels=["h"]),
        render([h] + list(grads), os.path.join(out_dir, "grad.svg"),
               title="h and its gradient (gold: nodes built by gc.grad)", legend=True,
               output_labels=labels),
        render(f, os.path.join(out_dir, "f.svg"), title="f: the optimized compiled function",
               output_labels=labels),
        render(f, os.path.join(out_dir, "f.png"), title="f: the optimized compiled function",
               output_labels=labels),
    ]
    print("\ndiagrams:")
    for path in written:
        print(f"  {path}")
    return EXIT_OK


def _number(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        x = arr.item()
        return f"{x:.6g}" if isinstance(x, float) else str(x)
    return np.array2string(arr, precision=6)
