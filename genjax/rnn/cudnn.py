"""The GPU fast path: a stacked LSTM through cuDNN (`jax.experimental.rnn`), same interface.

`stacked_lstm(layers, xs, lengths=..., carries=...)` takes the parameters of
`unrolling.init_stacked('lstm', ...)` (uni- or bidirectional layers) and returns what
`unrolling.stacked('lstm', ...)` returns: (per-layer final carries, the last layer's
outputs [B, T, H * directions], zeros at padded steps). Our parameters are packed
into cuDNN's flat weight vector inside the traced function (a concatenation), so
`jax.grad` reaches the same pytree. Gate order is the same (i, f, g, o); cuDNN's
second bias b_hh is zero.

cuDNN needs every layer to have the same hidden size and direction, a GPU, and
float32; `available()` says whether this process can use it. `unrolling.stacked`
does not switch by itself: call this where you want the fast path, or use
`stacked_lstm_auto`, which picks cuDNN on a GPU and the scan elsewhere.
Numerics: cuDNN may use TF32 matrix products unless the default matmul precision
is 'highest' (`jax.default_matmul_precision('highest')`), so expect ~1e-3 relative
differences from the scan by default.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from genjax.rnn import unrolling
from genjax.rnn.cells import LSTMCarry
from genjax.rnn.sequences import check_inputs, sequence_mask
from genjax.typing import Array, Params


def available() -> bool:
    """Whether the default backend is a CUDA GPU (where cuDNN's LSTM runs)."""
    return jax.default_backend() == "gpu"


def _directions(layers: Sequence[Params]) -> list[Params]:
    """Each layer's list of direction params, checking the layout cuDNN needs."""
    if not layers:
        raise ValueError("layers must hold at least one layer")
    out = []
    for layer in layers:
        dirs = [layer["fwd"], layer["bwd"]] if unrolling.is_bidirectional(layer) else [layer]
        if any(set(p) != {"W_x", "W_h", "b"} for p in dirs):
            raise ValueError("cuDNN's path takes LSTM layers ({'W_x', 'W_h', 'b'}) only")
        out.append(dirs)
    if len({len(d) for d in out}) != 1:
        raise ValueError("cuDNN needs every layer to have the same direction(s)")
    if len({p["W_h"].shape[1] for d in out for p in d}) != 1:
        raise ValueError("cuDNN needs every layer to have the same hidden size")
    return out


def pack_weights(layers: Sequence[Params]) -> Array:
    """cuDNN's flat weight vector: all (W_ih, W_hh) in layer-direction order, then the biases."""
    dirs = [p for d in _directions(layers) for p in d]
    weights = [w for p in dirs for w in (p["W_x"].ravel(), p["W_h"].ravel())]
    biases = [b for p in dirs for b in (p["b"], jnp.zeros_like(p["b"]))]
    return jnp.concatenate(weights + biases)


def stacked_lstm(
    layers: Sequence[Params],
    xs: Array,
    *,
    lengths: Array | None = None,
    carries: Sequence[LSTMCarry | tuple[LSTMCarry, LSTMCarry]] | None = None,
) -> tuple[list, Array]:
    """`unrolling.stacked('lstm', layers, xs, lengths=..., carries=...)` through cuDNN."""
    from jax.experimental import rnn as jrnn  # noqa: PLC0415 (GPU-only module)

    dirs = _directions(layers)
    check_inputs(xs, lengths)
    batch, time, input_dim = xs.shape
    num_layers, num_dirs = len(dirs), len(dirs[0])
    hidden = dirs[0][0]["W_h"].shape[1]
    if dirs[0][0]["W_x"].shape[1] != input_dim:
        raise ValueError(f"xs has {input_dim} features; the first layer expects "
                         f"{dirs[0][0]['W_x'].shape[1]}")  # fmt: skip
    if carries is None:
        h0 = c0 = jnp.zeros((num_layers * num_dirs, batch, hidden), xs.dtype)
    else:
        if len(carries) != num_layers:
            raise ValueError(f"carries has {len(carries)} entries for {num_layers} layers")
        flat = [c for layer in carries for c in (layer if num_dirs == 2 else (layer,))]
        h0 = jnp.stack([c.h for c in flat])
        c0 = jnp.stack([c.c for c in flat])
    seq_lengths = (
        jnp.full((batch,), time, jnp.int32) if lengths is None else lengths.astype(jnp.int32)
    )
    ys, hn, cn = jrnn.lstm(
        xs, h0, c0, pack_weights(layers), seq_lengths, input_size=input_dim,
        hidden_size=hidden, num_layers=num_layers, dropout=0.0, bidirectional=num_dirs == 2,
    )  # fmt: skip
    if lengths is not None:
        ys = jnp.where(sequence_mask(lengths, time)[..., None], ys, 0.0)
    finals = []
    for layer in range(num_layers):
        pair = [LSTMCarry(hn[layer * num_dirs + d], cn[layer * num_dirs + d])
                for d in range(num_dirs)]  # fmt: skip
        finals.append(pair[0] if num_dirs == 1 else tuple(pair))
    return finals, ys


def stacked_lstm_auto(layers, xs, *, lengths=None, carries=None, unroll: int | str = "auto"):
    """cuDNN on a GPU (when the layers allow it), else `unrolling.stacked('lstm', ...)`."""
    if available():
        try:
            _directions(layers)
        except ValueError:
            pass
        else:
            return stacked_lstm(layers, xs, lengths=lengths, carries=carries)
    return unrolling.stacked("lstm", layers, xs, lengths=lengths, carries=carries, unroll=unroll)
