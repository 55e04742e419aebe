"""The GEMMs of W3 alone: NumPy's BLAS (what graphc's NumPy backend calls) against JAX's XLA
CPU matmul, same float32 shapes, best of 5 runs of 200 calls. It explains the W3 gap to JAX:
the training step is these products plus elementwise work.

    python3 benchmarks/gemm_peers.py
"""
import time

import numpy as np

SHAPES = [((256, 784), (784, 512)), ((256, 512), (512, 512)), ((784, 256), (256, 512)),
          ((512, 256), (256, 512))]


def best_ms(fn, *args, calls=200):
    for _ in range(10):
        fn(*args)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn(*args)
        times.append((time.perf_counter() - start) / calls)
    return min(times) * 1e3


def main():
    rng = np.random.default_rng(0)
    try:
        import jax
        import jax.numpy as jnp
        jit_matmul = jax.jit(lambda a, b: a @ b)
    except ImportError:
        jax = None
    print("| a @ b | NumPy ms | JAX jit ms | NumPy / JAX |")
    print("|---|---:|---:|---:|")
    for sa, sb in SHAPES:
        a, b = rng.random(sa, dtype=np.float32), rng.random(sb, dtype=np.float32)
        t_np = best_ms(np.matmul, a, b)
        if jax is None:
            print(f"| {sa} @ {sb} | {t_np:.3f} | - | - |")
            continue
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        t_jax = best_ms(lambda x, y: jit_matmul(x, y).block_until_ready(), ja, jb)
        print(f"| {sa} @ {sb} | {t_np:.3f} | {t_jax:.3f} | {t_np / t_jax:.2f} |")


if __name__ == "__main__":
    main()
