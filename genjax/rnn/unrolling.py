"""Unrolling cells over time with `lax.scan`: masking, reverse, bidirectional, stacked layers.

Arrays are batch-major: inputs `xs: [B, T, D]`, outputs `ys: [B, T, H]`, carries
with leaves `[B, H]`. A per-example `lengths: [B]` marks steps `t >= lengths[b]`
as padding: they neither change the carry nor emit output (their outputs are
zeros), so the final carry is the state after the last real step and a masked
unroll equals the unroll of the unpadded sequence (flax `nn.RNN(seq_lengths=)`,
haiku `dynamic_unroll`, PyTorch packed sequences give the same).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from genjax.rnn import fused
from genjax.rnn.cells import Carry, Cell, CellLike, as_cell
from genjax.rnn.sequences import check_carry, check_inputs
from genjax.typing import Array, Params, PRNGKey


def _where(mask: Array, new: Array, old: Array) -> Array:
    """Per-example select; `mask: [B]` against leaves `[B, ...]` (explicit rank, no promotion)."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


def initial_carry(cell: CellLike, params: Params, batch_size: int) -> Carry:
    """The zero carry of `cell` for `batch_size` examples (leaves [B, H])."""
    one = as_cell(cell).initial_carry(params)
    return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (batch_size, *a.shape)), one)


def unroll(
    cell: CellLike,
    params: Params,
    xs: Array,
    *,
    lengths: Array | None = None,
    carry: Carry | None = None,
    reverse: bool = False,
    unroll: int | str = "auto",
    backward: str = "autodiff",
) -> tuple[Carry, Array]:
    """Runs one recurrent layer over a batch of sequences with `lax.scan`.

    Args:
      cell: a `Cell` or its name ('tanh', 'lstm', 'gru').
      params: the cell's parameters.
      xs: [B, T, D] inputs.
      lengths: optional int [B] real lengths (0 <= lengths <= T); padded steps
        keep the carry and emit zeros.
      carry: the initial carry, leaves [B, H] (default zeros).
      reverse: read each sequence backwards from its last REAL step (x[len-1], ...,
        x[0]); outputs stay at their original positions.
      unroll: `lax.scan`'s unroll factor, or 'auto' (the default): 8 on a GPU, where it
        runs the LSTM training step of benchmarks/lstm_step.py faster than 1, and 1
        elsewhere, where larger factors run that step slower. The values are the same
        either way.
      backward: 'autodiff' (the default: `jax.grad` differentiates the scan) or, for the
        LSTM, 'fused': `genjax.rnn.fused.lstm`, the same layer with a hand-written
        backward pass, faster on a CPU (benchmarks/lstm_step.py); same values and
        gradients up to float rounding. `unroll` does not apply to it.

    Returns:
      (final carry, leaves [B, H]; ys [B, T, H]). With `reverse`, the final carry is
      the state after reading x[0].
    """
    cell = as_cell(cell)
    check_backward(backward, cell)
    unroll = resolve_unroll(unroll)
    if backward == "fused":
        return fused.lstm(params, xs, lengths=lengths, carry=carry, reverse=reverse)
    check_inputs(xs, lengths)
    batch, time = xs.shape[:2]
    if carry is None:
        carry = initial_carry(cell, params, batch)
    check_carry(carry, batch, "carry")
    step = jax.vmap(cell.step, in_axes=(None, 0, 0))

    def body(carry, inputs):
        t, x = inputs  # x: [B, D]
        new_carry, y = step(params, carry, x)
        if lengths is None:
            return new_carry, y
        valid = t < lengths  # [B]
        new_carry = jax.tree_util.tree_map(lambda n, o: _where(valid, n, o), new_carry, carry)
        return new_carry, _where(valid, y, jnp.zeros_like(y))

    # Reversed with padding: scanning t = T-1..0 skips the padded tail first, so the
    # real steps are read from len-1 down to 0 starting from the initial carry.
    final, ys = jax.lax.scan(
        body, carry, (jnp.arange(time), jnp.swapaxes(xs, 0, 1)), reverse=reverse, unroll=unroll
    )
    return final, jnp.swapaxes(ys, 0, 1)


BACKWARDS = ("autodiff", "fused")


def check_backward(backward: str, cell: Cell) -> None:
    """ValueError unless `backward` is one of BACKWARDS and, for 'fused', the cell an LSTM."""
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    if backward == "fused" and cell.name != "lstm":
        raise ValueError(f"backward='fused' is written for the LSTM, not the {cell.name!r} cell")


def resolve_unroll(unroll: int | str) -> int:
    """`lax.scan`'s unroll factor for `unroll` (a positive int, or 'auto': 8 on a GPU, where
    it halved an LSTM step's time, and 1 elsewhere, where unrolling slowed it)."""
    if unroll == "auto":
        return 8 if jax.default_backend() == "gpu" else 1
    if isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"unroll must be a positive integer or 'auto', got {unroll!r}")
    return unroll


unroll_fn = unroll  # `bidirectional`/`stacked` take an `unroll` argument that shadows the name


def init_bidirectional(key: PRNGKey, cell: CellLike, input_dim: int, hidden_dim: int, **options):
    """{'fwd': params, 'bwd': params}: two independent cells."""
    k_f, k_b = jax.random.split(key)
    cell = as_cell(cell)
    return {
        "fwd": cell.init(k_f, input_dim, hidden_dim, **options),
        "bwd": cell.init(k_b, input_dim, hidden_dim, **options),
    }


def bidirectional(
    cell: CellLike,
    params: Params,
    xs: Array,
    *,
    lengths: Array | None = None,
    carry: tuple[Carry, Carry] | None = None,
    unroll: int | str = "auto",
    backward: str = "autodiff",
) -> tuple[tuple[Carry, Carry], Array]:
    """A forward and a reversed pass over the same sequences, outputs concatenated.

    Args:
      params: {'fwd': ..., 'bwd': ...} (see `init_bidirectional`).
      xs, lengths, unroll, backward: as in `unroll`.
      carry: optional (forward initial carry, backward initial carry).

    Returns:
      ((forward final carry, backward final carry), ys [B, T, H_fwd + H_bwd]):
      ys[:, t] = [forward state after x[t], backward state after reading x[len-1..t]],
      zeros at padded steps.
    """
    carry_f, carry_b = (None, None) if carry is None else carry
    kw = {"lengths": lengths, "unroll": unroll, "backward": backward}
    final_f, ys_f = unroll_fn(cell, params["fwd"], xs, carry=carry_f, **kw)
    final_b, ys_b = unroll_fn(cell, params["bwd"], xs, carry=carry_b, reverse=True, **kw)
    return (final_f, final_b), jnp.concatenate([ys_f, ys_b], axis=-1)


def init_stacked(
    key: PRNGKey,
    cell: CellLike,
    input_dim: int,
    hidden_dims: int | Sequence[int],
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    **options,
) -> list[Params]:
    """Parameters of a deep RNN: a list with one entry per layer.

    Args:
      hidden_dims: one width for every layer, or one per layer (then num_layers is ignored).
      bidirectional: each layer {'fwd', 'bwd'}; the next layer reads [H_fwd + H_bwd].
      options: passed to the cell's initialiser (e.g. forget_bias).
    """
    cell = as_cell(cell)
    if isinstance(hidden_dims, int):
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        hidden_dims = [hidden_dims] * num_layers
    hidden_dims = list(hidden_dims)
    if not hidden_dims:
        raise ValueError("hidden_dims must name at least one layer")
    layers = []
    dim = input_dim
    for key_l, hidden in zip(jax.random.split(key, len(hidden_dims)), hidden_dims, strict=True):
        if bidirectional:
            layers.append(init_bidirectional(key_l, cell, dim, hidden, **options))
            dim = 2 * hidden
        else:
            layers.append(cell.init(key_l, dim, hidden, **options))
            dim = hidden
    return layers


def is_bidirectional(layer_params: Params) -> bool:
    """Whether a layer's params are {'fwd', 'bwd'} (see `init_bidirectional`)."""
    return isinstance(layer_params, dict) and set(layer_params) == {"fwd", "bwd"}


def stacked(
    cell: CellLike,
    layers: Sequence[Params],
    xs: Array,
    *,
    lengths: Array | None = None,
    carries: Sequence[Carry] | None = None,
    unroll: int | str = "auto",
    backward: str = "autodiff",
) -> tuple[list[Carry], Array]:
    """A deep RNN: layer l reads layer l-1's outputs (each layer uni- or bidirectional).

    Args:
      layers: per-layer params from `init_stacked` (a bidirectional layer is {'fwd', 'bwd'}).
      xs: [B, T, D]; lengths: optional [B].
      carries: optional per-layer initial carries (a (fwd, bwd) pair for a bidirectional layer).
      unroll, backward: as in `unroll`.

    Returns:
      (per-layer final carries, the last layer's outputs [B, T, H_last]).
    """
    if not layers:
        raise ValueError("layers must hold at least one layer")
    if carries is not None and len(carries) != len(layers):
        raise ValueError(f"carries has {len(carries)} entries for {len(layers)} layers")
    finals = []
    ys = xs
    for i, layer in enumerate(layers):
        carry = None if carries is None else carries[i]
        kw = {"lengths": lengths, "carry": carry, "unroll": unroll, "backward": backward}
        if is_bidirectional(layer):
            final, ys = bidirectional(cell, layer, ys, **kw)
        else:
            final, ys = unroll_fn(cell, layer, ys, **kw)
        finals.append(final)
    return finals, ys


def stacked_step(
    cell: CellLike, layers: Sequence[Params], carries: Sequence[Carry], x: Array
) -> tuple[list[Carry], Array]:
    """One time step of a unidirectional deep RNN on a batch (for autoregressive generation).

    Args:
      layers: per-layer params (unidirectional).
      carries: per-layer carries, leaves [B, H_l].
      x: [B, D] this step's input.

    Returns:
      (new per-layer carries, the last layer's output [B, H_last]).
    """
    cell = as_cell(cell)
    if any(is_bidirectional(layer) for layer in layers):
        raise ValueError("stacked_step runs online; bidirectional layers need the whole sequence")
    step = jax.vmap(cell.step, in_axes=(None, 0, 0))
    new = []
    y = x
    for layer, carry in zip(layers, carries, strict=True):
        carry, y = step(layer, carry, y)
        new.append(carry)
    return new, y
