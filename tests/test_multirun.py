"""genjax.train.multirun: the one vmapped multi-run step the GAN and RNN trainers share."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import train
from genjax.rnn import training as rnn_training
from genjax.train import MultiRunOptState, TrainState


def _counter_init(key, flag):
    """One run: w = [steps so far, flag]; opt_state counts updates too."""
    params = {"w": jnp.stack([0.0, flag])}
    return TrainState(jnp.zeros((), jnp.int32), params, {"updates": jnp.zeros(())}, key)


def _step_nan_at_step_2_then_finite(state):
    """Adds 1 to w[0]; a flagged run (w[1] = 1) turns NaN at step 2 only, finite after."""
    w = state.params["w"] + jnp.array([1.0, 0.0])
    w = jnp.where((state.step == 2) & (state.params["w"][1] == 1.0), jnp.nan, w)
    new = TrainState(
        state.step + 1, {"w": w}, {"updates": state.opt_state["updates"] + 1}, state.key
    )
    return new, {"loss": jnp.sum(w)}


def _stacked(flags):
    keys = jax.random.split(jax.random.PRNGKey(0), len(flags))
    return train.stack_runs(_counter_init, keys, jnp.asarray(flags))


@pytest.mark.parametrize("runs_axis", ["vmap", "map"])
def test_a_diverged_run_is_frozen_for_good_and_counted(runs_axis):
    state = _stacked([0.0, 1.0, 0.0])
    assert isinstance(state.opt_state, MultiRunOptState) and state.step.shape == ()
    multi = jax.jit(train.make_multi_run_step(_step_nan_at_step_2_then_finite, runs_axis=runs_axis))
    history = []
    for _ in range(5):
        state, metrics = multi(state, None)
        history.append(float(metrics["num_diverged"]))
    assert history == [0.0, 0.0, 1.0, 1.0, 1.0]  # frozen for good, though step 3 would be finite
    np.testing.assert_array_equal(state.params["w"], [[5.0, 0.0], [2.0, 1.0], [5.0, 0.0]])
    np.testing.assert_array_equal(state.opt_state.inner["updates"], [5.0, 2.0, 5.0])
    np.testing.assert_array_equal(state.opt_state.diverged, [False, True, False])
    assert float(metrics["loss"]) == 5.0  # the mean over the two live runs only
    assert int(state.step) == 5


def test_a_non_finite_metric_freezes_the_run_too():
    def step(state):
        w = state.params["w"] + 1.0
        loss = jnp.where(state.params["w"][1] == 1.0, jnp.inf, 0.0)
        return state._replace(params={"w": w}), {"loss": loss}

    state, metrics = train.make_multi_run_step(step)(_stacked([0.0, 1.0]), None)
    np.testing.assert_array_equal(state.params["w"], [[1.0, 1.0], [0.0, 1.0]])
    assert float(metrics["num_diverged"]) == 1.0 and float(metrics["loss"]) == 0.0


def test_run_args_reach_each_run_and_vmap_equals_map():
    def step(state, scale):  # run r adds scale[r] per step
        w = state.params["w"] + scale * jnp.array([1.0, 0.0])
        return state._replace(params={"w": w}), {"w0": w[0]}

    scales = jnp.array([1.0, 10.0, 100.0])
    outs = []
    for axis in ("vmap", "map"):
        multi = jax.jit(train.make_multi_run_step(step, run_args=scales, runs_axis=axis))
        state = _stacked([0.0, 0.0, 0.0])
        for _ in range(2):
            state, metrics = multi(state, None)
        outs.append(np.asarray(state.params["w"][:, 0]))
        assert float(metrics["w0"]) == pytest.approx((2 + 20 + 200) / 3)
    np.testing.assert_array_equal(outs[0], [2.0, 20.0, 200.0])
    np.testing.assert_array_equal(outs[0], outs[1])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="runs_axis"):
        train.make_multi_run_step(_step_nan_at_step_2_then_finite, runs_axis="pmap")
    with pytest.raises(ValueError, match="init_args need leading axis R = 2"):
        train.stack_runs(_counter_init, jax.random.split(jax.random.PRNGKey(0), 2), jnp.zeros(3))
    with pytest.raises(ValueError, match="keys must be"):
        train.stack_runs(_counter_init, jax.random.PRNGKey(0), jnp.zeros(2))
    with pytest.raises(ValueError, match="run_args"):
        train.make_multi_run_step(_step_nan_at_step_2_then_finite, run_args=jnp.float32(1.0))
    typed = train.stack_runs(_counter_init, jax.random.split(jax.random.key(0), 2), jnp.zeros(2))
    assert typed.opt_state.diverged.shape == (2,)


def test_all_finite():
    assert bool(train.all_finite({"a": jnp.ones(3), "b": (jnp.zeros(()),)}))
    assert not bool(train.all_finite({"a": jnp.array([1.0, jnp.nan])}))
    assert not bool(train.all_finite([jnp.ones(2), jnp.array(-jnp.inf)]))
    assert bool(train.all_finite({}))


def test_the_rnn_trainer_runs_on_the_shared_engine():
    """genjax.rnn.training's step is the shared engine's: its state and divergence flags."""
    assert rnn_training.MultiRunOptState is MultiRunOptState
    run_keys = jax.random.split(jax.random.PRNGKey(0), 2)

    def loss(params, batch):  # run 1's batches are huge: its SGD step overflows
        return jnp.sum(jnp.exp(params["w"] * batch))

    def batch_fn(key, option):
        return option * jnp.abs(jax.random.normal(key, (3,)))

    state = rnn_training.init_multi_run_state(
        lambda k: {"w": jnp.ones(3)}, optax.sgd(1.0), run_keys
    )
    step = jax.jit(
        rnn_training.make_multi_run_step(
            loss,
            optax.sgd(1.0),
            batch_fn,
            run_keys,
            [1.0, float("inf")],
            run_options=jnp.array([0.1, 1e3]),
        )
    )
    for _ in range(3):
        state, metrics = step(state, None)
    np.testing.assert_array_equal(state.opt_state.diverged, [False, True])
    np.testing.assert_array_equal(state.params["w"][1], np.ones(3))  # frozen at its start
    assert float(metrics["num_diverged"]) == 1.0 and np.isfinite(float(metrics["loss"]))
