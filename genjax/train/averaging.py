"""Polyak averaging: an exponential moving average of the parameters, kept in the optimizer state.

`param_ema(decay)` is an optax transformation that leaves the updates unchanged
and tracks `ema <- decay * ema + (1 - decay) * (params + updates)` (the
parameters after this step) in its state, so the average is checkpointed,
restored and sharded with the rest of the `TrainState`. Chain it last:

    optimizer = optax.chain(optax.adam(1e-3), train.param_ema(0.999))
    ...
    averaged = train.averaged_params(state.opt_state)

The average starts at the initial parameters (no bias correction is needed).
Averaging the iterates of a noisy optimizer often evaluates better than the last
iterate (Polyak and Juditsky 1992; the averaged SGD of Merity et al. 2018).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

from genjax.typing import Params


class ParamEmaState(NamedTuple):
    """The moving average of the parameters (a pytree like them)."""

    ema: Params


def param_ema(decay: float) -> optax.GradientTransformation:
    """Updates pass through; the state tracks the EMA of the updated parameters.

    Args:
      decay: in [0, 1); 0 keeps the latest parameters, values near 1 average
        over about 1 / (1 - decay) steps.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"param_ema decay must be in [0, 1), got {decay}")

    def init_fn(params: Params) -> ParamEmaState:
        return ParamEmaState(ema=jax.tree.map(lambda p: p.copy(), params))

    def update_fn(updates, state: ParamEmaState, params: Params | None = None):
        if params is None:
            raise ValueError("param_ema needs the parameters: call update(updates, state, params)")
        new_params = optax.apply_updates(params, updates)
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema, new_params)
        return updates, ParamEmaState(ema=ema)

    return optax.GradientTransformation(init_fn, update_fn)


def averaged_params(opt_state: optax.OptState) -> Params:
    """The average held by the (single) `param_ema` state inside `opt_state`."""
    found = [
        s
        for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, ParamEmaState))
        if isinstance(s, ParamEmaState)
    ]
    if len(found) != 1:
        raise ValueError(f"expected one param_ema state in the optimizer state, found {len(found)}")
    return found[0].ema
