"""Padded batches of sequences: their shape checks and the mask of their real steps.

Arrays are batch-major: inputs `xs: [B, T, D]`, carries with leaves `[B, H]`, and a
per-example `lengths: [B]` that marks steps `t >= lengths[b]` as padding. The
unrolling (`genjax.rnn.unrolling`), the fused LSTM (`genjax.rnn.fused`) and the
cuDNN path (`genjax.rnn.cudnn`) all check their inputs here.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax.rnn.cells import Carry
from genjax.typing import Array


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_inputs(xs: Array, lengths: Array | None, name: str = "xs") -> None:
    """Validates `xs: [B, T, D]` and `lengths: [B]` (values checked when not traced)."""
    if xs.ndim != 3:
        raise ValueError(f"{name} must be [batch, time, features], got shape {xs.shape}")
    if lengths is None:
        return
    batch, time = xs.shape[:2]
    # Values are checked whenever they are known: also for concrete lengths closed over
    # by a jitted function, where jnp operations on them would already be traced.
    concrete = np.asarray(lengths) if _is_concrete(lengths) else None
    lengths = jnp.asarray(lengths)
    if lengths.shape != (batch,):
        raise ValueError(
            f"lengths must have shape [batch]=({batch},) to match {name} {xs.shape}, "
            f"got {lengths.shape}"
        )
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if concrete is not None:
        lo, hi = int(concrete.min()), int(concrete.max())
        if lo < 0:
            raise ValueError(f"lengths must be >= 0, got a length {lo}")
        if hi > time:
            raise ValueError(f"lengths must be <= the padded length T={time}, got a length {hi}")


def check_carry(carry: Carry, batch: int, name: str) -> None:
    """ValueError naming `name` unless every leaf of `carry` has a leading axis of `batch`."""
    for leaf in jax.tree_util.tree_leaves(carry):
        if leaf.ndim < 1 or leaf.shape[0] != batch:
            raise ValueError(
                f"{name} leaves must have a leading batch axis of size {batch}, got {leaf.shape}"
            )


def sequence_mask(lengths: Array, time: int) -> Array:
    """[B, T] bool: True at real steps t < lengths[b]."""
    return jnp.arange(time)[None, :] < lengths[:, None]
