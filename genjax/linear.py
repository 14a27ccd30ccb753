"""PCA, the linear autoencoder and subspace angles (claim 1.1 in docs/claims.md).

PCA's top-k directions minimise the mean squared reconstruction error
`E ||x - W^T W x||^2` over orthonormal `W` [k, d] (x centred); the minimum is
the sum of the discarded covariance eigenvalues. A linear autoencoder minimises
the same error without the constraint, tied (`x_hat = W^T W x`) or untied
(`x_hat = D E x`), so its basis spans the PCA subspace but is only determined
up to a rotation (tied) or any invertible map (untied). The functions here
compute both sides and the angles that compare them.

Conventions: data `x: [n, d]` has one example per row and is centred by the
caller; a basis or a set of components is a `[k, d]` matrix whose rows are the
vectors. Losses are the per-example mean of the summed squared error, with no
1/2 factor, so a loss equals `pca_reconstruction_error` at the PCA optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax._checks import check_int_in_range, check_learning_rate
from genjax.train import LossFn, TrainState
from genjax.train.state import update_norms
from genjax.typing import Array, Metrics, Params, PRNGKey

TIED = "tied"
UNTIED = "untied"
VARIANTS = (TIED, UNTIED)
OPTIMIZERS = ("lbfgs", "adam", "sgd")


class PCAResult(NamedTuple):
    """The top-k principal components of a data set.

    Attributes:
      components: [k, d] orthonormal rows, sorted by decreasing variance; the sign
        of each row is fixed so that its largest-magnitude entry is positive.
      explained_variance: [k] the covariance eigenvalues (variance along each
        component, with the unbiased 1/(n - 1) normaliser, as scikit-learn).
      mean: [d] the mean that was subtracted before the SVD.
    """

    components: Array
    explained_variance: Array
    mean: Array


def _check_matrix(name: str, a: Array) -> None:
    if np.ndim(a) != 2:
        raise ValueError(f"{name} must be a 2-D array [rows, dim], got shape {np.shape(a)}")


def _check_same_dim(name_a: str, a: Array, name_b: str, b: Array) -> None:
    if np.shape(a)[1] != np.shape(b)[1]:
        raise ValueError(
            f"{name_a} {np.shape(a)} and {name_b} {np.shape(b)} must have the same last dimension"
        )


def pca(x: Array, k: int) -> PCAResult:
    """Principal component analysis by the SVD of the centred data (Pearson 1901; Hotelling 1933).

    Args:
      x: [n, d] data, one example per row (centred here).
      k: number of components, 1 <= k <= min(n, d).

    Returns:
      A `PCAResult`; `components @ components.T == I_k`.

    Raises:
      ValueError: `x` is not 2-D, or `k` is out of range.
    """
    _check_matrix("x", x)
    n, d = np.shape(x)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= min(n, d):
        raise ValueError(f"k must be an integer in [1, min(n, d)] = [1, {min(n, d)}], got {k!r}")
    x = jnp.asarray(x)
    mean = jnp.mean(x, axis=0)
    _, singular_values, vt = jnp.linalg.svd(x - mean[None, :], full_matrices=False)
    components = vt[:k]
    # A deterministic sign: the largest-magnitude entry of each component is positive.
    pivot = jnp.take_along_axis(
        components, jnp.argmax(jnp.abs(components), axis=1)[:, None], axis=1
    )
    components = components * jnp.where(pivot < 0, -1.0, 1.0)
    explained_variance = singular_values[:k] ** 2 / max(n - 1, 1)
    return PCAResult(components, explained_variance, mean)


def _check_features(x: Array, d: int) -> None:
    """Raises ValueError unless the data x [..., d] have the weights' feature dimension d."""
    if np.ndim(x) < 1 or np.shape(x)[-1] != d:
        raise ValueError(
            f"x must be [n, {d}] (the weights' feature dimension d = {d}), got shape {np.shape(x)}"
        )


def _check_untied(params: Mapping[str, Array]) -> int:
    """The feature dimension d of untied params; ValueError unless E is [k, d] and D is [d, k]."""
    e_shape, d_shape = np.shape(params["E"]), np.shape(params["D"])
    if len(e_shape) != 2 or d_shape != e_shape[::-1]:
        raise ValueError(
            f"params['D'] must be [d, k] = {e_shape[::-1]} for params['E'] [k, d] = {e_shape}, "
            f"got shape {d_shape}"
        )
    return e_shape[1]


def reconstruct_tied(weight: Array, x: Array) -> Array:
    """The tied linear AE's reconstruction `x_hat = W^T W x` for every row; W: [k, d], x: [n, d].

    Raises:
      ValueError: x's last axis is not W's d.
    """
    _check_matrix("weight", weight)
    _check_features(x, np.shape(weight)[1])
    return (x @ weight.T) @ weight


def reconstruct_untied(params: Mapping[str, Array], x: Array) -> Array:
    """The untied linear AE's reconstruction `x_hat = D E x`; E: [k, d], D: [d, k], x: [n, d].

    Raises:
      ValueError: x's last axis is not E's d, or D is not [d, k].
    """
    _check_features(x, _check_untied(params))
    return (x @ params["E"].T) @ params["D"].T


def _mean_squared_error(x: Array, x_hat: Array) -> Array:
    return jnp.mean(jnp.sum((x - x_hat) ** 2, axis=-1))


def tied_reconstruction_loss(weight: Array, x: Array) -> Array:
    """Mean over examples of `||x - W^T W x||^2` (no 1/2 factor), claim 1.1 in docs/claims.md.

    Args:
      weight: W, [k, d].
      x: [n, d] centred data.

    Returns:
      A scalar: `(1/n) sum_i ||x_i - W^T W x_i||^2`.

    Raises:
      ValueError: x's last axis is not W's d.
    """
    return _mean_squared_error(x, reconstruct_tied(weight, x))


def untied_reconstruction_loss(params: Mapping[str, Array], x: Array) -> Array:
    """Mean over examples of `||x - D E x||^2` (no 1/2 factor).

    Args:
      params: {"E": encoder [k, d], "D": decoder [d, k]}.
      x: [n, d] centred data.

    Returns:
      A scalar: `(1/n) sum_i ||x_i - D E x_i||^2`.

    Raises:
      ValueError: x's last axis is not E's d, or D is not [d, k].
    """
    return _mean_squared_error(x, reconstruct_untied(params, x))


def pca_reconstruction_error(x: Array, components: Array) -> Array:
    """Mean over examples of `||x - V^T V x||^2`; V: [k, d] orthonormal rows, x: [n, d] centred.

    At the top-k components this is the sum of the discarded covariance
    eigenvalues (with the 1/n normaliser), the minimum of the tied loss.
    """
    _check_matrix("x", x)
    _check_matrix("components", components)
    _check_same_dim("x", x, "components", components)
    return tied_reconstruction_loss(components, x)


def _check_sizes(k: int, d: int) -> None:
    check_int_in_range(d, "d", 1)
    check_int_in_range(k, "k", 1, d, high_name="d")


def init_tied(key: PRNGKey, k: int, d: int, scale: float = 1.0) -> Params:
    """Random tied-AE parameters {"W": [k, d]}, entries N(0, scale^2 / d) (rows of norm ~scale).

    Raises:
      ValueError: k is not an integer in [1, d].
    """
    _check_sizes(k, d)
    return {"W": scale * jax.random.normal(key, (k, d)) / math.sqrt(d)}


def init_untied(key: PRNGKey, k: int, d: int, scale: float = 1.0) -> Params:
    """Random untied-AE parameters {"E": [k, d], "D": [d, k]}, entries N(0, scale^2 / d).

    Both factors get the same small per-entry scale, so `D E` starts near zero;
    nothing ties `E` to `D^T` afterwards.

    Raises:
      ValueError: k is not an integer in [1, d].
    """
    _check_sizes(k, d)
    encoder_key, decoder_key = jax.random.split(key)
    return {
        "E": scale * jax.random.normal(encoder_key, (k, d)) / math.sqrt(d),
        "D": scale * jax.random.normal(decoder_key, (d, k)) / math.sqrt(d),
    }


def init_params(key: PRNGKey, variant: str, k: int, d: int, scale: float = 1.0) -> Params:
    """`init_tied` or `init_untied` by name ('tied' or 'untied')."""
    _check_variant(variant)
    return (init_tied if variant == TIED else init_untied)(key, k, d, scale)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def ae_basis(variant: str, params: Params) -> Array:
    """The AE's basis vectors as rows [k, d]: W for the tied AE, the decoder columns D^T untied.

    The decoder columns span the reconstructions `D E x`; the encoder rows are
    pinned down only on the data's support (a pixel that is constant over the
    data set leaves its encoder weights untouched by the loss).
    """
    _check_variant(variant)
    return params["W"] if variant == TIED else params["D"].T


def make_loss_fn(variant: str) -> LossFn:
    """`loss_fn(params, batch, key) -> (loss, metrics)` for the tied or untied AE; batch: [n, d]."""
    _check_variant(variant)

    def loss_fn(params: Params, batch: Array, key: PRNGKey) -> tuple[Array, Metrics]:
        del key  # the loss is deterministic
        if variant == TIED:
            loss = tied_reconstruction_loss(params["W"], batch)
        else:
            loss = untied_reconstruction_loss(params, batch)
        return loss, {}

    return loss_fn


def gram_equivalent_batch(x: Array) -> Array:
    """A [min(n, d), d] stand-in for x [n, d] with the same mean loss for every linear AE.

    Every loss here is `(1/n) tr((I - M) X^T X (I - M)^T)` for a linear map M, so
    it depends on the data only through `X^T X = R^T R` (X = QR). The rows of
    `sqrt(r / n) R` (r rows) give the same mean, value and gradient, at a cost
    of r instead of n rows per evaluation. QR, not SVD, so nothing about the
    principal directions is handed to the optimizer.
    """
    _check_matrix("x", x)
    n = np.shape(x)[0]
    r = jnp.linalg.qr(jnp.asarray(x), mode="r")
    return r * jnp.sqrt(r.shape[0] / n)


def make_optimizer(
    name: str,
    learning_rate: float,
    num_steps: int,
    *,
    lbfgs_memory: int = 10,
    approx_dec_rtol: float | None = 1e-6,
) -> optax.GradientTransformation:
    """An optimizer by name: 'lbfgs', or 'adam' / 'sgd' with a cosine decay of `learning_rate`.

    Args:
      name: 'lbfgs' (zoom line search; `learning_rate` and `num_steps` unused), 'adam' or 'sgd'
        (cosine decay from `learning_rate` to 1% of it over `num_steps`).
      learning_rate: the peak step size of 'adam' / 'sgd'.
      num_steps: the length of the decay.
      lbfgs_memory: L-BFGS history length.
      approx_dec_rtol: the zoom line search's tolerance for accepting a step that
        raises the loss by up to this fraction of |loss| (Hager-Zhang approximate
        Wolfe); near the float32 resolution of the loss, smaller is steadier.

    Raises:
      ValueError: an unknown name, or ('adam' / 'sgd') a learning rate that is not a
        positive finite number.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    if name != "lbfgs":
        check_learning_rate(learning_rate)
    if name == "lbfgs":
        linesearch = optax.scale_by_zoom_linesearch(
            max_linesearch_steps=20, approx_dec_rtol=approx_dec_rtol
        )
        return optax.lbfgs(memory_size=lbfgs_memory, linesearch=linesearch)
    schedule = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.01)
    return optax.adam(schedule) if name == "adam" else optax.sgd(schedule)


def make_lbfgs_train_step(
    loss_fn: LossFn, optimizer: optax.GradientTransformation
) -> Callable[[TrainState, Any], tuple[TrainState, Metrics]]:
    """A full-batch `train_step(state, batch) -> (state, metrics)` for `optax.lbfgs`.

    Like `genjax.train.make_train_step`, but it hands the line search the
    objective `params -> loss_fn(params, batch, key)` and reuses the value and
    gradient the line search already computed at the current point. The batch
    must be the same at every step (L-BFGS is a full-batch method).
    """

    def train_step(state: TrainState, batch: Any) -> tuple[TrainState, Metrics]:
        step_key = jax.random.fold_in(state.key, state.step)

        def objective(params: Params) -> Array:
            return loss_fn(params, batch, step_key)[0]

        value_and_grad = optax.value_and_grad_from_state(objective)
        loss, grads = value_and_grad(state.params, state=state.opt_state)
        updates, opt_state = optimizer.update(
            grads, state.opt_state, state.params, value=loss, grad=grads, value_fn=objective
        )
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, **update_norms(grads, updates, params)}
        return TrainState(state.step + 1, params, opt_state, state.key), metrics

    return train_step


def principal_angles(a: Array, b: Array) -> Array:
    """Principal angles in radians, decreasing, between the row spaces of a [k1, d] and b [k2, d].

    Bjorck & Golub (1973), as `scipy.linalg.subspace_angles`: orthonormal bases
    Q_a, Q_b by SVD; the cosines are the singular values of `Q_a^T Q_b` and the
    sines those of the part of one basis orthogonal to the other. Each angle is
    `arctan2(sine, cosine)`, accurate near 0 (where arccos is not) and near 90
    degrees (where arcsin is not). Both inputs must have full row rank.

    Returns:
      [min(k1, k2)] angles in [0, pi/2], largest first.
    """
    _check_matrix("a", a)
    _check_matrix("b", b)
    _check_same_dim("a", a, "b", b)
    qa = jnp.linalg.svd(jnp.asarray(a).T, full_matrices=False)[0]  # [d, k1]
    qb = jnp.linalg.svd(jnp.asarray(b).T, full_matrices=False)[0]  # [d, k2]
    cross = qa.T @ qb  # [k1, k2]
    cosines = jnp.linalg.svd(cross, compute_uv=False)  # decreasing
    if qa.shape[1] >= qb.shape[1]:
        residual = qb - qa @ cross
    else:
        residual = qa - qb @ cross.T
    sines = jnp.linalg.svd(residual, compute_uv=False)  # decreasing
    return jnp.arctan2(jnp.clip(sines, 0.0, 1.0), jnp.clip(cosines[::-1], 0.0, 1.0))


def max_principal_angle_deg(a: Array, b: Array) -> Array:
    """The largest principal angle, in degrees, between the row spaces of a and b."""
    return jnp.degrees(principal_angles(a, b)[0])


def orthonormality_error(basis: Array) -> Array:
    """`||E E^T - I||_F` for E: [k, d]; zero exactly when the rows are orthonormal."""
    _check_matrix("basis", basis)
    k = np.shape(basis)[0]
    return jnp.linalg.norm(basis @ basis.T - jnp.eye(k), ord="fro")


def min_axis_angle(basis: Array, components: Array) -> Array:
    """The smallest angle, in degrees, between any basis vector and any principal axis.

    An axis has no sign: v and -v are the same axis, so every angle is in
    [0, 90]. Each angle is `arctan2(|b - (b.c)c|, |b.c|)` on unit vectors,
    accurate near 0.

    Args:
      basis: [m, d] basis vectors (rows; need not be unit length).
      components: [k, d] principal axes (rows; need not be unit length).

    Returns:
      A scalar: min over i, j of angle(basis_i, components_j). Zero when some
      basis vector is a principal axis.
    """
    _check_matrix("basis", basis)
    _check_matrix("components", components)
    _check_same_dim("basis", basis, "components", components)
    b = basis / jnp.linalg.norm(basis, axis=1, keepdims=True)
    c = components / jnp.linalg.norm(components, axis=1, keepdims=True)
    cosines = jnp.abs(b @ c.T)  # [m, k]
    # |b - (b.c)c|^2 = 1 - (b.c)^2 loses precision near 0; compute the residual directly.
    residual = b[:, None, :] - (b @ c.T)[:, :, None] * c[None, :, :]  # [m, k, d]
    sines = jnp.linalg.norm(residual, axis=-1)
    return jnp.degrees(jnp.min(jnp.arctan2(sines, cosines)))
