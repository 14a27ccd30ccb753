"""Gradient analysis for recurrent nets (claims 3.3 and 3.6 in docs/claims.md).

- `state_jacobians`: d s_T / d s_k for every k, where s is the flattened carry
  (h for the tanh RNN and GRU, [h, c] for the LSTM), as the reverse cumulative
  product of the per-step Jacobians d s_t / d s_{t-1} (each from `jax.jacfwd`).
- `jacobian_norms`: their spectral norms against the lag T - k.
- `lstm_cell_path`: the cell-path factors diag(f_t) of 3.6 and their products.
- `spectral_radius`, `with_spectral_radius`: W_hh's largest |eigenvalue| and a
  rescaling that sets it (from `genjax.rnn.spectral`, re-exported here).
- `matrix_product_norms`: the 3.3 contrast between a power of one matrix (an
  RNN's tied weights) and a product of independent matrices (a deep
  feed-forward net's untied weights).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from genjax.rnn.cells import Carry, CellLike, LSTMCarry, as_cell, lstm_gates
from genjax.rnn.spectral import spectral_radius, with_spectral_radius  # noqa: F401 (re-exported)
from genjax.typing import Array, Params, PRNGKey


def _check_sequence(xs: Array) -> None:
    if xs.ndim != 2:
        raise ValueError(f"xs must be one sequence [T, D], got shape {xs.shape}")


def step_jacobians(cell: CellLike, params: Params, xs: Array, carry0: Carry) -> tuple[Array, Array]:
    """Per-step Jacobians A_t = d s_t / d s_{t-1}, t = 1..T, of one sequence.

    Args:
      xs: [T, D] one sequence; carry0: one example's initial carry (leaves [H]).

    Returns:
      (A [T, S, S], states [T, S]) with S the flattened carry size.
    """
    cell = as_cell(cell)
    _check_sequence(xs)
    flat0, unravel = ravel_pytree(carry0)

    def flat_step(s, x):
        new, _ = cell.step(params, unravel(s), x)
        return ravel_pytree(new)[0]

    def body(s, x):
        return flat_step(s, x), jax.jacfwd(flat_step)(s, x)

    def scan_body(s, x):
        new, jac = body(s, x)
        return new, (jac, new)

    _, (jacs, states) = jax.lax.scan(scan_body, flat0, xs)
    return jacs, states


def state_jacobians(cell: CellLike, params: Params, xs: Array, carry0: Carry) -> Array:
    """J [T+1, S, S] with J[k] = d s_T / d s_k (k = 0..T; J[T] = I), s the flattened carry.

    dh_T/dh_k for the tanh RNN is prod_{i=k+1..T} diag(1 - h_i^2) W_hh (3.2).
    """
    jacs, _ = step_jacobians(cell, params, xs, carry0)
    size = jacs.shape[-1]

    def body(acc, a):
        acc = acc @ a  # d s_T / d s_{t-1} = d s_T / d s_t @ A_t
        return acc, acc

    _, prefix = jax.lax.scan(body, jnp.eye(size, dtype=jacs.dtype), jacs, reverse=True)
    return jnp.concatenate([prefix, jnp.eye(size, dtype=jacs.dtype)[None]], axis=0)


def jacobian_norms(jacobians: Array, rows: slice = slice(None), cols: slice = slice(None)) -> Array:
    """Spectral norms of the blocks jacobians[:, rows, cols]; returns [T+1] ordered by k."""
    return jnp.linalg.norm(jacobians[:, rows, cols], ord=2, axis=(-2, -1))


def norms_by_lag(cell: CellLike, params: Params, xs: Array, carry0: Carry, block: str = "all"):
    """||d s_T / d s_{T-lag}||_2 for lag = 0..T (index = lag).

    Args:
      block: 'all' (the whole carry), 'h' or 'c' (LSTM: d h_T/d h_k or d c_T/d c_k,
        total derivatives through every path).
    """
    jac = state_jacobians(cell, params, xs, carry0)
    hidden = jax.tree_util.tree_leaves(carry0)[0].shape[0]
    if block == "all":
        sl = slice(None)
    elif block in ("h", "c"):
        if not isinstance(carry0, LSTMCarry):
            raise ValueError(f"block={block!r} needs an LSTM carry")
        sl = slice(0, hidden) if block == "h" else slice(hidden, 2 * hidden)
    else:
        raise ValueError(f"block must be 'all', 'h' or 'c', got {block!r}")
    return jacobian_norms(jac, sl, sl)[::-1]


def lstm_cell_path(params: Params, xs: Array, carry0: LSTMCarry) -> tuple[Array, Array]:
    """The LSTM's cell path (3.6): forget gates f_t [T, H] and prod_{i=k+1..T} f_i [T+1, H].

    d c_t / d c_{t-1} holding h_{t-1} fixed is diag(f_t); the second output is the
    diagonal of that path's product from c_k to c_T (k = 0..T, 1 at k = T).
    """
    _check_sequence(xs)

    def body(carry, x):
        i, f, g, o = lstm_gates(params, carry, x)
        c = f * carry.c + i * g
        return LSTMCarry(o * jnp.tanh(c), c), f

    _, forget = jax.lax.scan(body, carry0, xs)
    ones = jnp.ones_like(forget[:1])
    suffix = jnp.cumprod(forget[::-1], axis=0)[::-1]  # suffix[k] = prod_{i>=k} f (0-based)
    return forget, jnp.concatenate([suffix, ones], axis=0)


def log_slope(norms: Array, lags: Array) -> float:
    """Least-squares slope of log(norm) against lag (per-step log growth rate)."""
    lags = np.asarray(lags, dtype=np.float64)
    logs = np.log(np.asarray(norms, dtype=np.float64))
    keep = np.isfinite(logs)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(lags[keep], logs[keep], 1)[0])


def matrix_product_norms(
    key: PRNGKey, dim: int, depth: int, rho: float, *, tied: bool, kind: str = "gaussian"
) -> Array:
    """||W_depth ... W_1||_2 for depth 1..depth, each W with spectral radius exactly rho.

    Args:
      tied: one matrix W used at every depth (an RNN: W^depth), or an independent
        matrix per depth (a deep feed-forward net).
      kind: 'gaussian' (a Gaussian matrix rescaled to spectral radius rho) or
        'orthogonal' (rho times a random orthogonal matrix).

    Returns:
      [depth] norms.
    """
    if kind not in ("gaussian", "orthogonal"):
        raise ValueError(f"kind must be 'gaussian' or 'orthogonal', got {kind!r}")

    def draw(k):
        if kind == "orthogonal":
            from genjax.rnn.cells import orthogonal  # noqa: PLC0415

            return orthogonal(k, dim, rho)
        return with_spectral_radius(jax.random.normal(k, (dim, dim)), rho)

    keys = jax.random.split(key, depth)
    mats = jnp.stack([draw(keys[0])] * depth) if tied else jax.vmap(draw)(keys)

    def body(acc, w):
        acc = w @ acc
        # Renormalise so long products stay in float range; keep the log scale.
        norm = jnp.linalg.norm(acc, ord=2)
        return acc / norm, jnp.log(norm)

    _, log_norms = jax.lax.scan(body, jnp.eye(dim), mats)
    return jnp.exp(jnp.cumsum(log_norms))
