"""Synthetic long-range tasks: the adding problem and the copy task.

Claims 3.3-3.6 in docs/claims.md.

- Adding (Hochreiter & Schmidhuber 1997; the variant of Arjovsky et al. 2016):
  inputs [B, T, 2] = (value ~ U[0, 1], marker); exactly one marker in each half;
  target = the sum of the two marked values. Predicting the mean 1 scores
  MSE = Var(U1 + U2) = 1/6 = 0.167. With `min_lag=L` both markers lie in the
  first T - L steps (one in each half of them), so every dependency is longer
  than L steps: truncated BPTT with a window K <= L never sees a marker (3.5).
  `max_lag=M` also keeps them within M steps of the end: lags in [L, M].
- Copy (Arjovsky et al. 2016): 10 symbols from {1..8}, T - 1 blanks (0), the
  delimiter 9, 10 blanks; the targets are T + 10 blanks then the 10 symbols.
  Memoryless baseline cross-entropy: 10 log 8 / (T + 20).

`adding_loss` and `copy_loss` score a network of `genjax.rnn.architectures` on a batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from genjax._checks import check_batch_type
from genjax.rnn import architectures as arch
from genjax.rnn.cells import CellLike
from genjax.typing import Array, Params, PRNGKey

ADDING_BASELINE_MSE = 1.0 / 6.0
COPY_SYMBOLS = 10  # the remembered prefix length
COPY_INPUT_CLASSES = 10  # 0 blank, 1..8 symbols, 9 delimiter
COPY_OUTPUT_CLASSES = 9  # 0 blank, 1..8 symbols


class AddingBatch(NamedTuple):
    """inputs: [B, T, 2] (value, marker); targets: [B]."""

    inputs: Array
    targets: Array


class CopyBatch(NamedTuple):
    """inputs: [B, T + 20, 10] one-hot; targets: int [B, T + 20]."""

    inputs: Array
    targets: Array


def _check(batch_size: int, length: int, min_length: int) -> None:
    for name, value, low in (("batch_size", batch_size, 1), ("length", length, min_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def adding_batch(
    key: PRNGKey, batch_size: int, length: int, *, min_lag: int = 0, max_lag: int | None = None
) -> AddingBatch:
    """A batch of the adding problem of length T (T >= 2).

    A marker at step p has lag T - 1 - p: the steps from it to the last step, where the
    target is read.

    Args:
      key: PRNG key.
      batch_size: B.
      length: T.
      min_lag: L >= 0; the markers lie at steps < T - L (T - L >= 2), one in each half of
        the first T - L steps, i.e. more than L steps before the end. 0: the standard task.
      max_lag: M with L + 1 <= M <= T - 1, or None (T - 1); the markers lie at steps
        >= T - 1 - M, one in each half of the steps [T - 1 - M, T - L): every lag in [L, M].

    Returns:
      AddingBatch(inputs [B, T, 2], targets [B]).
    """
    _check(batch_size, length, 2)
    if isinstance(min_lag, bool) or not isinstance(min_lag, int) or not 0 <= min_lag <= length - 2:
        raise ValueError(f"min_lag must be an integer in [0, length - 2], got {min_lag!r}")
    max_lag = length - 1 if max_lag is None else max_lag
    if isinstance(max_lag, bool) or not isinstance(max_lag, int):
        raise ValueError(f"max_lag must be an integer or None, got {max_lag!r}")
    if not min_lag + 1 <= max_lag <= length - 1:
        raise ValueError(f"max_lag must be in [min_lag + 1, length - 1], got {max_lag!r}")
    k_v, k_1, k_2 = jax.random.split(key, 3)
    start, stop = length - 1 - max_lag, length - min_lag  # the markers' steps: [start, stop)
    half = start + (stop - start) // 2
    values = jax.random.uniform(k_v, (batch_size, length))
    first = jax.random.randint(k_1, (batch_size,), start, half)
    second = jax.random.randint(k_2, (batch_size,), half, stop)
    steps = jnp.arange(length)[None, :]
    markers = ((steps == first[:, None]) | (steps == second[:, None])).astype(values.dtype)
    inputs = jnp.stack([values, markers], axis=-1)
    return AddingBatch(inputs, jnp.sum(values * markers, axis=1))


def copy_batch(key: PRNGKey, batch_size: int, length: int) -> CopyBatch:
    """A batch of the copy task with T blanks between the symbols and their recall (T >= 1)."""
    _check(batch_size, length, 1)
    total = length + 2 * COPY_SYMBOLS
    symbols = jax.random.randint(key, (batch_size, COPY_SYMBOLS), 1, 9)
    blanks_in = jnp.zeros((batch_size, length - 1), jnp.int32)
    delimiter = jnp.full((batch_size, 1), 9, jnp.int32)
    tail = jnp.zeros((batch_size, COPY_SYMBOLS), jnp.int32)
    tokens = jnp.concatenate([symbols, blanks_in, delimiter, tail], axis=1)
    targets = jnp.concatenate(
        [jnp.zeros((batch_size, length + COPY_SYMBOLS), jnp.int32), symbols], axis=1
    )
    assert tokens.shape == targets.shape == (batch_size, total)
    return CopyBatch(jax.nn.one_hot(tokens, COPY_INPUT_CLASSES), targets)


def copy_baseline_xent(length: int) -> float:
    """Cross-entropy per step of the memoryless predictor: 10 log 8 / (T + 20)."""
    return COPY_SYMBOLS * math.log(8) / (length + 2 * COPY_SYMBOLS)


def adding_loss(
    cell: CellLike, params: Params, batch: AddingBatch, *, window: int | None = None
) -> Array:
    """Mean squared error of a many-to-one network's output [B] against the marked sum.

    window: truncated BPTT with this window (`genjax.rnn.tbptt`); None: full BPTT.
    """
    check_batch_type(batch, AddingBatch, "adding_loss")
    pred = arch.many_to_one(cell, params, batch.inputs, window=window)[:, 0]
    return jnp.mean((pred - batch.targets) ** 2)


def copy_loss(
    cell: CellLike, params: Params, batch: CopyBatch, *, window: int | None = None
) -> Array:
    """Softmax cross-entropy per step of an aligned many-to-many network on the copy task."""
    check_batch_type(batch, CopyBatch, "copy_loss")
    logits = arch.many_to_many(cell, params, batch.inputs, window=window)
    return arch.sequence_softmax_xent(logits, batch.targets)
