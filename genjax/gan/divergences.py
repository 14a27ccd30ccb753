"""The optimal discriminator, Jensen-Shannon and KL divergences, and exact Wasserstein-1 (2.3, 2.5).

Densities "on a grid" are given as non-negative values at the grid points; they
are normalised to probability masses (so any constant grid spacing cancels).
Negative, non-finite or all-zero values raise ValueError when the values are
concrete; under `jit` or `grad` (tracers) they are not checked.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.scipy.special import xlogy

from genjax._checks import check_masses
from genjax.typing import Array


def _masses(name: str, p: Array) -> Array:
    p = jnp.asarray(p, dtype=jnp.result_type(float))
    if p.ndim != 1 or p.shape[0] < 1:
        raise ValueError(f"{name} must be a 1-D array of grid values, got shape {p.shape}")
    return p / jnp.sum(p)


def _check_same_grid(a: Array, b: Array, names: tuple[str, str]) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must share the grid: shapes {np.shape(a)} and {np.shape(b)}"
        )


def _check_pair(p: Array, q: Array, names: tuple[str, str] = ("p", "q")) -> None:
    """Raises ValueError unless p and q share the grid and (when concrete) are masses."""
    _check_same_grid(p, q, names)
    check_masses(names[0], p)
    check_masses(names[1], q)


def optimal_discriminator(p_data: Array, p_g: Array) -> Array:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) pointwise (Goodfellow 2014, prop. 1).

    Where both densities vanish D* is arbitrary; 1/2 is returned there.

    Raises:
      ValueError: the shapes differ, or (concrete values) a density is negative,
        non-finite or zero everywhere.
    """
    _check_pair(p_data, p_g, ("p_data", "p_g"))
    p_data, p_g = jnp.asarray(p_data), jnp.asarray(p_g)
    total = p_data + p_g
    safe = jnp.where(total > 0, total, 1.0)
    return jnp.where(total > 0, p_data / safe, 0.5)


def value_on_grid(d: Array, p_data: Array, p_g: Array) -> Array:
    """V(D, G) = sum_x p_data(x) log D(x) + p_g(x) log(1 - D(x)) over grid masses (0 log 0 = 0).

    Densities with far tails need float64 (`jax.enable_x64`): in float32 D* rounds
    to exactly 0 or 1 where one density is ~1e-8 of the other, and the
    other's tiny mass then multiplies log 0.
    """
    _check_pair(p_data, p_g, ("p_data", "p_g"))
    _check_same_grid(d, p_data, ("d", "p_data"))
    p, q = _masses("p_data", p_data), _masses("p_g", p_g)
    return jnp.sum(xlogy(p, d) + xlogy(q, 1.0 - d))


def kl_divergence(p: Array, q: Array) -> Array:
    """KL(p || q) = sum p log(p / q) over grid masses; +inf where p > 0 = q.

    Raises:
      ValueError: the shapes differ, or (concrete values) p or q is negative,
        non-finite or zero everywhere.
    """
    _check_pair(p, q)
    p, q = _masses("p", p), _masses("q", q)
    support_mismatch = jnp.any((p > 0) & (q <= 0))
    safe_q = jnp.where(q > 0, q, 1.0)
    kl = jnp.sum(xlogy(p, p) - xlogy(p, safe_q))
    return jnp.where(support_mismatch, jnp.inf, kl)


def js_divergence(p: Array, q: Array) -> Array:
    """JS(p, q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2; in [0, log 2] nats.

    Raises:
      ValueError: the shapes differ, or (concrete values) p or q is negative,
        non-finite or zero everywhere.
    """
    _check_pair(p, q)
    p, q = _masses("p", p), _masses("q", q)
    m = 0.5 * (p + q)
    safe_m = jnp.where(m > 0, m, 1.0)
    return 0.5 * jnp.sum(xlogy(p, p) - xlogy(p, safe_m)) + 0.5 * jnp.sum(
        xlogy(q, q) - xlogy(q, safe_m)
    )


def wasserstein_1d(x: Array, y: Array) -> Array:
    """Exact W1 between the empirical distributions of two 1-D samples (any sizes).

    W1 = integral |F_x(t) - F_y(t)| dt, evaluated exactly between consecutive
    points of the merged sorted sample (as `scipy.stats.wasserstein_distance`);
    for equal sizes it is mean |sort(x) - sort(y)|.
    """
    x, y = jnp.ravel(jnp.asarray(x)), jnp.ravel(jnp.asarray(y))
    if x.size < 1 or y.size < 1:
        raise ValueError("x and y must be non-empty")
    xs, ys = jnp.sort(x), jnp.sort(y)
    grid = jnp.sort(jnp.concatenate([xs, ys]))
    widths = jnp.diff(grid)
    cdf_x = jnp.searchsorted(xs, grid[:-1], side="right") / xs.size
    cdf_y = jnp.searchsorted(ys, grid[:-1], side="right") / ys.size
    return jnp.sum(jnp.abs(cdf_x - cdf_y) * widths)


def wasserstein_exact(x: np.ndarray, y: np.ndarray) -> float:
    """Exact W1 between two equal-size point sets [n, dim] with Euclidean cost.

    For uniform weights on n points each, an optimal coupling is a permutation
    (Birkhoff-von Neumann), found by scipy's `linear_sum_assignment`. Runs on the
    host: O(n^3), fine for a few thousand points.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape != y.shape or x.shape[0] < 1:
        raise ValueError(
            f"x and y must be [n, dim] point sets of equal shape, got {x.shape}, {y.shape}"
        )
    cost = np.sqrt(np.maximum(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1), 0.0))
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
