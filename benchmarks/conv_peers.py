"""3×3 stride-1 convolution layers alone: one compiled graphc call computing a layer's forward,
input gradient and filter gradient, with the Winograd F(2×2, 3×3) kernels (the default for wide
layers, ``graphc.backends.numpy.kernels.winograd``) and with im2col + GEMM, beside PyTorch eager (forward +
``backward``, NCHW, its default threads). float32, best of 5 rounds; graphc's two kernels
interleaved within each round so a noisy machine slows them alike, PyTorch's rounds after them.

A second table: depthwise 3×3 layers (``gc.nn.depthwise_conv2d``, multiplier 1; PyTorch:
``groups=C``), the same three results per call. A third: grouped 3×3 layers with several
channels per group (ResNeXt's 32 groups of 4, and 4 groups of 32; ``gc.nn.conv2d(...,
groups=G)``, PyTorch ``groups=G``).

Not a workload of BENCHMARKS.md: it measures where the Winograd path pays (wide layers) and
where it does not (W5's 32 → 64 layer keeps im2col), and the depthwise and grouped kernels.

    python3 benchmarks/conv_peers.py
"""
import time

import numpy as np

# (batch, height = width, input channels, filters)
LAYERS = [(64, 14, 32, 64), (32, 14, 64, 64), (32, 28, 64, 64), (16, 28, 128, 128),
          (8, 56, 64, 64), (32, 14, 256, 256)]
DEPTHWISE = [(32, 56, 64), (32, 28, 128), (64, 14, 256)]      # (batch, H = W, channels)
GROUPED = [(32, 28, 128, 32), (32, 14, 256, 32), (32, 28, 128, 4)]   # (batch, H = W, C = O, groups)
ROUNDS, CALLS = 5, 5


def graphc_layer(shape, depthwise=False, groups=1):
    """A compiled call returning (y, dx, dw) for y = conv2d(x, w, same) (or depthwise_conv2d,
    or ``groups`` groups) and cotangent g."""
    import graphc as gc
    n, hw, c, o = shape
    rng = np.random.default_rng(0)
    x = gc.placeholder((n, hw, hw, c), "float32", name="x")
    g = gc.placeholder((n, hw, hw, o), "float32", name="g")
    per_group = 1 if depthwise else c // groups
    w_shape = (3, 3, c, o // c) if depthwise else (3, 3, per_group, o)
    w = gc.variable((rng.standard_normal(w_shape) / np.sqrt(9 * per_group)).astype(np.float32), name="w")
    y = (gc.nn.depthwise_conv2d(x, w, 1, "same") if depthwise
         else gc.nn.conv2d(x, w, 1, "same", groups=groups))
    dx, dw = gc.grad(gc.reduce_sum(y * g), [x, w])
    return gc.function([x, g], [y, dx, dw], name="conv_layer")


def torch_layer(torch, shape, depthwise=False, groups=1):
    n, hw, c, o = shape
    groups = c if depthwise else groups
    w = torch.randn(o, c // groups, 3, 3) / np.sqrt(9 * c // groups)
    w.requires_grad_(True)

    def step(x, g):
        x.grad = w.grad = None
        y = torch.nn.functional.conv2d(x, w, padding=1, groups=groups)
        y.backward(g)
        return y
    return step


def per_call_ms(fn, *args):
    start = time.perf_counter()
    for _ in range(CALLS):
        fn(*args)
    return (time.perf_counter() - start) / CALLS * 1e3


def best_of_rounds(impls) -> dict:
    """Best ms per call of each implementation. graphc's are interleaved round by round;
    PyTorch's rounds come after them, because its OpenMP threads keep spinning for a while
    after each call and slowed whatever ran next (measured: Winograd 0.8× im2col right after
    PyTorch, 1.0× otherwise)."""
    ours = {name: impl for name, impl in impls.items() if name != "torch"}
    best = {name: float("inf") for name in impls}
    for group in (ours, {k: v for k, v in impls.items() if k == "torch"}):
        for impl in group.values():
            impl()
        for _ in range(ROUNDS):
            for name, impl in group.items():
                best[name] = min(best[name], per_call_ms(impl))
    return best


def main():
    from graphc.backends.numpy.kernels import winograd
    try:
        import torch
    except ImportError:
        torch = None
    default_min = winograd.MIN_CHANNELS
    print("| layer (batch, H=W, C → O) | graphc Winograd ms | graphc im2col ms | im2col / Winograd |"
          " PyTorch eager ms | graphc default / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(1)
    for shape in LAYERS:
        n, hw, c, o = shape
        fn = graphc_layer(shape)
        x = rng.standard_normal((n, hw, hw, c), dtype=np.float32)
        g = rng.standard_normal((n, hw, hw, o), dtype=np.float32)
        wide = winograd.suitable((3, 3), (1, 1), (1, 1), c, o)

        def winograd_on():
            winograd.MIN_CHANNELS = 1
            return fn(x, g)

        def winograd_off():
            winograd.MIN_CHANNELS = 10 ** 9
            return fn(x, g)
        impls = {"winograd": winograd_on, "im2col": winograd_off}
        if torch is not None:
            tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
            tg = torch.from_numpy(g.transpose(0, 3, 1, 2).copy())
            step = torch_layer(torch, shape)
            impls["torch"] = lambda: step(tx, tg)
        best = best_of_rounds(impls)
        winograd.MIN_CHANNELS = default_min
        ours = best["winograd"] if wide else best["im2col"]   # what graphc runs by default
        mark = "" if wide else " (default: im2col)"
        torch_cols = (f"{best['torch']:.2f} | {ours / best['torch']:.2f}" if torch is not None else "- | -")
        print(f"| {n}, {hw}, {c} → {o}{mark} | {best['winograd']:.2f} | {best['im2col']:.2f} | "
              f"{best['im2col'] / best['winograd']:.2f} | {torch_cols} |")
    peer_table(torch, rng, "depthwise 3×3 (batch, H=W, C)",
               [((n, hw, c, c), {"depthwise": True}, f"{n}, {hw}, {c}") for n, hw, c in DEPTHWISE])
    peer_table(torch, rng, "grouped 3×3 (batch, H=W, C = O, groups)",
               [((n, hw, c, c), {"groups": gr}, f"{n}, {hw}, {c}, {gr}") for n, hw, c, gr in GROUPED])


def peer_table(torch, rng, title, rows):
    """graphc's default kernels beside PyTorch eager, one row per (shape, layer options, label)."""
    print()
    print(f"| {title} | graphc ms | PyTorch eager ms | graphc / PyTorch |")
    print("|---|---:|---:|---:|")
    for shape, options, label in rows:
        n, hw, c, o = shape
        fn = graphc_layer(shape, **options)
        x = rng.standard_normal((n, hw, hw, c), dtype=np.float32)
        g = rng.standard_normal((n, hw, hw, o), dtype=np.float32)
        impls = {"graphc": lambda: fn(x, g)}
        if torch is not None:
            tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
            tg = torch.from_numpy(g.transpose(0, 3, 1, 2).copy())
            step = torch_layer(torch, shape, **options)
            impls["torch"] = lambda: step(tx, tg)
        best = best_of_rounds(impls)
        torch_cols = (f"{best['torch']:.2f} | {best['graphc'] / best['torch']:.2f}" if torch is not None
                      else "- | -")
        print(f"| {label} | {best['graphc']:.2f} | {torch_cols} |")


if __name__ == "__main__":
    main()
