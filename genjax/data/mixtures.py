"""2-D Gaussian mixtures for GAN mode-coverage benchmarks (as in VEEGAN / PacGAN)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, PRNGKey

RING_STD = 0.01
GRID_STD = 0.05


def ring_modes(num_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    """Centres [num_modes, 2] on a circle at `num_modes` distinct angles.

    `linspace(0, 2 pi, 8)` would repeat the first mode at 2 pi and drop one:
    the angles here are 2 pi i / num_modes for i < num_modes.
    """
    if num_modes < 1:
        raise ValueError(f"num_modes must be >= 1, got {num_modes}")
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def grid_modes(size: int = 5, spacing: float = 2.0) -> np.ndarray:
    """Centres [size * size, 2] on a grid centred at the origin (5x5, spacing 2: -4..4)."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    coords = spacing * (np.arange(size) - (size - 1) / 2.0)
    xx, yy = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


def sample_mixture(key: PRNGKey, num_samples: int, modes: Array, std: float) -> Array:
    """`num_samples` points [n, 2] from the equal-weight mixture of N(mode, std^2 I)."""
    mode_key, noise_key = jax.random.split(key)
    modes = jnp.asarray(modes)
    idx = jax.random.randint(mode_key, (num_samples,), 0, modes.shape[0])
    return modes[idx] + std * jax.random.normal(noise_key, (num_samples, modes.shape[1]))


def ring_of_gaussians(key: PRNGKey, num_samples: int) -> Array:
    """The ring of 8: unit radius, std 0.01."""
    return sample_mixture(key, num_samples, ring_modes(), RING_STD)


def grid_of_gaussians(key: PRNGKey, num_samples: int) -> Array:
    """The 5x5 grid: spacing 2, std 0.05."""
    return sample_mixture(key, num_samples, grid_modes(), GRID_STD)


MIXTURES = {
    "ring": (ring_modes, RING_STD),
    "grid": (grid_modes, GRID_STD),
}


def load_mixture(name: str) -> tuple[np.ndarray, float]:
    """(modes, std) of a named mixture: 'ring' or 'grid'."""
    if name not in MIXTURES:
        raise ValueError(f"unknown mixture {name!r}; known: {sorted(MIXTURES)}")
    modes_fn, std = MIXTURES[name]
    return modes_fn(), std
