"""Truncated backpropagation through time (claim 3.5 in docs/claims.md; Williams & Peng 1990).

The sequence is cut into chunks of `window` steps; the forward pass runs through
all of them, but each chunk starts from `lax.stop_gradient` of the previous
chunk's final carry, so a loss at step t sends gradient back at most to the
start of t's chunk. `jax.grad` of a loss computed from `truncated_stacked`'s
outputs is therefore the truncated-BPTT gradient (summed over chunks, one update
per sequence); with window >= T it is the full BPTT gradient.

As a training-step option: pass `window=K` to `genjax.rnn.architectures`'
`many_to_one` / `many_to_many` inside the loss given to `make_train_step`.

`gated_stacked` computes the same gradient from per-step gates (`window_gates`)
instead of chunks: the window is then an array, not a shape, so runs with
different windows can share one compiled, vmapped step (`genjax.rnn.training`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from genjax.rnn import unrolling
from genjax.rnn.cells import Carry, Cell, CellLike, as_cell
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


def window_gates(time: int, window: Array | int) -> Array:
    """[T] float gates of truncated BPTT with window K (an int or a traced int scalar).

    0 at the steps whose incoming carry `truncated_stacked` cuts (t = 0, K, 2K, ... < T
    when K < T), 1 elsewhere; all 1 when K >= T (full BPTT).
    """
    t = jnp.arange(time)
    window = jnp.asarray(window)
    return jnp.where((window < time) & (t % window == 0), 0.0, 1.0)


def _gated_cell(cell: Cell) -> Cell:
    """`cell` reading [x_t, gate_t]: the incoming carry passes forward unchanged, its
    gradient multiplied by gate_t (exactly 0 where the gate is 0)."""

    def step(params: Params, carry: Carry, x: Array) -> tuple[Carry, Array]:
        gate = x[-1]

        def gated(c: Array) -> Array:
            frozen = jax.lax.stop_gradient(c)
            return frozen + gate * (c - frozen)  # value c; gradient gate * d/dc

        return cell.step(params, jax.tree_util.tree_map(gated, carry), x[:-1])

    return Cell(cell.name, cell.init, step, cell.initial_carry)


def gated_stacked(
    cell: CellLike,
    layers: Sequence[Params],
    xs: Array,
    gates: Array,
    *,
    carries: Sequence[Carry] | None = None,
    unroll: int | str = "auto",
) -> tuple[list[Carry], Array]:
    """`unrolling.stacked` with the gradient through the carry entering step t times gates[t].

    The forward pass is `unrolling.stacked`'s. With `gates = window_gates(T, K)` the
    gradient is `truncated_stacked`'s with window K, but `gates` is an array: under
    `jax.vmap` each run may have its own window in one compiled step.

    Args:
      layers: per-layer params (unidirectional); every layer's carry is gated.
      xs: [B, T, D], every sequence of full length T; gates: [T] (shared by the batch).
      carries, unroll: as in `unrolling.stacked`.

    Returns:
      (per-layer final carries, last-layer outputs [B, T, H]).
    """
    cell = as_cell(cell)
    check_inputs(xs, None)
    if any(unrolling.is_bidirectional(layer) for layer in layers):
        raise ValueError("truncated BPTT needs unidirectional layers")
    batch, time = xs.shape[:2]
    if jnp.shape(gates) != (time,):
        raise ValueError(f"gates must have shape [T] = ({time},), got {jnp.shape(gates)}")
    column = jnp.broadcast_to(jnp.asarray(gates, xs.dtype)[None, :, None], (batch, time, 1))
    finals, ys = [], xs
    for i, layer in enumerate(layers):
        carry = None if carries is None else carries[i]
        final, ys = unrolling.unroll(
            _gated_cell(cell), layer, jnp.concatenate([ys, column], axis=-1),
            carry=carry, unroll=unroll,
        )  # fmt: skip
        finals.append(final)
    return finals, ys
