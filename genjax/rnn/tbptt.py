"""Truncated backpropagation through time (claim 3.5 in docs/claims.md; Williams & Peng 1990).

The sequence is cut into chunks of `window` steps; the forward pass runs through
all of them, but each chunk starts from `lax.stop_gradient` of the previous
chunk's final carry, so a loss at step t sends gradient back at most to the
start of t's chunk. `jax.grad` of a loss computed from `truncated_stacked`'s
outputs is therefore the truncated-BPTT gradient (summed over chunks, one update
per sequence); with window >= T it is the full BPTT gradient.

As a training-step option: pass `window=K` to `genjax.rnn.architectures`'
`many_to_one` / `many_to_many` inside the loss given to `make_train_step`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from genjax.rnn import unrolling
from genjax.rnn.cells import Carry, CellLike, as_cell
from genjax.rnn.sequences import check_inputs
from genjax.typing import Array, Params


def check_window(window: int) -> None:
    """ValueError unless window is an integer >= 1."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(
            f"window (the truncation length K) must be an integer >= 1, got {window!r}"
        )


def truncated_stacked(
    cell: CellLike,
    layers: Sequence[Params],
    xs: Array,
    window: int,
    *,
    lengths: Array | None = None,
    carries: Sequence[Carry] | None = None,
    unroll: int | str = "auto",
) -> tuple[list[Carry], Array]:
    """`unrolling.stacked` with the gradient cut every `window` steps (same outputs, cut grads).

    Args:
      layers: per-layer params (unidirectional: truncation is a causal idea).
      xs: [B, T, D]; T need not be a multiple of window (the tail is padded and masked).
      window: K >= 1.
      lengths, carries, unroll: as in `unrolling.stacked`.

    Returns:
      (per-layer final carries, last-layer outputs [B, T, H]).
    """
    check_window(window)
    cell = as_cell(cell)
    check_inputs(xs, lengths)
    if any(unrolling.is_bidirectional(layer) for layer in layers):
        raise ValueError("truncated BPTT needs unidirectional layers")
    batch, time, dim = xs.shape
    if carries is None:
        carries = [unrolling.initial_carry(cell, layer, batch) for layer in layers]
    if window >= time:
        return unrolling.stacked(cell, layers, xs, lengths=lengths, carries=carries, unroll=unroll)
    num_chunks = -(-time // window)
    padded = num_chunks * window
    lengths = jnp.full((batch,), time) if lengths is None else jnp.asarray(lengths)
    xs = jnp.pad(xs, ((0, 0), (0, padded - time), (0, 0)))
    chunks = jnp.swapaxes(xs.reshape(batch, num_chunks, window, dim), 0, 1)  # [C, B, K, D]

    def body(carries, inputs):
        j, chunk = inputs
        carries = jax.lax.stop_gradient(carries)  # the truncation
        chunk_lengths = jnp.clip(lengths - j * window, 0, window)
        carries, ys = unrolling.stacked(
            cell, layers, chunk, lengths=chunk_lengths, carries=carries, unroll=unroll
        )
        return carries, ys

    finals, ys = jax.lax.scan(body, list(carries), (jnp.arange(num_chunks), chunks))
    ys = jnp.swapaxes(ys, 0, 1).reshape(batch, padded, -1)[:, :time]
    return finals, ys
