"""The nonlinear autoencoder and the probes of its latent space (claim 1.2).

The model is a plain (deterministic) MLP autoencoder: `Encoder` maps an image
[B, 28, 28] to a code [B, latent_dim], `Decoder` maps a code to per-pixel
logits [B, 28, 28]. Pixels in [0, 1] are modelled as Bernoulli means (claim 1.8 in
docs/claims.md): the loss is the binary cross-entropy from logits summed over pixels (the
negative Bernoulli log-likelihood), and the decoded image is `sigmoid(logits)`.

Nothing in that loss shapes the distribution of the codes. The probes below
build latent points that no training image maps to and decode them:

- `fit_gaussian` / `sample_gaussian`: a Gaussian fitted to the training codes;
- `interpolate`: straight lines between two codes;
- `outside_points`: points on the Mahalanobis ellipsoid `scale` times larger
  than the smallest one (around the codes' mean) that holds every training code;
- `decode_grid`: a regular grid over a 2-D latent plane (shared with the VAE);
- `nearest_neighbor_distance`: how far decoded images lie from real ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax._checks import check_batch_dict
from genjax.nn import MLP, flatten_images
from genjax.train import LossFn
from genjax.typing import Array, Metrics, Params, PRNGKey

ImageBatch = dict  # {"image": float32 [B, H, W] in [0, 1], "label": int32 [B] (unused here)}


class Encoder(nn.Module):
    """An MLP from images [B, H, W] to codes [B, latent_dim]."""

    hidden: Sequence[int]
    latent_dim: int

    @nn.compact
    def __call__(self, images: Array) -> Array:
        return MLP(tuple(self.hidden), self.latent_dim, name="mlp")(flatten_images(images))


class Decoder(nn.Module):
    """An MLP from codes [B, latent_dim] to per-pixel Bernoulli logits [B, *image_shape]."""

    hidden: Sequence[int]
    image_shape: tuple[int, ...] = (28, 28)

    @nn.compact
    def __call__(self, codes: Array) -> Array:
        num_pixels = 1
        for size in self.image_shape:
            num_pixels *= size
        logits = MLP(tuple(self.hidden), num_pixels, name="mlp")(codes)
        return jnp.reshape(logits, (codes.shape[0], *self.image_shape))


class Autoencoder(nn.Module):
    """Encoder + decoder; the decoder's widths mirror the encoder's.

    Attributes:
      hidden: encoder hidden widths, e.g. (512, 256); the decoder uses (256, 512).
      latent_dim: the code size.
      image_shape: the shape of one image.

    `apply(params, images)` returns the reconstruction logits [B, *image_shape];
    `apply(params, images, method=Autoencoder.encode)` the codes [B, latent_dim];
    `apply(params, codes, method=Autoencoder.decode)` the logits of decoded codes.
    """

    hidden: Sequence[int]
    latent_dim: int
    image_shape: tuple[int, ...] = (28, 28)

    def setup(self):
        self.encoder = Encoder(tuple(self.hidden), self.latent_dim)
        self.decoder = Decoder(tuple(reversed(tuple(self.hidden))), tuple(self.image_shape))

    def encode(self, images: Array) -> Array:
        """Codes [B, latent_dim] of images [B, *image_shape]."""
        return self.encoder(images)

    def decode(self, codes: Array) -> Array:
        """Bernoulli logits [B, *image_shape] of codes [B, latent_dim]."""
        return self.decoder(codes)

    def __call__(self, images: Array) -> Array:
        return self.decode(self.encode(images))


def encode(model: Autoencoder, params: Params, images: Array) -> Array:
    """Codes [B, latent_dim] of images [B, *image_shape]."""
    return model.apply(params, images, method=Autoencoder.encode)


def decode_mean(model: Autoencoder, params: Params, codes: Array) -> Array:
    """Decoded images [B, *image_shape]: the Bernoulli means sigmoid(logits) of codes [B, d]."""
    return jax.nn.sigmoid(model.apply(params, codes, method=Autoencoder.decode))


def bernoulli_reconstruction_loss(logits: Array, images: Array) -> Array:
    """Binary cross-entropy from logits, summed over pixels: -log p(x|z) per image [B]."""
    chex.assert_equal_shape([logits, images])
    per_pixel = optax.sigmoid_binary_cross_entropy(logits, images)
    return jnp.sum(jnp.reshape(per_pixel, (per_pixel.shape[0], -1)), axis=1)


def make_reconstruction_loss(model: Autoencoder) -> LossFn:
    """`loss_fn(params, batch, key) -> (mean BCE per image, metrics)` for `make_train_step`.

    The key is unused: a plain autoencoder is deterministic. Metrics: `bce` (the
    loss) and `mse` (mean squared error per pixel of `sigmoid(logits)`).
    """

    def loss_fn(params: Params, batch: ImageBatch, key: PRNGKey) -> tuple[Array, Metrics]:
        del key
        check_batch_dict(batch, ("image",), "the reconstruction loss")
        images = batch["image"]
        logits = model.apply(params, images)
        bce = jnp.mean(bernoulli_reconstruction_loss(logits, images))
        mse = jnp.mean(jnp.square(jax.nn.sigmoid(logits) - images))
        return bce, {"bce": bce, "mse": mse}

    return loss_fn


def fit_gaussian(codes: Array) -> tuple[Array, Array]:
    """Maximum-likelihood mean [d] and unbiased covariance [d, d] (ddof=1) of codes [N, d]."""
    codes = jnp.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise ValueError(f"codes must be [N >= 2, d], got shape {codes.shape}")
    mean = jnp.mean(codes, axis=0)
    centred = codes - mean[None, :]
    cov = centred.T @ centred / (codes.shape[0] - 1)
    return mean, cov


def sample_gaussian(sample_key: PRNGKey, mean: Array, cov: Array, n: int) -> Array:
    """`n` samples [n, d] of N(mean [d], cov [d, d])."""
    if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(f"need mean [d] and cov [d, d], got {mean.shape} and {cov.shape}")
    return jax.random.multivariate_normal(sample_key, mean, cov, (n,), method="eigh")


def interpolate(z_a: Array, z_b: Array, num: int) -> Array:
    """Points (1 - t) z_a + t z_b at `num` evenly spaced t in [0, 1], endpoints included.

    Args:
      z_a, z_b: codes [..., d] of equal shape.
      num: number of points per line, >= 2.

    Returns:
      [..., num, d]; index 0 is `z_a`, index `num - 1` is `z_b`.
    """
    if num < 2:
        raise ValueError(f"num must be >= 2 to include both endpoints, got {num}")
    chex.assert_equal_shape([z_a, z_b])
    z_a, z_b = z_a[..., None, :], z_b[..., None, :]  # [..., 1, d]
    t = jnp.reshape(jnp.linspace(0.0, 1.0, num), (*([1] * (z_a.ndim - 2)), num, 1))
    return (1.0 - t) * z_a + t * z_b


def mahalanobis_distance(points: Array, mean: Array, cov: Array) -> Array:
    """sqrt((z - mean)^T cov^{-1} (z - mean)) for points [N, d]; returns [N]."""
    chol = jnp.linalg.cholesky(cov)
    whitened = jax.scipy.linalg.solve_triangular(chol, (points - mean[None, :]).T, lower=True)
    return jnp.sqrt(jnp.sum(jnp.square(whitened), axis=0))


def outside_points(
    direction_key: PRNGKey, codes: Array, n: int, scale: float
) -> tuple[Array, Array]:
    """`n` points [n, d] outside the region the codes [N, d] occupy, and that region's radius.

    The region is the smallest ellipsoid around the codes' mean, in the metric
    of their covariance, that holds every code: {z : m(z) <= r_max}, with
    m(z) = sqrt((z - mean)^T cov^{-1} (z - mean)) (Mahalanobis distance,
    `fit_gaussian`) and r_max = max_i m(code_i). Each point is
    z = mean + L u * scale * r_max, with cov = L L^T and u uniform on the unit
    sphere, so m(z) = scale * r_max exactly: `scale` > 1 puts every point
    outside the region, in every direction alike in the whitened coordinates.

    Returns:
      (points [n, d], r_max scalar).
    """
    if scale <= 1.0:
        raise ValueError(f"scale must be > 1 to leave the region of the codes, got {scale}")
    mean, cov = fit_gaussian(codes)
    r_max = jnp.max(mahalanobis_distance(codes, mean, cov))
    u = jax.random.normal(direction_key, (n, mean.shape[0]))
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    chol = jnp.linalg.cholesky(cov)
    points = mean[None, :] + (scale * r_max) * (u @ chol.T)
    return points, r_max


def nearest_neighbor_distance(images: Array, reference: Array, chunk_size: int = 256) -> Array:
    """Euclidean distance [M] from each image [M, ...] to its nearest reference image [N, ...].

    Images are flattened. The nearest index comes from ||a||^2 - 2 a.b + ||b||^2
    (one matmul per chunk of `chunk_size` images, so memory is chunk_size x N);
    the returned distance is then recomputed directly as ||a - b_nearest|| to
    avoid the cancellation of the expanded form.
    """
    if images.shape[1:] != reference.shape[1:]:
        raise ValueError(
            f"images {images.shape} and reference {reference.shape} differ in per-example shape"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return _nearest_neighbor_distance(
        flatten_images(jnp.asarray(images)), flatten_images(jnp.asarray(reference)), chunk_size
    )


@functools.partial(jax.jit, static_argnames="chunk_size")
def _nearest_neighbor_distance(a: Array, b: Array, chunk_size: int) -> Array:
    b_sq = jnp.sum(jnp.square(b), axis=1)  # [N]

    def one(x: Array) -> Array:  # x: [D]
        sq = b_sq - 2.0 * (b @ x)  # ||x||^2 is constant for the argmin
        nearest = b[jnp.argmin(sq)]
        return jnp.linalg.norm(x - nearest)

    return jax.lax.map(one, a, batch_size=chunk_size)


def grid_codes(lo: float | Sequence[float], hi: float | Sequence[float], n: int) -> Array:
    """An n x n grid [n, n, 2] over [lo0, hi0] x [lo1, hi1], laid out as an image.

    Row i, column j holds (z0, z1) = (x_j, y_{n-1-i}): z0 grows to the right and
    z1 grows upwards, so a tiled picture matches a scatter plot of the plane.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    lo0, lo1 = (lo, lo) if isinstance(lo, (int, float)) else tuple(lo)
    hi0, hi1 = (hi, hi) if isinstance(hi, (int, float)) else tuple(hi)
    if not (hi0 > lo0 and hi1 > lo1):
        raise ValueError(f"need hi > lo on both axes, got lo={lo}, hi={hi}")
    xs = jnp.linspace(lo0, hi0, n)
    ys = jnp.linspace(hi1, lo1, n)
    z0, z1 = jnp.meshgrid(xs, ys, indexing="xy")
    return jnp.stack([z0, z1], axis=-1)


def decode_grid(
    decode_fn: Callable[[Array], Array],
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int,
) -> tuple[Array, Array]:
    """Decodes a regular n x n grid over a 2-D latent plane, for the manifold picture.

    Args:
      decode_fn: codes [B, 2] -> images [B, H, W] (e.g. pixel means); any 2-D
        latent model (the AE here, the VAE later) plugs in.
      lo, hi: the plane's bounds, one number for both axes or (axis0, axis1).
      n: grid points per axis.

    Returns:
      (images [n, n, H, W], codes [n, n, 2]) laid out as in `grid_codes`.
    """
    codes = grid_codes(lo, hi, n)
    images = decode_fn(jnp.reshape(codes, (n * n, 2)))
    return jnp.reshape(images, (n, n, *images.shape[1:])), codes


def tile_images(images: Array, pad: int = 1, pad_value: float = 1.0) -> Array:
    """Tiles images [rows, cols, H, W] into one picture, `pad` pixels of `pad_value` apart.

    Returns:
      [rows * (H + pad) - pad, cols * (W + pad) - pad].
    """
    rows, cols, h, w = images.shape
    padded = jnp.pad(
        jnp.asarray(images), ((0, 0), (0, 0), (0, pad), (0, pad)), constant_values=pad_value
    )
    picture = jnp.transpose(padded, (0, 2, 1, 3)).reshape(rows * (h + pad), cols * (w + pad))
    return picture[: rows * (h + pad) - pad, : cols * (w + pad) - pad]
