"""The training state pytree and the one pure training step built from a loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from genjax.typing import Array, Metrics, Params, PRNGKey

Batch = Any  # a pytree of arrays with a leading batch axis
LossFn = Callable[[Params, Batch, PRNGKey], tuple[Array, Metrics]]
TrainStep = Callable[["TrainState", Batch], tuple["TrainState", Metrics]]


class TrainState(NamedTuple):
    """Everything a run needs to continue: saved and restored whole by the loop.

    Attributes:
      step: int32 scalar, the number of updates applied so far.
      params: the model parameters.
      opt_state: the optax optimizer state.
      key: the run's base key; step `s` uses `fold_in(key, s)` and never advances it.
    """

    step: Array
    params: Params
    opt_state: optax.OptState
    key: PRNGKey


def create_train_state(
    params: Params, optimizer: optax.GradientTransformation, key: PRNGKey
) -> TrainState:
    """A fresh `TrainState` at step 0."""
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=optimizer.init(params),
        key=key,
    )


def update_norms(grads: Params, updates: Params, params: Params) -> Metrics:
    """Global norms of the gradient, the update and the new parameters (logged every step)."""
    return {
        "grad_norm": optax.global_norm(grads),
        "update_norm": optax.global_norm(updates),
        "param_norm": optax.global_norm(params),
    }


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation) -> TrainStep:
    """Builds `train_step(state, batch) -> (state, metrics)` from a loss.

    Args:
      loss_fn: `loss_fn(params, batch, key) -> (loss, metrics)`, a pure function;
        `key` is this step's key, `fold_in(state.key, state.step)`.
      optimizer: the optax transformation applied to the gradients.

    Returns:
      A pure step (jit it once, or let `genjax.train.train` do it). Its metrics
      hold the loss, the loss function's own metrics, and the global norms of
      the gradient, the update and the parameters.
    """

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        step_key = jax.random.fold_in(state.key, state.step)
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, metrics), grads = grad_fn(state.params, batch, step_key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, **metrics, **update_norms(grads, updates, params)}
        new_state = TrainState(state.step + 1, params, opt_state, state.key)
        return new_state, metrics

    return train_step


def make_eval_step(loss_fn: LossFn) -> Callable[[Params, Batch, PRNGKey], Metrics]:
    """Builds a jitted `eval_step(params, batch, key) -> metrics` (no update, fixed key)."""

    @jax.jit
    def eval_step(params: Params, batch: Batch, key: PRNGKey) -> Metrics:
        loss, metrics = loss_fn(params, batch, key)
        return {"loss": loss, **metrics}

    return eval_step
