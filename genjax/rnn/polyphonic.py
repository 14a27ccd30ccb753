"""Polyphonic music models: many-to-many next-frame prediction of 88 binary pitch units.

The RNN reads frames x_0 = 0, x_1, ..., x_{T-1} and emits, at step t, the logits of 88
independent Bernoullis for frame x_{t+1} (Boulanger-Lewandowski et al. 2012's RNN
baseline). The score is the negative log-likelihood in nats per time step,
`architectures.sequence_bernoulli_nll`. Training-time regularisation: dropout on the
input frames and on the recurrent outputs before the readout, and random transposition
of whole pieces (`transpose`). `fit` trains one model and keeps its best valid step.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import train
from genjax.data import make_batch_fn
from genjax.rnn import architectures as arch
from genjax.rnn import unrolling
from genjax.rnn.cells import CellLike
from genjax.typing import Array, Params, PRNGKey

NUM_PITCHES = 88
log = logging.getLogger("genjax")


def init(key: PRNGKey, cell: CellLike, hidden_dim: int, *, num_layers: int = 1, **options):
    """Parameters of a stacked RNN over 88 pitch units with an 88-unit readout."""
    return arch.init_many_to_many(
        key, cell, NUM_PITCHES, hidden_dim, NUM_PITCHES, num_layers=num_layers, **options
    )


def _dropout(key: PRNGKey | None, x: Array, rate: float) -> Array:
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def logits(
    cell: CellLike,
    params: Params,
    inputs: Array,
    lengths: Array | None = None,
    *,
    key: PRNGKey | None = None,
    input_dropout: float = 0.0,
    output_dropout: float = 0.0,
    backward: str = "autodiff",
) -> Array:
    """Next-frame logits [B, T, 88] for inputs [B, T, 88]; dropout only when `key` is given.

    backward: as in `genjax.rnn.unroll` ('fused': the LSTM's hand-written backward pass,
    `genjax.rnn.fused`, the same gradients to float rounding; faster on a CPU in
    `benchmarks/lstm_step`'s setting, hidden 128, but not in `music`'s, hidden 256).
    """
    if inputs.ndim != 3 or inputs.shape[-1] != NUM_PITCHES:
        raise ValueError(f"inputs must be [batch, time, {NUM_PITCHES}], got {inputs.shape}")
    for name, rate in (("input_dropout", input_dropout), ("output_dropout", output_dropout)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate}")
    k_in, k_out = (None, None) if key is None else jax.random.split(key)
    xs = _dropout(k_in, inputs, input_dropout)
    _, ys = unrolling.stacked(cell, params["rnn"], xs, lengths=lengths, backward=backward)
    return arch.dense(params["readout"], _dropout(k_out, ys, output_dropout))


def nll_per_step(cell: CellLike, params: Params, inputs: Array, targets: Array,
                 lengths: Array | None = None, *, skip_first: int = 0) -> Array:  # fmt: skip
    """Mean over real frames of the summed Bernoulli NLL (nats per time step), no dropout.

    `skip_first=1` leaves each piece's first frame unscored (the standard protocol of
    Bai et al. 2018: frames 2..T, each predicted from the frames before it).
    """
    return arch.sequence_bernoulli_nll(
        logits(cell, params, inputs, lengths), targets, lengths, skip_first=skip_first
    )


def transpose(key: PRNGKey, rolls: Array, max_shift: int) -> Array:
    """Shifts each piece [B, T, 88] by its own random number of semitones in [-max, max].

    Notes shifted past either end of the keyboard are dropped. Apply the same key to a
    piece's inputs and targets (they are the same roll, shifted in time).
    """
    if max_shift == 0:
        return rolls
    shifts = jax.random.randint(key, (rolls.shape[0],), -max_shift, max_shift + 1)
    padded = jnp.pad(rolls, ((0, 0), (0, 0), (max_shift, max_shift)))

    def one(roll, shift):
        return jax.lax.dynamic_slice_in_dim(roll, max_shift - shift, NUM_PITCHES, axis=-1)

    return jax.vmap(one)(padded, shifts)


def continue_piece(
    key: PRNGKey,
    cell: CellLike,
    params: Params,
    primer: Array,
    num_frames: int,
    temperature: float = 1.0,
) -> Array:
    """Samples `num_frames` frames [B, num_frames, 88] after primers [B, P, 88] (P >= 1).

    The primer is read as in training (a zero frame first); each later frame is drawn
    from the 88 Bernoullis and fed back (`architectures.generate`, a `lax.scan`).
    """
    if primer.ndim != 3 or primer.shape[1] < 1 or primer.shape[-1] != NUM_PITCHES:
        raise ValueError(f"primer must be [batch, frames >= 1, {NUM_PITCHES}], got {primer.shape}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    layers = params["rnn"]
    read = jnp.concatenate([jnp.zeros_like(primer[:, :1]), primer[:, :-1]], axis=1)
    carries, _ = unrolling.stacked(cell, layers, read)

    def feedback(step_key, step_logits):
        frame = jax.random.bernoulli(step_key, jax.nn.sigmoid(step_logits / temperature))
        frame = frame.astype(primer.dtype)
        return frame, frame

    _, frames = arch.generate(
        key, cell, layers, params["readout"], carries, primer[:, -1], num_frames, feedback
    )
    return frames


def marginal_nll_per_step(
    train_rolls: list[np.ndarray], test_rolls: list[np.ndarray], *, skip_first: int = 0
) -> float:
    """The frame-independent baseline: each pitch an independent Bernoulli with its training
    frequency (add-one smoothed); nats per test frame, each test piece's first `skip_first`
    frames left out (as `nll_per_step`)."""
    if skip_first < 0:
        raise ValueError(f"skip_first must be >= 0, got {skip_first}")
    train = np.concatenate(train_rolls).astype(np.float64)
    p = (train.sum(0) + 1.0) / (train.shape[0] + 2.0)
    test = np.concatenate([r[skip_first:] for r in test_rolls]).astype(np.float64)
    ll = test @ np.log(p) + (1.0 - test) @ np.log1p(-p)
    return float(-ll.mean())


def _training_loss(cell: CellLike, transpose_max: int, input_dropout: float,
                   output_dropout: float) -> Callable:  # fmt: skip
    """`loss_fn(params, batch, step_key)` for `train.make_train_step`: the NLL of a batch of
    pieces, each transposed at random, with dropout on the inputs and outputs."""

    def loss_fn(params, batch, step_key):
        inputs, targets, lengths = batch
        k_shift, k_drop = jax.random.split(step_key)
        inputs = transpose(k_shift, inputs, transpose_max)
        targets = transpose(k_shift, targets, transpose_max)
        out = logits(
            cell, params, inputs, lengths, key=k_drop, input_dropout=input_dropout,
            output_dropout=output_dropout,
        )  # fmt: skip
        return arch.sequence_bernoulli_nll(out, targets, lengths), {}

    return loss_fn


class FitResult(NamedTuple):
    """What `fit` returns."""

    params: Params  # at the step with the lowest valid NLL (host arrays)
    best_step: int
    evals: list[dict]  # the evaluation records: step, valid_nll (, valid_nll_last_iterate)
    nll: Callable[..., Array]  # jitted `nll(params, inputs, targets, lengths)`, no dropout


def fit(
    key: PRNGKey,
    cell: CellLike,
    arrays: Mapping[str, tuple[Array, Array, Array]],
    *,
    hidden_dim: int,
    num_layers: int,
    batch_size: int,
    learning_rate: float,
    clip_norm: float,
    num_steps: int,
    eval_every: int,
    log_every: int,
    ema_decay: float = 0.0,
    transpose_max: int = 0,
    input_dropout: float = 0.0,
    output_dropout: float = 0.0,
    skip_first: int = 1,
    patience: int = 0,
) -> FitResult:
    """Trains a next-frame model on `arrays['train']`, keeping the step with the lowest valid NLL.

    Adam on the global-norm-clipped gradient with a cosine decay to 5% of `learning_rate`
    over `num_steps`; pieces transposed by up to `transpose_max` semitones and dropout on
    the inputs and outputs in training. Every `eval_every` steps the valid NLL
    (`nll_per_step` with `skip_first`) is measured and the best step's parameters kept.
    With `ema_decay > 0` it is the moving average of the iterates
    (`genjax.train.param_ema`) that is evaluated and kept; the last iterate's valid NLL
    is recorded beside it. With `patience > 0` training stops early once that many steps
    pass without a lower valid NLL (asked every `log_every` steps; the schedule stays
    the one over `num_steps`).

    Args:
      arrays: {'train', 'valid'} -> (inputs, targets, lengths), as `data.music.pad_rolls`.
    """
    if patience < 0:
        raise ValueError(f"patience must be >= 0 (0: off), got {patience}")
    k_init, k_data, k_train = jax.random.split(key, 3)
    params = init(k_init, cell, hidden_dim, num_layers=num_layers)
    schedule = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.05)
    optimizer = optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(schedule))
    if ema_decay > 0:  # evaluate (and keep) the average of the iterates
        optimizer = optax.chain(optimizer, train.param_ema(ema_decay))

    def model_params(state):
        return train.averaged_params(state.opt_state) if ema_decay > 0 else state.params

    loss_fn = _training_loss(cell, transpose_max, input_dropout, output_dropout)
    nll = jax.jit(functools.partial(nll_per_step, cell, skip_first=skip_first))
    best = {"nll": float("inf"), "params": params, "step": 0, "evaluated": 0}

    def eval_fn(state):
        params = model_params(state)
        valid = float(nll(params, *arrays["valid"]))
        best["evaluated"] = int(state.step)
        if valid < best["nll"]:
            best.update(nll=valid, params=jax.device_get(params), step=int(state.step))
        record, last = {"valid_nll": valid}, ""
        if ema_decay > 0:  # the last iterate beside the average, for comparison
            record["valid_nll_last_iterate"] = float(nll(state.params, *arrays["valid"]))
            last = f"; last iterate {record['valid_nll_last_iterate']:.3f}"
        log.info("%s step %d: valid NLL %.3f (best %.3f at step %d)%s", cell, int(state.step),
                 valid, best["nll"], best["step"], last)  # fmt: skip
        return record

    def stop_fn(step, _):  # no lower valid NLL in the last `patience` evaluated steps
        return best["evaluated"] - best["step"] >= patience

    result = train.train(
        train.create_train_state(params, optimizer, k_train),
        train.make_train_step(loss_fn, optimizer),
        make_batch_fn(arrays["train"], batch_size, k_data),
        num_steps, log_every=log_every, eval_fn=eval_fn, eval_every=eval_every,
        stop_fn=stop_fn if patience else None,
    )  # fmt: skip
    evals = [r for r in result.history if "valid_nll" in r]
    return FitResult(best["params"], best["step"], evals, nll)
