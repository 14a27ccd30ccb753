"""genjax.rnn.fused: the hand-written LSTM backward pass equals autodiff of the scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.rnn import cells, fused, unrolling

B, T, D, H = 3, 9, 5, 7


def _problem(dtype=jnp.float32):
    k = jax.random.split(jax.random.PRNGKey(0), 6)
    p = cells.init_lstm(k[0], D, H)
    p = {**p, "b": jax.random.normal(k[4], p["b"].shape)}  # every gate away from its init
    p = jax.tree.map(lambda a: a.astype(dtype), p)
    xs = jax.random.normal(k[1], (B, T, D), dtype)
    carry = cells.LSTMCarry(jax.random.normal(k[2], (B, H), dtype),
                            jax.random.normal(k[3], (B, H), dtype))  # fmt: skip
    weights = jax.random.normal(k[5], (B, T, H), dtype)
    return p, xs, carry, weights


def _loss(fn, lengths, reverse, weights):
    def loss(params, xs, carry):
        final, ys = fn(params, xs, lengths=lengths, carry=carry, reverse=reverse)
        return jnp.sum(ys * weights) + 0.3 * jnp.sum(final.h) - jnp.sum(final.c**2)

    return loss


def _scan(params, xs, **kw):
    return unrolling.unroll("lstm", params, xs, **kw)


@pytest.mark.parametrize("lengths, reverse", [(None, False), ((9, 4, 0), True), ((9, 4, 0), False)])
def test_fused_lstm_equals_the_scan_and_its_autodiff_gradients(lengths, reverse):
    # float64: the two differ by rounding only, so they agree to ~1e-12.
    with jax.enable_x64(True):
        p, xs, carry, weights = _problem(jnp.float64)
        lengths = None if lengths is None else jnp.array(lengths)
        final_f, ys_f = fused.lstm(p, xs, lengths=lengths, carry=carry, reverse=reverse)
        final_s, ys_s = _scan(p, xs, lengths=lengths, carry=carry, reverse=reverse)
        np.testing.assert_allclose(ys_f, ys_s, rtol=0, atol=1e-12)
        for a, b in zip(final_f, final_s, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        g_f, g_s = (
            jax.jit(jax.grad(_loss(fn, lengths, reverse, weights), argnums=(0, 1, 2)))(p, xs, carry)
            for fn in (fused.lstm, _scan)
        )
        for a, b in zip(jax.tree.leaves(g_f), jax.tree.leaves(g_s), strict=True):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-11)
        if lengths is not None:  # padded steps' inputs get no gradient
            grad_x = g_f[1]
            assert float(jnp.abs(grad_x[2]).max()) == 0.0  # length 0
            assert float(jnp.abs(grad_x[1, 4:]).max()) == 0.0 < float(jnp.abs(grad_x[1, :4]).min())


def test_fused_lstm_names_bad_input():
    p, xs, carry, _ = _problem()
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        fused.lstm({"W_x": p["W_x"], "W_h": p["W_h"]}, xs)
    with pytest.raises(ValueError, match="W_x must be"):
        fused.lstm(p, xs[..., :3])
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        fused.lstm(p, xs[0])
    with pytest.raises(ValueError, match="leading batch axis of size 3"):
        fused.lstm(p, xs, carry=cells.LSTMCarry(carry.h[:2], carry.c[:2]))
    with pytest.raises(ValueError, match="lengths"):
        fused.lstm(p, xs, lengths=jnp.array([10, 1, 1]))


def test_unroll_bidirectional_and_stacked_take_the_fused_backward():
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    layers = unrolling.init_stacked(k[0], "lstm", D, [H, 4], bidirectional=True)
    xs = jax.random.normal(k[1], (B, T, D))
    lengths = jnp.array([9, 6, 1])
    weights = jax.random.normal(k[2], (B, T, 2 * 4))

    def loss(layers, backward):
        finals, ys = unrolling.stacked("lstm", layers, xs, lengths=lengths, backward=backward)
        return jnp.sum(ys * weights) + jnp.sum(finals[-1][1].c)

    # float32, jitted; the fused one also under jax.checkpoint (rematerialised residuals)
    va, ga = jax.jit(jax.value_and_grad(loss), static_argnums=1)(layers, "autodiff")
    vb, gb = jax.jit(jax.value_and_grad(jax.checkpoint(loss, static_argnums=(1,))),
                     static_argnums=1)(layers, "fused")  # fmt: skip
    np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # vmap over parameter sets (e.g. seeds), inference path
    ps = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), layers[0]["fwd"])
    ys = jax.vmap(lambda q: fused.lstm(q, xs, lengths=lengths)[1])(ps)
    twice = jax.tree.map(lambda a: 2 * a, layers[0]["fwd"])
    np.testing.assert_allclose(ys[1], _scan(twice, xs, lengths=lengths)[1], atol=1e-5)
    with pytest.raises(ValueError, match="backward must be one of"):
        unrolling.unroll("lstm", layers[0]["fwd"], xs, backward="hand")
    gru = unrolling.init_stacked(k[0], "gru", D, H)[0]
    with pytest.raises(ValueError, match="written for the LSTM, not the 'gru' cell"):
        unrolling.unroll("gru", gru, xs, backward="fused")
    with pytest.raises(ValueError, match="unroll must be"):
        unrolling.unroll("lstm", layers[0]["fwd"], xs, backward="fused", unroll=0)
