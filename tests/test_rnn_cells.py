"""Cells, unrolling, masking, bidirectional, stacked, architectures; peer check against flax."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.rnn import architectures as arch
from genjax.rnn import cells, tasks, unrolling

KEY = jax.random.PRNGKey(0)
B, T, D, H = 3, 7, 4, 5


def _xs(key=KEY, b=B, t=T, d=D):
    return jax.random.normal(key, (b, t, d))


def test_lstm_matches_flax():
    params = cells.init_lstm(KEY, D, H, forget_bias=0.5)
    params = {**params, "b": jax.random.normal(jax.random.PRNGKey(3), (4 * H,))}
    wx, wh, b = (np.split(np.asarray(params[k]), 4) for k in ("W_x", "W_h", "b"))
    flax_params = {}
    for j, g in enumerate("ifgo"):
        flax_params[f"i{g}"] = {"kernel": wx[j].T}
        flax_params[f"h{g}"] = {"kernel": wh[j].T, "bias": b[j]}
    x = jax.random.normal(jax.random.PRNGKey(1), (D,))
    h0, c0 = jax.random.normal(jax.random.PRNGKey(2), (2, H))
    (c_ref, h_ref), y_ref = nn.LSTMCell(H).apply({"params": flax_params}, (c0, h0), x)
    carry, y = cells.lstm_step(params, cells.LSTMCarry(h0, c0), x)
    np.testing.assert_allclose(carry.c, c_ref, atol=1e-6)
    np.testing.assert_allclose(carry.h, h_ref, atol=1e-6)
    np.testing.assert_allclose(y, y_ref, atol=1e-6)


def test_gru_matches_flax():
    params = cells.init_gru(KEY, D, H)
    params = {
        **params,
        "b_x": jax.random.normal(jax.random.PRNGKey(4), (3 * H,)),
        "b_hn": jax.random.normal(jax.random.PRNGKey(5), (H,)),
    }
    wx, wh, bx = (np.split(np.asarray(params[k]), 3) for k in ("W_x", "W_h", "b_x"))
    flax_params = {}
    for j, g in enumerate("rzn"):
        flax_params[f"i{g}"] = {"kernel": wx[j].T, "bias": bx[j]}
        flax_params[f"h{g}"] = {"kernel": wh[j].T}
    flax_params["hn"]["bias"] = np.asarray(params["b_hn"])
    x = jax.random.normal(jax.random.PRNGKey(1), (D,))
    h0 = jax.random.normal(jax.random.PRNGKey(2), (H,))
    h_ref, _ = nn.GRUCell(H).apply({"params": flax_params}, h0, x)
    h, _ = cells.gru_step(params, h0, x)
    np.testing.assert_allclose(h, h_ref, atol=1e-6)


@pytest.mark.parametrize("name", cells.CELL_NAMES)
def test_masked_unroll_equals_unpadded(name):
    params = cells.init_cell(KEY, name, D, H)
    xs = _xs()
    lengths = jnp.array([7, 3, 0])
    for reverse in (False, True):
        final, ys = unrolling.unroll(name, params, xs, lengths=lengths, reverse=reverse)
        for b in range(B):
            n = int(lengths[b])
            ref_final, ref_ys = unrolling.unroll(name, params, xs[b : b + 1, :n], reverse=reverse)
            got = jax.tree_util.tree_map(lambda a: a[b], final)  # noqa: B023
            want = jax.tree_util.tree_map(lambda a: a[0], ref_final)
            jax.tree_util.tree_map(
                lambda g, w: np.testing.assert_allclose(g, w, atol=1e-6), got, want
            )
            np.testing.assert_allclose(ys[b, :n], ref_ys[0], atol=1e-6)
            np.testing.assert_array_equal(ys[b, n:], 0.0)


def test_unroll_matches_python_loop_and_reverse():
    params = cells.init_cell(KEY, "gru", D, H)
    xs = _xs()
    _, ys = unrolling.unroll("gru", params, xs, unroll=3)
    h = jnp.zeros((B, H))
    for t in range(T):
        h, _ = jax.vmap(cells.gru_step, (None, 0, 0))(params, h, xs[:, t])
        np.testing.assert_allclose(ys[:, t], h, atol=1e-6)
    _, ys_rev = unrolling.unroll("gru", params, xs, reverse=True)
    _, ys_flip = unrolling.unroll("gru", params, xs[:, ::-1])
    np.testing.assert_allclose(ys_rev, ys_flip[:, ::-1], atol=1e-6)


def test_bidirectional_is_forward_plus_reversed_pass():
    params = unrolling.init_bidirectional(KEY, "lstm", D, H)
    xs = _xs()
    lengths = jnp.array([7, 4, 1])
    (ff, fb), ys = unrolling.bidirectional("lstm", params, xs, lengths=lengths)
    for b in range(B):
        n = int(lengths[b])
        seq = xs[b : b + 1, :n]
        f_final, f_ys = unrolling.unroll("lstm", params["fwd"], seq)
        b_final, b_ys = unrolling.unroll("lstm", params["bwd"], seq[:, ::-1])
        np.testing.assert_allclose(ys[b, :n, :H], f_ys[0], atol=1e-6)
        np.testing.assert_allclose(ys[b, :n, H:], b_ys[0, ::-1], atol=1e-6)
        np.testing.assert_allclose(fb.h[b], b_final.h[0], atol=1e-6)
        np.testing.assert_allclose(ff.c[b], f_final.c[0], atol=1e-6)
        np.testing.assert_array_equal(ys[b, n:], 0.0)


def test_stacked_feeds_layers():
    layers = unrolling.init_stacked(KEY, "tanh", D, [6, 5], bidirectional=True)
    xs = _xs()
    finals, ys = unrolling.stacked("tanh", layers, xs)
    _, y1 = unrolling.bidirectional("tanh", layers[0], xs)
    _, y2 = unrolling.bidirectional("tanh", layers[1], y1)
    assert ys.shape == (B, T, 10) and len(finals) == 2
    np.testing.assert_allclose(ys, y2, atol=1e-6)


def test_architecture_shapes_and_generation():
    p = arch.init_many_to_one(KEY, "lstm", D, H, 3, num_layers=2, bidirectional=True)
    assert arch.many_to_one("lstm", p, _xs(), jnp.array([7, 2, 5])).shape == (B, 3)
    p = arch.init_many_to_many(KEY, "gru", D, H, 3)
    logits = arch.many_to_many("gru", p, _xs(), jnp.array([7, 2, 5]))
    assert logits.shape == (B, T, 3) and float(jnp.abs(logits[1, 2:]).max()) == 0.0
    p = arch.init_one_to_many(KEY, "lstm", 6, H, 9, num_layers=2)
    vec = jax.random.normal(KEY, (B, 6))
    tokens = arch.one_to_many_generate("lstm", p, vec, 5)
    assert tokens.shape == (B, 5)
    # Greedy generation = argmax of the teacher-forced logits fed its own outputs.
    logits = arch.one_to_many_logits("lstm", p, vec, tokens)
    np.testing.assert_array_equal(jnp.argmax(logits, -1), tokens)
    p = arch.init_seq2seq(KEY, "tanh", 5, 7, H)
    src = jnp.array([[1, 2, 3], [4, 0, 0], [2, 2, 0]])
    out = arch.seq2seq_greedy_decode("tanh", p, src, 4, src_lengths=jnp.array([3, 1, 2]))
    logits = arch.seq2seq_logits("tanh", p, src, out, src_lengths=jnp.array([3, 1, 2]))
    np.testing.assert_array_equal(jnp.argmax(logits, -1), out)


def test_tasks():
    batch = tasks.adding_batch(KEY, 500, 10)
    markers = batch.inputs[..., 1]
    np.testing.assert_array_equal(markers[:, :5].sum(1), 1)
    np.testing.assert_array_equal(markers[:, 5:].sum(1), 1)
    assert abs(float(jnp.var(batch.targets)) - 1 / 6) < 0.03
    cb = tasks.copy_batch(KEY, 2, 5)
    tok = jnp.argmax(cb.inputs, -1)
    np.testing.assert_array_equal(cb.targets[:, -10:], tok[:, :10])
    assert cb.inputs.shape == (2, 25, 10)


def test_bad_input():
    params = cells.init_cell(KEY, "tanh", D, H)
    xs = _xs()
    with pytest.raises(ValueError, match="lengths"):
        unrolling.unroll("tanh", params, xs, lengths=jnp.array([8, 1, 1]))
    with pytest.raises(ValueError, match="lengths"):
        unrolling.unroll("tanh", params, xs, lengths=jnp.array([-1, 1, 1]))
    with pytest.raises(ValueError, match="lengths"):
        unrolling.unroll("tanh", params, xs, lengths=jnp.array([1, 1]))
    with pytest.raises(ValueError, match="carry"):
        unrolling.unroll("tanh", params, xs, carry=jnp.zeros((2, H)))
    # Concrete lengths closed over by a jitted function are still checked (and, when
    # valid, accepted: their min/max are taken on the host, not traced).
    too_long, ragged = jnp.array([8, 1, 1]), jnp.array([3, 1, 0])
    with pytest.raises(ValueError, match="padded length"):
        jax.jit(lambda p: unrolling.unroll("tanh", p, xs, lengths=too_long))(params)
    ok = jax.jit(lambda p: unrolling.unroll("tanh", p, xs, lengths=ragged)[1])(params)
    np.testing.assert_array_equal(ok[2], 0.0)
    with pytest.raises(ValueError, match="unknown cell"):
        cells.get_cell("transformer")
    with pytest.raises(ValueError, match="batch sizes"):
        p = arch.init_one_to_many(KEY, "gru", 6, H, 9)
        arch.one_to_many_logits("gru", p, jnp.zeros((2, 6)), jnp.zeros((3, 4), jnp.int32))
    with pytest.raises(ValueError, match="xs"):
        unrolling.unroll("tanh", params, xs[0])


def test_unroll_auto_resolves_by_backend_and_bad_values_are_refused(monkeypatch):
    assert unrolling.resolve_unroll(4) == 4
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert unrolling.resolve_unroll("auto") == 8
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert unrolling.resolve_unroll("auto") == 1
    for bad in (0, -2, True, 2.0, "fast"):
        with pytest.raises(ValueError, match="positive integer or 'auto'"):
            unrolling.resolve_unroll(bad)
    params = cells.init_cell(KEY, "gru", D, H)
    xs = jax.random.normal(KEY, (2, 7, D))
    _, ys_auto = unrolling.unroll("gru", params, xs)
    _, ys_8 = unrolling.unroll("gru", params, xs, unroll=8)
    np.testing.assert_allclose(ys_auto, ys_8, rtol=1e-5, atol=1e-6)  # the same numbers
