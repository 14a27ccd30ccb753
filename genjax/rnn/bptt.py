"""Backpropagation through time by hand for the tanh RNN with a softmax readout.

Claim 3.2 in docs/claims.md.

    h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h),  a_t = W_hz h_t + b_z,  z_t = softmax(a_t),
    L = sum_t L_t,  L_t = -sum_j y_tj log z_tj.

    dL_t/da_t = z_t - y_t
    dL/dW_hz  = sum_t (z_t - y_t) h_t^T,      dL/db_z = sum_t (z_t - y_t)
    dL/dW_hh  = sum_t sum_{k<=t} dL_t/dh_t dh_t/dh_k dh_k/dW_hh (immediate)   (same for W_xh, b_h)
    dh_t/dh_k = prod_{i=k+1..t} diag(1 - h_i^2) W_hh.

`bptt_gradients` evaluates the double sum by the usual backward recursion
(delta_t = W_hz^T (z_t - y_t) + W_hh^T [(1 - h_{t+1}^2) * delta_{t+1}]), in O(T);
`bptt_gradients_double_sum` evaluates it literally, with the Jacobian products,
in O(T^2) (a second, independent derivation for tests).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genjax.typing import Array, Params

TANH_RNN_KEYS = ("W_xh", "W_hh", "b_h", "W_hz", "b_z")


def _check(params: Params, xs: Array, ys: Array, h0: Array) -> None:
    missing = [k for k in TANH_RNN_KEYS if k not in params]
    if missing:
        raise ValueError(f"params lacks {missing}; build it with init_tanh_rnn(..., output_dim=O)")
    hidden, inputs = params["W_xh"].shape
    outputs = params["W_hz"].shape[0]
    if xs.ndim != 2 or xs.shape[1] != inputs:
        raise ValueError(f"xs must be [T, {inputs}], got {xs.shape}")
    if ys.shape != (xs.shape[0], outputs):
        raise ValueError(f"ys must be [T, O]=({xs.shape[0]}, {outputs}), got {ys.shape}")
    if h0.shape != (hidden,):
        raise ValueError(f"h0 must be [{hidden}], got {h0.shape}")


def forward(params: Params, xs: Array, h0: Array) -> tuple[Array, Array]:
    """Hidden states hs [T, H] (h_1..h_T) and logits a [T, O] of one sequence xs [T, D]."""

    def step(h, x):
        h = jnp.tanh(params["W_hh"] @ h + params["W_xh"] @ x + params["b_h"])
        return h, h

    _, hs = jax.lax.scan(step, h0, xs)
    logits = hs @ params["W_hz"].T + params["b_z"][None, :]
    return hs, logits


def tanh_rnn_loss(params: Params, xs: Array, ys: Array, h0: Array) -> Array:
    """L = sum_t -sum_j y_tj log softmax(a_t)_j for one sequence (xs [T, D], ys [T, O], h0 [H])."""
    _check(params, xs, ys, h0)
    _, logits = forward(params, xs, h0)
    return -jnp.sum(ys * jax.nn.log_softmax(logits, axis=-1))


def bptt_gradients(params: Params, xs: Array, ys: Array, h0: Array) -> Params:
    """dL/d(params) by hand-written BPTT (3.2): the same pytree as `jax.grad(tanh_rnn_loss)`.

    Args:
      params: {'W_xh' [H, D], 'W_hh' [H, H], 'b_h' [H], 'W_hz' [O, H], 'b_z' [O]}.
      xs: [T, D] inputs; ys: [T, O] target distributions (one-hot rows; each row
        must sum to 1 for dL_t/da_t = z_t - y_t); h0: [H] initial state.
    """
    _check(params, xs, ys, h0)
    hs, logits = forward(params, xs, h0)
    da = jax.nn.softmax(logits, axis=-1) - ys  # [T, O] dL_t/da_t
    h_prev = jnp.concatenate([h0[None, :], hs[:-1]], axis=0)  # [T, H] h_{t-1}

    def back(delta_next_pre, inputs):
        # delta_next_pre = (1 - h_{t+1}^2) * dL/dh_{t+1}: gradient at step t+1's pre-activation
        da_t, h_t = inputs
        dh = params["W_hz"].T @ da_t + params["W_hh"].T @ delta_next_pre  # dL/dh_t, all t' >= t
        dpre = (1.0 - h_t**2) * dh
        return dpre, dpre

    _, dpre = jax.lax.scan(back, jnp.zeros_like(h0), (da, hs), reverse=True)  # [T, H]
    return {
        "W_xh": dpre.T @ xs,
        "W_hh": dpre.T @ h_prev,
        "b_h": jnp.sum(dpre, axis=0),
        "W_hz": da.T @ hs,
        "b_z": jnp.sum(da, axis=0),
    }


def bptt_gradients_double_sum(params: Params, xs: Array, ys: Array, h0: Array) -> Params:
    """The same gradients from the literal double sum over t and k <= t with explicit dh_t/dh_k.

    O(T^2 H^3) with a Python loop over t: for checking, not for training.
    """
    _check(params, xs, ys, h0)
    hs, logits = forward(params, xs, h0)
    da = jax.nn.softmax(logits, axis=-1) - ys
    h_prev = jnp.concatenate([h0[None, :], hs[:-1]], axis=0)
    hidden = h0.shape[0]
    grads = {k: jnp.zeros_like(params[k]) for k in ("W_xh", "W_hh", "b_h")}
    for t in range(xs.shape[0]):
        dl_dht = params["W_hz"].T @ da[t]  # dL_t/dh_t, [H]
        jac = jnp.eye(hidden)  # dh_t/dh_k, starting at k = t
        for k in range(t, -1, -1):
            dl_dhk = jac.T @ dl_dht  # dL_t/dh_k
            # dh_k/dW_hh (immediate): (1 - h_k^2)_i h_{k-1, j}; likewise x_k for W_xh.
            dpre = (1.0 - hs[k] ** 2) * dl_dhk
            grads["W_hh"] = grads["W_hh"] + jnp.outer(dpre, h_prev[k])
            grads["W_xh"] = grads["W_xh"] + jnp.outer(dpre, xs[k])
            grads["b_h"] = grads["b_h"] + dpre
            jac = jac @ ((1.0 - hs[k] ** 2)[:, None] * params["W_hh"])  # times dh_k/dh_{k-1}
    grads["W_hz"] = da.T @ hs
    grads["b_z"] = jnp.sum(da, axis=0)
    return grads
