"""JAX (float64, CPU) as an independent oracle for graphc's values and gradients.

Each random recipe (tests/reference.py) is built twice: as a graphc graph, and as the same
expression in JAX. graphc's compiled outputs, optimized and not, must equal JAX's; the
gradients of sum(outputs * random weights) from ``gc.grad`` must equal JAX's reverse mode's
(``jax.vjp`` with the weights as cotangents: ``jax.grad`` of that sum, in one trace). Every
call also checks that the caller's arrays are never written and that no output shares memory
with another output or an input. Recipes with a ``None`` batch size run through ONE compiled
function at several batch sizes.

A failure reports the recipe and a shrunk reproducer (outputs dropped, steps bypassed).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax.scipy.special import logsumexp as jax_logsumexp  # noqa: E402

import graphc as gc  # noqa: E402

from tests.reference import (GRAPHC_STEPS, assert_close, build_graphc, call_checked, raise_failures,  # noqa: E402
                       random_recipe, shrink_failure, weighted_loss)

# One JAX evaluation per recipe (a jit of values and gradients, ~0.3 s of XLA compilation on
# this 2-core machine) serves both optimize flags; a batched recipe needs one per batch size.
# GRAPHC_ORACLE_SCALE=10 runs ten times as many recipes (a longer hunt for new failures).
SCALE = int(os.environ.get("GRAPHC_ORACLE_SCALE", "1"))
SEEDS = range(120 * SCALE)                           # unbatched recipes
BATCHED_SEEDS = range(1000, 1000 + 12 * SCALE)       # recipes with a None batch size
BATCH_SIZES = (1, 4, 7, 300)
VALUE_TOL = 1e-9                # normwise: max |got - want| / max(1, max |want|)
GRAD_TOL = 1e-8

JAX_STEPS = {
    "neg": lambda a: -a,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "stop_gradient": jax.lax.stop_gradient,
    "exp": jnp.exp,
    "expm1": jnp.expm1,
    "square": jnp.square,
    "log_pos": lambda a: jnp.log(jnp.square(a) + 0.5),
    "sqrt_pos": lambda a: jnp.sqrt(jnp.square(a) + 0.25),
    "rsqrt_pos": lambda a: jax.lax.rsqrt(jnp.square(a) + 0.5),
    "log1p_sq": lambda a: jnp.log1p(jnp.square(a)),
    "affine": lambda a, p, q: a * p + q,
    "rsub": lambda a, q: q - a,
    "relu": lambda a, c: jax.nn.relu(a + c),
    "abs": lambda a, c: jnp.abs(a + c),
    "leaky_relu": lambda a, c, alpha: jax.nn.leaky_relu(a + c, negative_slope=alpha),
    "elu": lambda a, c, alpha: jax.nn.elu(a + c, alpha=alpha),
    "sign": lambda a, c: jnp.sign(a + c),
    "softmax": lambda a, axis: jax.nn.softmax(a, axis=axis),
    "log_softmax": lambda a, axis: jax.nn.log_softmax(a, axis=axis),
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_safe": lambda a, b: a / (1.0 + jnp.square(b)),
    "maximum": lambda a, b, c: jnp.maximum(a, b + c),
    "minimum": lambda a, b, c: jnp.minimum(a, b + c),
    "pow_safe": lambda a, b: jnp.power(jnp.square(a) + 0.5, jnp.tanh(b)),
    "where": lambda a, b: jnp.where(a > 0.0, a, b * 0.5),
    "reduce_sum": lambda a, axis, keepdims: jnp.sum(a, axis=axis, keepdims=keepdims),
    "reduce_mean": lambda a, axis, keepdims: jnp.mean(a, axis=axis, keepdims=keepdims),
    "reduce_max": lambda a, c, axis, keepdims: jnp.max(a + c, axis=axis, keepdims=keepdims),
    "reduce_min": lambda a, c, axis, keepdims: jnp.min(a + c, axis=axis, keepdims=keepdims),
    "reduce_prod": lambda a, axis, keepdims: jnp.prod(a, axis=axis, keepdims=keepdims),
    "logsumexp": lambda a, axis, keepdims: jax_logsumexp(a, axis=axis, keepdims=keepdims),
    "matmul": lambda a, b: a @ b,
    "matmul_const": lambda a, w: a @ w,
    "T": lambda a: a.T,
    "transpose": lambda a, perm: jnp.transpose(a, perm),
    "reshape": lambda a, shape: jnp.reshape(a, shape),
    "getitem": lambda a, index: a[index],
    "expand_dims": lambda a, axis: jnp.expand_dims(a, axis),
    "squeeze": lambda a, axis: jnp.squeeze(a, axis),
    "concat": lambda *xs, axis: jnp.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis: jnp.stack(xs, axis=axis),
    "broadcast_to": lambda a, shape: jnp.broadcast_to(a, shape),
    "gather": lambda a, indices, axis: jnp.take(a, indices, axis=axis),
}


def jax_forward(recipe, xs):
    pool = list(xs)
    for step in recipe.steps:
        pool.append(JAX_STEPS[step.kind](*(pool[a] for a in step.args), **step.kwargs))
    return [pool[k] for k in recipe.outputs]


def jax_oracle(recipe):
    """A jitted function (xs, ws) -> (JAX's outputs, its gradients of sum(output_i * w_i) in
    every input: the vector-Jacobian product with the weights, one trace for both), compiled
    once per input shapes."""
    def values_and_gradients(xs, ws):
        outs, pullback = jax.vjp(lambda *args: jax_forward(recipe, args), *xs)
        return outs, pullback(list(ws))
    jitted = jax.jit(values_and_gradients)

    def run(xs, ws):
        outs, grads = jitted([jnp.asarray(x) for x in xs], [jnp.asarray(w) for w in ws])
        return [np.asarray(o) for o in outs], [np.asarray(g) for g in grads]
    return run


def check_against_jax(recipe, batches=(4,)):
    """graphc's values and gradients, unoptimized and optimized, against JAX's at each batch
    size, one compiled graphc function per flag for all of them."""
    oracle = jax_oracle(recipe)
    inputs, outputs = build_graphc(recipe)
    weights, _, grads = weighted_loss(inputs, outputs)
    compiled = {optimize: (gc.function(inputs, outputs, optimize=optimize),
                           gc.function(inputs + weights, grads, optimize=optimize))
                for optimize in (False, True)}
    rng = np.random.default_rng(recipe.seed + 7)
    failures = []
    for batch in batches:
        xs = recipe.input_values(batch)
        ws = [rng.uniform(-1.0, 1.0, s) for s in recipe.output_shapes(batch)]
        want_values, want_grads = oracle(xs, ws)
        for optimize, (values_fn, grads_fn) in compiled.items():
            where = f"optimize={optimize}, batch {batch}"
            try:
                got = call_checked(values_fn, xs, f"values ({where})")
                for k, (g, w) in enumerate(zip(got, want_values)):
                    assert_close(g, w, VALUE_TOL, f"[value] output {k} (v{recipe.outputs[k]}) vs JAX, {where}")
                got = call_checked(grads_fn, xs + ws, f"gradients ({where})")
                for k, (g, w) in enumerate(zip(got, want_grads)):
                    assert_close(g, w, GRAD_TOL, f"[gradient] d loss / d v{k} vs jax.grad, {where}")
            except Exception as exc:  # noqa: BLE001 - graphc's own errors are failures too
                failures.append(exc)
    raise_failures(failures)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_matches_jax(seed):
    shrink_failure(random_recipe(seed), check_against_jax)


@pytest.mark.parametrize("seed", BATCHED_SEEDS)
def test_batched_random_graph_matches_jax_at_every_batch_size(seed):
    shrink_failure(random_recipe(seed, batched=True), lambda r: check_against_jax(r, BATCH_SIZES))


def test_jax_table_covers_every_step_kind():
    assert set(JAX_STEPS) == set(GRAPHC_STEPS)
