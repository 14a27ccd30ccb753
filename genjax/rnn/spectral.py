"""The spectral radius of a recurrent weight matrix: measuring it and setting it (3.3).

Below both `genjax.rnn.cells` (whose tanh RNN can start at a chosen radius) and
`genjax.rnn.analysis` (which relates the radius to the Jacobians' decay).
"""

from __future__ import annotations

import jax.numpy as jnp

from genjax.typing import Array


def spectral_radius(w: Array) -> Array:
    """max |eigenvalue| of a square matrix (eigvals runs on the host CPU backend)."""
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"w must be a square matrix, got shape {w.shape}")
    return jnp.max(jnp.abs(jnp.linalg.eigvals(w)))


def with_spectral_radius(w: Array, rho: float) -> Array:
    """w rescaled so that its spectral radius is exactly rho."""
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho}")
    return (w * (rho / spectral_radius(w))).astype(w.dtype)
