"""How well a generator covers its data's modes (2.4, 2.5): PacGAN's statistics and their summaries.

`mode_statistics` follows PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et
al. 2017): a sample is high-quality if it lies within 3 standard deviations of
its nearest mode; a mode is captured if at least one high-quality sample is
nearest to it; reverse KL is KL(captured-mode histogram || uniform).
`class_histogram_kl` is the same KL for samples a classifier has labelled
(MNIST digits). `seed_summary` and `stability_metrics` reduce per-run numbers to
the metrics the mixture benchmark reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, Metrics

# The two GAN generator losses the stability study pools as "the GAN" (2.5).
GAN_LOSSES = ("gan_minimax", "gan_nonsaturating")
# A stability-study row: (variant, D depth, learning rate, seed, modes, hq, success).
StabilityRow = tuple[str, int, float, int, float, float, bool]


def mode_statistics(samples: Array, modes: Array, std: float, hq_stds: float = 3.0) -> Metrics:
    """PacGAN's mode-coverage numbers for one set of samples [n, dim] of a mixture.

    Returns:
      modes: the number of captured modes (a high-quality sample is nearest to it).
      hq: the fraction of high-quality samples (within `hq_stds` * std of the nearest mode).
      reverse_kl: KL(p || uniform) of the high-quality samples' histogram over modes,
        in nats; log(number of modes), its largest value, when no sample is high-quality.
      counts: [num_modes] high-quality samples per mode.
    """
    if np.ndim(samples) != 2 or np.ndim(modes) != 2 or np.shape(samples)[1] != np.shape(modes)[1]:
        raise ValueError(
            f"samples [n, dim] and modes [m, dim] need the same dim, got {np.shape(samples)} "
            f"and {np.shape(modes)}"
        )
    if np.shape(modes)[0] < 1:
        raise ValueError("a mixture needs at least one mode")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    num_modes = modes.shape[0]
    dist = jnp.sqrt(jnp.sum((samples[:, None, :] - modes[None, :, :]) ** 2, axis=-1))
    nearest = jnp.argmin(dist, axis=1)
    high_quality = jnp.min(dist, axis=1) <= hq_stds * std
    counts = jnp.zeros(num_modes).at[nearest].add(high_quality.astype(jnp.float32))
    total = jnp.sum(counts)
    p = counts / jnp.maximum(total, 1.0)
    kl = jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0) * num_modes), 0.0))
    return {
        "modes": jnp.sum(counts > 0).astype(jnp.float32),
        "hq": jnp.mean(high_quality.astype(jnp.float32)),
        "reverse_kl": jnp.where(total > 0, kl, jnp.log(float(num_modes))),
        "counts": counts,
    }


def class_histogram_kl(labels: np.ndarray, num_classes: int = 10) -> float:
    """KL(empirical class histogram || uniform) in nats (0 * log 0 = 0).

    0 when every class appears equally often, log(num_classes) when one class is
    all there is: mode coverage over classes a judge assigns (e.g. MNIST digits).

    Args:
      labels: [n] integer class labels in [0, num_classes).
    """
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    p = counts / counts.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] * num_classes)))


def seed_summary(per_seed: Mapping[str, np.ndarray]) -> dict[str, float]:
    """`modes_mean`, `modes_std`, `hq_mean`, `reverse_kl_mean`, `w1_mean` over runs.

    Args:
      per_seed: [R] arrays 'modes', 'hq', 'reverse_kl' (from `mode_statistics`) and 'w1'.
    """
    return {
        "modes_mean": float(per_seed["modes"].mean()),
        "modes_std": float(per_seed["modes"].std()),
        "hq_mean": float(per_seed["hq"].mean()),
        "reverse_kl_mean": float(per_seed["reverse_kl"].mean()),
        "w1_mean": float(per_seed["w1"].mean()),
    }


def stability_metrics(rows: Iterable[Sequence], prefix: str = "ring") -> dict[str, float]:
    """Success rates per method of a stability study's rows (`StabilityRow`, success last).

    Returns:
      `{prefix}_{method}_success_rate` per method; `{prefix}_gan_success_rate` over
      both GAN losses (`GAN_LOSSES`) when the rows hold either; and
      `stability_runs_per_method`, the most runs any method has.
    """
    success: dict[str, list[bool]] = {}
    for row in rows:
        success.setdefault(row[0], []).append(bool(row[-1]))
    metrics = {f"{prefix}_{name}_success_rate": float(np.mean(v)) for name, v in success.items()}
    gans = [ok for name in GAN_LOSSES for ok in success.get(name, [])]
    if gans:
        metrics[f"{prefix}_gan_success_rate"] = float(np.mean(gans))
    metrics["stability_runs_per_method"] = float(max(len(v) for v in success.values()))
    return metrics
