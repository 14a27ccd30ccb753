"""A CPU fast path: one LSTM layer whose backward pass is written by hand (`jax.custom_vjp`).

`lstm(params, xs, lengths=..., carry=..., reverse=...)` takes the parameters of
`cells.init_lstm` and returns what `genjax.rnn.unroll('lstm', ...)` returns: (final
`LSTMCarry`, outputs [B, T, H], zeros at padded steps), with the same masking
and reverse semantics. Its gradients (w.r.t. the parameters, the inputs and the
initial carry) equal autodiff's of the scan to float rounding (tested).

Why it is faster on a CPU: the step there is bound by small matrix products
inside the loop. Autodiff of `lax.scan` runs, per step of its backward loop,
the product dpre @ W_h and the accumulation dW_h += dpre^T h_{t-1} (the loop
carries the weight gradient), and the input projection x_t @ W_x^T sits in the
forward loop. Here the forward loop holds only h @ W_h^T (the input projection
of all steps is one product before it), the backward loop carries only (dh, dc)
and does one product per step, and each weight gradient is a single product over
all T x B rows after the loop, as in cuDNN's and PyTorch's LSTMs.
`benchmarks/lstm_step.py` measures it against the scan, flax and torch.

Under differentiation the forward pass keeps the gates, tanh(c_t) and the previous
carries of every step for the backward pass (7 arrays [T, B, H]); use
`jax.checkpoint` around the call to trade them for recompute. Undifferentiated
(inference) it runs a plain loop that keeps nothing.
Reverse-mode only: `jax.jvp` through it is not defined (a custom_vjp).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from genjax.rnn.cells import LSTMCarry
from genjax.rnn.sequences import check_carry, check_inputs
from genjax.typing import Array, Params

_PARAMS = ("W_x", "W_h", "b")


def _activations(pre: Array) -> tuple[Array, Array, Array, Array]:
    i, f, g, o = jnp.split(pre, 4, axis=-1)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _cell(pre: Array, c: Array) -> tuple[Array, Array, tuple[Array, ...]]:
    """(h_t, c_t, the activations the backward pass needs: i, f, g, o, tanh(c_t))."""
    i, f, g, o = _activations(pre)
    c_new = f * c + i * g
    tc = jnp.tanh(c_new)
    return o * tc, c_new, (i, f, g, o, tc)


def _masked(m: Array, h_new: Array, c_new: Array, h: Array, c: Array):
    """(y, carry): padded steps (m = 0) keep the carry and emit zeros."""
    valid = m > 0
    y = jnp.where(valid, h_new, jnp.zeros_like(h_new))
    return y, (jnp.where(valid, h_new, h), jnp.where(valid, c_new, c))


def _forward(reverse, W_x, W_h, b, xs, h0, c0, mask):
    """xs [T, B, D], mask [T, B, 1] (1 = real step) -> ((ys, h_T, c_T), residuals)."""
    # Every step's input term in one product, before the loop.
    projected = jnp.einsum("tbd,gd->tbg", xs, W_x) + b[None, None, :]

    def body(carry, inputs):
        h, c = carry
        p, m = inputs
        h_new, c_new, acts = _cell(p + h @ W_h.T, c)
        y, carry = _masked(m, h_new, c_new, h, c)
        return carry, (y, acts, h, c)

    (h_t, c_t), (ys, acts, h_prev, c_prev) = jax.lax.scan(
        body, (h0, c0), (projected, mask), reverse=reverse
    )
    return (ys, h_t, c_t), (W_x, W_h, xs, mask, acts, h_prev, c_prev)


def _backward(reverse, residuals, cotangents):
    W_x, W_h, xs, mask, acts, h_prev, c_prev = residuals
    dys, dh_t, dc_t = cotangents

    def body(carry, inputs):
        dh, dc = carry  # the loss's gradient w.r.t. the carry this step returned
        dy, m, (i, f, g, o, tc), c = inputs
        valid = m > 0
        dh_new = jnp.where(valid, dh + dy, jnp.zeros_like(dh))
        dc_new = jnp.where(valid, dc, jnp.zeros_like(dc)) + dh_new * o * (1 - tc * tc)
        dpre = jnp.concatenate(
            [
                dc_new * g * i * (1 - i),
                dc_new * c * f * (1 - f),
                dc_new * i * (1 - g * g),
                dh_new * tc * o * (1 - o),
            ],
            axis=-1,
        )
        dh_prev = dpre @ W_h + jnp.where(valid, jnp.zeros_like(dh), dh)  # padding passes through
        dc_prev = dc_new * f + jnp.where(valid, jnp.zeros_like(dc), dc)
        return (dh_prev, dc_prev), dpre

    (dh0, dc0), dpre = jax.lax.scan(
        body, (dh_t, dc_t), (dys, mask, acts, c_prev), reverse=not reverse
    )
    dW_h = jnp.einsum("tbg,tbh->gh", dpre, h_prev)
    dW_x = jnp.einsum("tbg,tbd->gd", dpre, xs)
    db = dpre.sum(axis=(0, 1))
    dxs = jnp.einsum("tbg,gd->tbd", dpre, W_x)
    return dW_x, dW_h, db, dxs, dh0, dc0, jnp.zeros_like(mask)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _layer(reverse, W_x, W_h, b, xs, h0, c0, mask):
    """The layer without residuals: what runs when nothing differentiates it (inference)."""

    def body(carry, inputs):
        h, c = carry
        x, m = inputs
        h_new, c_new, _ = _cell(x @ W_x.T + h @ W_h.T + b[None, :], c)
        y, carry = _masked(m, h_new, c_new, h, c)
        return carry, y

    (h_t, c_t), ys = jax.lax.scan(body, (h0, c0), (xs, mask), reverse=reverse)
    return ys, h_t, c_t


_layer.defvjp(_forward, _backward)


def lstm(
    params: Params,
    xs: Array,
    *,
    lengths: Array | None = None,
    carry: LSTMCarry | None = None,
    reverse: bool = False,
) -> tuple[LSTMCarry, Array]:
    """One LSTM layer over a batch, as `genjax.rnn.unroll('lstm', params, xs, ...)`.

    Args:
      params: `cells.init_lstm`'s parameters (W_x [4H, D], W_h [4H, H], b [4H]).
      xs: [B, T, D] inputs.
      lengths: optional int [B] real lengths; padded steps keep the carry and emit zeros.
      carry: the initial `LSTMCarry` (h, c), leaves [B, H] (default zeros).
      reverse: read each sequence backwards from its last real step.

    Returns:
      (final LSTMCarry, leaves [B, H]; ys [B, T, H]).
    """
    missing = [k for k in _PARAMS if k not in params]
    if missing:
        raise ValueError(f"LSTM params need {list(_PARAMS)}; missing {missing}")
    check_inputs(xs, lengths)
    batch, time = xs.shape[:2]
    hidden = params["W_h"].shape[1]
    if params["W_x"].shape != (4 * hidden, xs.shape[2]):
        raise ValueError(
            f"W_x must be [4H, D] = {(4 * hidden, xs.shape[2])} for inputs with D = "
            f"{xs.shape[2]}, got {params['W_x'].shape}"
        )
    if carry is None:
        zeros = jnp.zeros((batch, hidden), xs.dtype)
        carry = LSTMCarry(zeros, zeros)
    check_carry(carry, batch, "carry")
    if lengths is None:
        mask = jnp.ones((time, batch, 1), xs.dtype)
    else:
        mask = (jnp.arange(time)[:, None] < lengths[None, :])[..., None].astype(xs.dtype)
    ys, h_t, c_t = _layer(
        bool(reverse), params["W_x"], params["W_h"], params["b"],
        jnp.swapaxes(xs, 0, 1), carry.h, carry.c, mask,
    )  # fmt: skip
    return LSTMCarry(h_t, c_t), jnp.swapaxes(ys, 0, 1)
