"""Hand BPTT vs jax.grad; Jacobian norms vs rho^(T-k); LSTM cell path; clipping; truncated BPTT."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax.rnn import analysis, bptt, cells, clipping, tbptt
from genjax.rnn import architectures as arch

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("seed", [0, 1])
def test_bptt_equals_jax_grad(seed):
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = cells.init_tanh_rnn(k1, 3, 6, 4, spectral_radius=1.2)
    params["b_h"] = jax.random.normal(k4, (6,))
    xs = jax.random.normal(k2, (9, 3))
    ys = jax.nn.one_hot(jax.random.randint(k3, (9,), 0, 4), 4)
    h0 = 0.3 * jnp.ones((6,))
    ref = jax.grad(bptt.tanh_rnn_loss)(params, xs, ys, h0)
    for fn in (bptt.bptt_gradients, bptt.bptt_gradients_double_sum):
        got = fn(params, xs, ys, h0)
        assert set(got) == set(ref)
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-5, err_msg=k)


def _linear_step(params, h, x):
    h = params["W_hh"] @ h + params["W_xh"] @ x
    return h, h


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.25])
def test_linear_rnn_jacobian_norm_is_rho_power(rho):
    params = cells.init_tanh_rnn(KEY, 2, 8, spectral_radius=rho)
    linear = cells.Cell("linear", None, _linear_step, cells.tanh_rnn_initial_carry)
    xs = jax.random.normal(KEY, (12, 2))
    norms = analysis.norms_by_lag(linear, params, xs, jnp.zeros(8))
    np.testing.assert_allclose(norms, rho ** np.arange(13), rtol=1e-4)

    # Reference: jax.jacrev through the whole unroll from h_0.
    def run(h0):
        return jax.lax.scan(lambda h, x: _linear_step(params, h, x), h0, xs)[0]

    np.testing.assert_allclose(
        norms[-1], np.linalg.norm(jax.jacrev(run)(jnp.zeros(8)), 2), rtol=1e-4
    )
    assert float(analysis.spectral_radius(params["W_hh"])) == pytest.approx(rho, rel=1e-5)


def test_tanh_jacobians_match_jacrev_and_are_bounded():
    params = cells.init_tanh_rnn(KEY, 3, 6, spectral_radius=1.5, recurrent_init="gaussian")
    xs = jax.random.normal(KEY, (10, 3))
    h0 = jnp.zeros(6)
    jac = analysis.state_jacobians("tanh", params, xs, h0)

    def from_k(hk, k):
        return jax.lax.scan(lambda h, x: cells.tanh_rnn_step(params, h, x), hk, xs[k:])[0]

    hs = jax.lax.scan(lambda h, x: cells.tanh_rnn_step(params, h, x), h0, xs)[1]
    for k in (3, 7):
        np.testing.assert_allclose(jac[k], jax.jacrev(from_k)(hs[k - 1], k), atol=1e-5)
    norm_w = float(jnp.linalg.norm(params["W_hh"], 2))
    norms = analysis.jacobian_norms(jac)[::-1]
    assert np.all(np.asarray(norms) <= norm_w ** np.arange(11) * (1 + 1e-5))
    # orthogonal W: ||W|| = rho, so the bound is rho^(T-k) itself
    params = cells.init_tanh_rnn(KEY, 3, 6, spectral_radius=0.9)
    norms = analysis.norms_by_lag("tanh", params, xs, h0)
    assert np.all(np.asarray(norms) <= 0.9 ** np.arange(11) * (1 + 1e-5))
    assert float(norms[5]) < 0.9**5


def test_lstm_cell_path_is_diag_forget():
    params = cells.init_lstm(KEY, 3, 5, forget_bias=2.0)
    x = jax.random.normal(KEY, (3,))
    h, c = jax.random.normal(jax.random.PRNGKey(1), (2, 5))
    jac = jax.jacfwd(lambda c: cells.lstm_step(params, cells.LSTMCarry(h, c), x)[0].c)(c)
    f = cells.lstm_gates(params, cells.LSTMCarry(h, c), x)[1]
    np.testing.assert_allclose(jac, jnp.diag(f), atol=1e-6)
    xs = jax.random.normal(KEY, (6, 3))
    forget, prods = analysis.lstm_cell_path(params, xs, cells.LSTMCarry(h, c))
    np.testing.assert_allclose(prods[2], jnp.prod(forget[2:], axis=0), rtol=1e-6)


def test_tied_vs_untied_products():
    tied = analysis.matrix_product_norms(KEY, 6, 20, 0.9, tied=True, kind="orthogonal")
    np.testing.assert_allclose(tied, 0.9 ** np.arange(1, 21), rtol=1e-4)
    untied = analysis.matrix_product_norms(KEY, 6, 5, 1.0, tied=False)
    assert untied.shape == (5,)
    # Independent reference: the same draws (one key per depth, each matrix a Gaussian
    # rescaled to spectral radius 1), multiplied in float64 NumPy without renormalising.
    keys = jax.random.split(KEY, 5)
    mats = []
    for k in keys:
        w = np.asarray(jax.random.normal(k, (6, 6)), np.float64)
        mats.append(w / np.max(np.abs(np.linalg.eigvals(w))))
        assert np.max(np.abs(np.linalg.eigvals(mats[-1]))) == pytest.approx(1.0)
    product, expected = np.eye(6), []
    for w in mats:
        product = w @ product
        expected.append(np.linalg.norm(product, 2))
    np.testing.assert_allclose(untied, expected, rtol=1e-4)
    # Unlike the tied power, the untied product is not rho^depth.
    assert np.max(np.abs(np.asarray(untied) - 1.0)) > 0.1


def test_clipping():
    grads = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([[12.0]])}  # norm 13
    small = clipping.clip_by_global_norm(grads, 20.0)
    for k in grads:
        np.testing.assert_array_equal(small[k], grads[k])
    big = clipping.clip_by_global_norm(grads, 2.6)
    assert float(clipping.global_norm(big)) == pytest.approx(2.6, rel=1e-6)
    np.testing.assert_allclose(big["a"], grads["a"] * 0.2, rtol=1e-6)
    for c in (2.6, 20.0):
        ref, _ = optax.clip_by_global_norm(c).update(grads, optax.EmptyState())
        for k in grads:
            np.testing.assert_allclose(clipping.clip_by_global_norm(grads, c)[k], ref[k], rtol=1e-6)
    with pytest.raises(ValueError, match="max_norm"):
        clipping.clip_by_global_norm(grads, 0.0)


def _loss(params, xs, window):
    logits = arch.many_to_many("lstm", params, xs, window=window)
    return jnp.sum(logits[:, -1] ** 2) + jnp.sum(logits**2) * 0.1


def test_truncated_bptt():
    params = arch.init_many_to_many(KEY, "lstm", 3, 4, 2, num_layers=2)
    xs = jax.random.normal(KEY, (2, 9, 3))
    full = jax.grad(_loss)(params, xs, None)
    for window in (9, 20):
        same = jax.grad(_loss)(params, xs, window)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), same, full)
    short = jax.grad(_loss)(params, xs, 4)
    diff = jax.tree_util.tree_map(lambda a, b: float(jnp.max(jnp.abs(a - b))), short, full)
    assert max(jax.tree_util.tree_leaves(diff)) > 1e-3
    # The forward pass is unchanged by truncation (T = 9 is not a multiple of 4).
    np.testing.assert_allclose(
        arch.many_to_many("lstm", params, xs, window=4),
        arch.many_to_many("lstm", params, xs),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="window"):
        tbptt.truncated_stacked("lstm", params["rnn"], xs, 0)


def test_truncated_bptt_sends_no_gradient_before_the_window():
    """A loss at the last step reaches the inputs of its own chunk only (the mechanism)."""
    params = arch.init_many_to_many(KEY, "lstm", 3, 4, 2, num_layers=2)
    xs = jax.random.normal(KEY, (2, 12, 3))

    def last_step_loss(xs, window):
        return jnp.sum(arch.many_to_many("lstm", params, xs, window=window)[:, -1] ** 2)

    truncated = np.abs(np.asarray(jax.grad(last_step_loss)(xs, 4))).sum(axis=(0, 2))  # [T]
    full = np.abs(np.asarray(jax.grad(last_step_loss)(xs, None))).sum(axis=(0, 2))
    # Chunks [0-3], [4-7], [8-11]: the loss at step 11 sees only steps 8-11.
    np.testing.assert_array_equal(truncated[:8], 0.0)
    assert np.all(truncated[8:] > 1e-6)
    assert np.all(full[:8] > 1e-9)  # full BPTT reaches every earlier step
    np.testing.assert_allclose(truncated[8:], full[8:], rtol=1e-5)
