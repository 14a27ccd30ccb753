"""The cuDNN LSTM fast path: packing checked against JAX's own reference on any backend,
the cuDNN kernel against our scan when a GPU is present."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn as jrnn

from genjax.rnn import cudnn, unrolling
from genjax.rnn.cells import LSTMCarry

KEY = jax.random.PRNGKey(0)
gpu_only = pytest.mark.skipif(not cudnn.available(), reason="cuDNN needs a GPU")


def _setup(num_layers=2, bidirectional=False, batch=3, time=7, d=5, h=8):
    k_p, k_x, k_c = jax.random.split(KEY, 3)
    layers = unrolling.init_stacked(
        k_p, "lstm", d, h, num_layers=num_layers, bidirectional=bidirectional
    )
    layers = jax.tree_util.tree_map(lambda a: a + 0.1, layers)  # nonzero biases too
    xs = jax.random.normal(k_x, (batch, time, d))
    return layers, xs


def _ref(layers, xs, num_dirs, lengths):
    """JAX's reference LSTM (jax.experimental.rnn.lstm_ref) on our packed weights."""
    num_layers = len(layers)
    d, h = xs.shape[-1], 8
    w = jrnn.unpack_lstm_weights(cudnn.pack_weights(layers), d, h, num_layers, num_dirs == 2)
    zeros = jnp.zeros((num_layers * num_dirs, xs.shape[0], h))
    return jrnn.lstm_ref(
        xs, zeros, zeros, *w, lengths, input_size=d, hidden_size=h, num_layers=num_layers,
        dropout=0.0, bidirectional=num_dirs == 2,
    )  # fmt: skip


@pytest.mark.parametrize("num_layers", [1, 2])
def test_packed_weights_run_in_jax_reference_lstm_like_our_scan(num_layers):
    layers, xs = _setup(num_layers)
    lengths = jnp.array([7, 7, 7], jnp.int32)
    ys_ref, hn, cn = _ref(layers, xs, 1, lengths)
    finals, ys = unrolling.stacked("lstm", layers, xs)
    np.testing.assert_allclose(ys, ys_ref, atol=1e-5)
    for layer, final in enumerate(finals):
        np.testing.assert_allclose(final.h, hn[layer], atol=1e-5)
        np.testing.assert_allclose(final.c, cn[layer], atol=1e-5)


def test_packed_weights_bidirectional_reference():
    layers, xs = _setup(2, bidirectional=True)
    ys_ref, hn, _ = _ref(layers, xs, 2, jnp.full((3,), 7, jnp.int32))
    finals, ys = unrolling.stacked("lstm", layers, xs)
    np.testing.assert_allclose(ys, ys_ref, atol=1e-5)
    np.testing.assert_allclose(finals[-1][0].h, hn[2], atol=1e-5)  # last layer, forward
    np.testing.assert_allclose(finals[-1][1].h, hn[3], atol=1e-5)  # last layer, backward


def test_layouts_cudnn_cannot_take_are_rejected():
    k1, k2 = jax.random.split(KEY)
    mixed = [
        unrolling.init_stacked(k1, "lstm", 4, 8)[0],
        unrolling.init_stacked(k2, "lstm", 8, 6)[0],
    ]
    with pytest.raises(ValueError, match="same hidden size"):
        cudnn.pack_weights(mixed)
    with pytest.raises(ValueError, match="LSTM layers"):
        cudnn.pack_weights(unrolling.init_stacked(k1, "gru", 4, 8))
    with pytest.raises(ValueError, match="at least one layer"):
        cudnn.pack_weights([])


def test_auto_falls_back_to_the_scan_off_gpu():
    layers, xs = _setup(1)
    _, ys = cudnn.stacked_lstm_auto(layers, xs)
    _, expected = unrolling.stacked("lstm", layers, xs)
    np.testing.assert_allclose(ys, expected, atol=1e-5 if not cudnn.available() else 2e-3)


@gpu_only
@pytest.mark.parametrize("bidirectional", [False, True])
def test_cudnn_matches_the_scan_with_ragged_lengths_and_carries(bidirectional):
    layers, xs = _setup(2, bidirectional=bidirectional)
    lengths = jnp.array([7, 3, 5], jnp.int32)
    h = jax.random.normal(jax.random.PRNGKey(3), (3, 8))
    one = LSTMCarry(h, -h)
    carries = [(one, one) if bidirectional else one] * 2
    with jax.default_matmul_precision("highest"):
        finals, ys = cudnn.stacked_lstm(layers, xs, lengths=lengths, carries=carries)
        ref_finals, ref_ys = unrolling.stacked("lstm", layers, xs, lengths=lengths,
                                                carries=carries)  # fmt: skip
    np.testing.assert_allclose(ys, ref_ys, atol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(finals), jax.tree_util.tree_leaves(ref_finals),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, atol=1e-5)


@gpu_only
def test_cudnn_gradients_match_the_scan():
    layers, xs = _setup(2)
    lengths = jnp.array([7, 3, 5], jnp.int32)

    def loss(fn, layers):
        _, ys = fn(layers, xs, lengths=lengths)
        return jnp.sum(jnp.sin(ys))

    scan = lambda ls, x, lengths: unrolling.stacked("lstm", ls, x, lengths=lengths)  # noqa: E731
    with jax.default_matmul_precision("highest"):
        g_cudnn = jax.grad(lambda p: loss(cudnn.stacked_lstm, p))(layers)
        g_scan = jax.grad(lambda p: loss(scan, p))(layers)
    for a, b in zip(jax.tree_util.tree_leaves(g_cudnn), jax.tree_util.tree_leaves(g_scan),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
