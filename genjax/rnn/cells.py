"""Recurrent cells as pure step functions `step(params, carry, x) -> (carry, y)` (3.2, 3.6).

Every step works on ONE example (`x: [D]`, carry leaves `[H]`); `genjax.rnn.unroll`
vmaps it over a batch and scans it over time. Weights follow the notes' column
convention (`W_hh h`, shape `[out, in]`), so spectral radii and Jacobians read
exactly as in 3.2-3.3.

- tanh RNN: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h); optional readout
  a_t = W_hz h_t + b_z (the names of 3.2).
- LSTM: gates [i, f, g, o] = [sigma, sigma, tanh, sigma](W_x x + W_h h + b);
  c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t) (flax `LSTMCell`'s equations).
- GRU: r, z = sigma(W_x{r,z} x + b_x{r,z} + W_h{r,z} h),
  n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h
  (Cho et al. 2014 as in flax `GRUCell`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from genjax.rnn.spectral import with_spectral_radius
from genjax.typing import Array, Params, PRNGKey

Carry = Any  # an array [H] or a pytree of them (LSTMCarry); a batch adds a leading axis
CELL_NAMES = ("tanh", "lstm", "gru")


class LSTMCarry(NamedTuple):
    """The LSTM state: output h and memory cell c, each `[H]` (or `[B, H]` batched)."""

    h: Array
    c: Array


def _check_dims(**dims: int) -> None:
    for name, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _normal(key: PRNGKey, shape: tuple[int, ...], fan_in: int) -> Array:
    """LeCun-normal weights: N(0, 1 / fan_in)."""
    return jax.random.normal(key, shape) / jnp.sqrt(fan_in)


def orthogonal(key: PRNGKey, n: int, scale: float = 1.0) -> Array:
    """A Haar-random orthogonal `[n, n]` matrix times `scale` (spectral radius exactly |scale|)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n)))
    return scale * q * jnp.sign(jnp.diag(r))[None, :]


# ----------------------------------------------------------------------------- tanh RNN


def init_tanh_rnn(
    key: PRNGKey,
    input_dim: int,
    hidden_dim: int,
    output_dim: int | None = None,
    *,
    spectral_radius: float = 1.0,
    recurrent_init: str = "orthogonal",
) -> Params:
    """Tanh RNN parameters (3.2): W_xh [H, D], W_hh [H, H], b_h [H] (+ W_hz [O, H], b_z [O]).

    Args:
      key: the initialisation key.
      input_dim, hidden_dim: D and H.
      output_dim: O; adds the softmax readout W_hz, b_z (used by `genjax.rnn.bptt`).
      spectral_radius: W_hh's spectral radius rho, exactly (see `recurrent_init`).
      recurrent_init: 'orthogonal' (rho * a random orthogonal matrix: all singular
        values rho) or 'gaussian' (a Gaussian matrix rescaled to spectral radius rho).
    """
    _check_dims(input_dim=input_dim, hidden_dim=hidden_dim)
    if output_dim is not None:
        _check_dims(output_dim=output_dim)
    if recurrent_init not in ("orthogonal", "gaussian"):
        raise ValueError(
            f"recurrent_init must be 'orthogonal' or 'gaussian', got {recurrent_init!r}"
        )
    k_xh, k_hh, k_hz = jax.random.split(key, 3)
    if recurrent_init == "orthogonal":
        w_hh = orthogonal(k_hh, hidden_dim, spectral_radius)
    else:
        w_hh = with_spectral_radius(
            jax.random.normal(k_hh, (hidden_dim, hidden_dim)), spectral_radius
        )
    params = {
        "W_xh": _normal(k_xh, (hidden_dim, input_dim), input_dim),
        "W_hh": w_hh,
        "b_h": jnp.zeros((hidden_dim,)),
    }
    if output_dim is not None:
        params["W_hz"] = _normal(k_hz, (output_dim, hidden_dim), hidden_dim)
        params["b_z"] = jnp.zeros((output_dim,))
    return params


def tanh_rnn_step(params: Params, carry: Array, x: Array) -> tuple[Array, Array]:
    """h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h); emits h_t.  carry: [H], x: [D]."""
    h = jnp.tanh(params["W_hh"] @ carry + params["W_xh"] @ x + params["b_h"])
    return h, h


def tanh_rnn_initial_carry(params: Params) -> Array:
    """Zeros [H]."""
    return jnp.zeros(params["b_h"].shape)


# ----------------------------------------------------------------------------- LSTM


def init_lstm(key: PRNGKey, input_dim: int, hidden_dim: int, *, forget_bias: float = 1.0) -> Params:
    """LSTM parameters: W_x [4H, D], W_h [4H, H] (orthogonal blocks), b [4H]; gates [i, f, g, o].

    Args:
      forget_bias: the forget gate's initial bias (Gers et al. 2000; Jozefowicz et
        al. 2015 recommend 1): sigma(1) = 0.73 keeps the cell path open at the start.
    """
    _check_dims(input_dim=input_dim, hidden_dim=hidden_dim)
    k_x, k_h = jax.random.split(key)
    w_h = jnp.concatenate([orthogonal(k, hidden_dim) for k in jax.random.split(k_h, 4)], axis=0)
    b = jnp.zeros((4 * hidden_dim,)).at[hidden_dim : 2 * hidden_dim].set(forget_bias)
    return {"W_x": _normal(k_x, (4 * hidden_dim, input_dim), input_dim), "W_h": w_h, "b": b}


def lstm_gates(params: Params, carry: LSTMCarry, x: Array) -> tuple[Array, Array, Array, Array]:
    """The gates (i, f, g, o), each [H], of one LSTM step."""
    pre = params["W_x"] @ x + params["W_h"] @ carry.h + params["b"]
    i, f, g, o = jnp.split(pre, 4)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def lstm_step(params: Params, carry: LSTMCarry, x: Array) -> tuple[LSTMCarry, Array]:
    """c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t); emits h_t (3.6)."""
    i, f, g, o = lstm_gates(params, carry, x)
    c = f * carry.c + i * g
    h = o * jnp.tanh(c)
    return LSTMCarry(h, c), h


def lstm_initial_carry(params: Params) -> LSTMCarry:
    """Zeros (h [H], c [H])."""
    zeros = jnp.zeros(params["W_h"].shape[1:])
    return LSTMCarry(zeros, zeros)


# ----------------------------------------------------------------------------- GRU


def init_gru(key: PRNGKey, input_dim: int, hidden_dim: int) -> Params:
    """GRU parameters: W_x [3H, D], b_x [3H], W_h [3H, H], b_hn [H]; blocks [r, z, n] (as flax)."""
    _check_dims(input_dim=input_dim, hidden_dim=hidden_dim)
    k_x, k_h = jax.random.split(key)
    w_h = jnp.concatenate([orthogonal(k, hidden_dim) for k in jax.random.split(k_h, 3)], axis=0)
    return {
        "W_x": _normal(k_x, (3 * hidden_dim, input_dim), input_dim),
        "b_x": jnp.zeros((3 * hidden_dim,)),
        "W_h": w_h,
        "b_hn": jnp.zeros((hidden_dim,)),
    }


def gru_step(params: Params, carry: Array, x: Array) -> tuple[Array, Array]:
    """One GRU step (flax `GRUCell`'s equations); emits h_t.  carry: [H], x: [D]."""
    hidden = carry.shape[-1]
    gx = params["W_x"] @ x + params["b_x"]
    w_h = params["W_h"]
    gh_rz = w_h[: 2 * hidden] @ carry
    r = jax.nn.sigmoid(gx[:hidden] + gh_rz[:hidden])
    z = jax.nn.sigmoid(gx[hidden : 2 * hidden] + gh_rz[hidden:])
    n = jnp.tanh(gx[2 * hidden :] + r * (w_h[2 * hidden :] @ carry + params["b_hn"]))
    h = (1.0 - z) * n + z * carry
    return h, h


def gru_initial_carry(params: Params) -> Array:
    """Zeros [H]."""
    return jnp.zeros(params["b_hn"].shape)


# ----------------------------------------------------------------------------- registry


class Cell(NamedTuple):
    """A cell as a bundle of pure functions (cf. optax's `GradientTransformation`).

    Attributes:
      name: 'tanh', 'lstm' or 'gru'.
      init: `init(key, input_dim, hidden_dim, **options) -> params`.
      step: `step(params, carry, x) -> (carry, y)` for one example.
      initial_carry: `initial_carry(params) -> carry` of zeros for one example.
    """

    name: str
    init: Callable[..., Params]
    step: Callable[[Params, Carry, Array], tuple[Carry, Array]]
    initial_carry: Callable[[Params], Carry]


_CELLS = {
    "tanh": Cell("tanh", init_tanh_rnn, tanh_rnn_step, tanh_rnn_initial_carry),
    "lstm": Cell("lstm", init_lstm, lstm_step, lstm_initial_carry),
    "gru": Cell("gru", init_gru, gru_step, gru_initial_carry),
}


def get_cell(name: str) -> Cell:
    """The cell called `name` ('tanh', 'lstm' or 'gru'); ValueError otherwise."""
    if name not in _CELLS:
        raise ValueError(f"unknown cell name {name!r}; choose one of {CELL_NAMES}")
    return _CELLS[name]


CellLike = str | Cell  # a cell or its name


def as_cell(cell: CellLike) -> Cell:
    """A `Cell` from a cell or its name; ValueError naming the unknown name."""
    return cell if isinstance(cell, Cell) else get_cell(cell)


def init_cell(key: PRNGKey, name: str, input_dim: int, hidden_dim: int, **options) -> Params:
    """`get_cell(name).init(key, input_dim, hidden_dim, **options)`."""
    return get_cell(name).init(key, input_dim, hidden_dim, **options)


def carry_output(carry: Carry) -> Array:
    """The part of a carry that is the cell's output h (the carry itself for tanh/GRU)."""
    return carry.h if isinstance(carry, LSTMCarry) else carry
