"""Claim 1.2: decoded latent points away from the training codes do not look like digits.

Trains a digit classifier (the judge) and one plain autoencoder per latent
size, then decodes four probes of each AE's latent space and measures how
digit-like the decoded images are: the classifier's mean max-softmax and the
mean Euclidean distance to the nearest training image.

    python -m experiments.ae_latent_space --workdir runs/ae_latent_space \\
        --config=experiments/configs/ae_latent_space.py:quick
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from genjax import autoencoder as ae_lib
from genjax import classifier as clf_lib
from genjax import train
from genjax.typing import Array, PRNGKey

log = logging.getLogger("genjax")

# Step counts that may grow on a rerun into the same workdir (common.check_resumable): both
# train constant-rate Adam from their checkpoints on, on batches that depend on the step alone.
EXTENDABLE = ("ae_num_steps", "classifier_num_steps")
PROBES = ("recon", "interp", "gaussian", "outside")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises common.ConfigError for values that cannot work (data-bound sizes: `_load_mnist`)."""
    common.require_positive(
        config, "ae_num_steps", "ae_learning_rate", "classifier_num_steps",
        "classifier_learning_rate", "batch_size", "num_probe_samples", "num_interp_pairs",
        "grid_size", "log_every", "outside_scale",
    )  # fmt: skip
    dims = tuple(config.latent_dims)
    if not dims or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in dims):
        raise common.ConfigError(f"config.latent_dims must be integers >= 1, got {dims}")
    if len(set(dims)) != len(dims):
        raise common.ConfigError(f"config.latent_dims has repeats: {dims}")
    if config.main_latent_dim not in dims:
        raise common.ConfigError(
            f"config.main_latent_dim={config.main_latent_dim} is not in latent_dims={dims}"
        )
    for name in ("ae_hidden", "classifier_hidden"):
        widths = tuple(config[name])
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise common.ConfigError(f"config.{name} must be positive integers, got {widths}")
    if config.outside_scale <= 1.0:
        raise common.ConfigError(
            f"config.outside_scale must be > 1 to leave the codes' region, "
            f"got {config.outside_scale}"
        )
    if config.num_interp_points < 3:
        raise common.ConfigError(
            f"config.num_interp_points must be >= 3 (endpoints plus an interior point), "
            f"got {config.num_interp_points}"
        )
    if config.grid_size < 2:
        raise common.ConfigError(f"config.grid_size must be >= 2, got {config.grid_size}")
    # The figures show 16 decoded samples per probe and 8 interpolation lines.
    if config.num_probe_samples < 16 or config.num_interp_pairs < 8:
        raise common.ConfigError(
            f"config.num_probe_samples (got {config.num_probe_samples}) must be >= 16 and "
            f"config.num_interp_pairs (got {config.num_interp_pairs}) >= 8 for the figures"
        )


def _judge(
    decoded: Mapping[str, Array], classify, reference: Array
) -> dict[str, tuple[float, float]]:
    """{probe: (mean max-softmax, mean distance to the nearest reference image)}.

    All probes go through the classifier and the nearest-neighbour search in one
    call each (one compilation for every probe).
    """
    names = list(decoded)
    sizes = [decoded[name].shape[0] for name in names]
    images = jnp.concatenate([decoded[name] for name in names], axis=0)  # [M, H, W]
    probs = classify(images)
    dists = ae_lib.nearest_neighbor_distance(images, reference)
    out, start = {}, 0
    for name, size in zip(names, sizes, strict=True):
        stop = start + size
        out[name] = (
            float(clf_lib.confidence(probs[start:stop])),
            float(jnp.mean(dists[start:stop])),
        )
        start = stop
    return out


def _different_class_pairs(pair_key: PRNGKey, labels: np.ndarray, num: int) -> np.ndarray:
    """`num` index pairs [num, 2] of test images whose labels differ."""
    perm = np.asarray(jax.random.permutation(pair_key, labels.shape[0]))
    half = labels.shape[0] // 2
    a, b = perm[:half], perm[half : 2 * half]
    keep = labels[a] != labels[b]
    pairs = np.stack([a[keep], b[keep]], axis=1)
    if pairs.shape[0] < num:
        raise common.ConfigError(f"only {pairs.shape[0]} different-class pairs, asked for {num}")
    return pairs[:num]


def _load_mnist(config: ml_collections.ConfigDict):
    """MNIST's (train, test) from config.mnist_source; ConfigError when a size does not fit."""
    train_set, test_set = common.load_mnist(config)
    common.require_batch_fits(config.batch_size, train_set.num_examples, "MNIST's training set")
    if config.num_probe_samples > test_set.num_examples:
        raise common.ConfigError(
            f"config.num_probe_samples={config.num_probe_samples} exceeds the "
            f"{test_set.num_examples:,} test images"
        )
    return train_set, test_set


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains the judge and the AEs, decodes the four probes, writes metrics and figures."""
    validate_config(config)
    train_set, test_set = _load_mnist(config)
    workdir = common.prepare_workdir(workdir, config, EXTENDABLE)
    train_data = {"image": train_set.images, "label": train_set.labels}
    test_images = jnp.asarray(test_set.images)

    root_key = jax.random.PRNGKey(config.seed)
    clf_init_key, clf_train_key, clf_data_key, ae_root_key, probe_root_key = jax.random.split(
        root_key, 5
    )
    del root_key
    classify, accuracy = _train_judge(
        config, train_data, test_set, (clf_init_key, clf_train_key, clf_data_key), workdir
    )
    metrics: dict[str, float] = {"classifier_test_accuracy": accuracy}
    log.info("classifier test accuracy %.4f", accuracy)

    pair_key, probe_root_key = jax.random.split(probe_root_key)
    pairs = _different_class_pairs(pair_key, test_set.labels, config.num_interp_pairs)
    figures: dict[int, dict[str, Any]] = {}  # per latent size: what the figures show
    for dim in config.latent_dims:
        ae_metrics, figures[dim] = _probe_autoencoder(
            config, dim, train_data, test_images, pairs, classify,
            jax.random.fold_in(ae_root_key, dim), jax.random.fold_in(probe_root_key, dim), workdir,
        )  # fmt: skip
        metrics.update(ae_metrics)

    _plot(figures, test_set.labels, config, workdir)
    return common.write_metrics(workdir, metrics)


def _train_judge(config, train_data, test_set, keys, workdir: Path):
    """The digit classifier: (`classify(images) -> probs`, its test accuracy)."""
    init_key, train_key, data_key = keys
    test_images = jnp.asarray(test_set.images)
    clf = clf_lib.Classifier(tuple(config.classifier_hidden))
    clf_params = clf.init(init_key, test_images[:1])
    clf_state = common.fit_adam(
        clf_lib.classifier_loss(clf), clf_params, config.classifier_learning_rate,
        train_key, data_key, train_data, config, config.classifier_num_steps,
        workdir / "classifier",
    )  # fmt: skip
    classify = functools.partial(
        jax.jit(clf_lib.predict_proba, static_argnums=0), clf, clf_state.params
    )
    return classify, float(clf_lib.accuracy(classify(test_images), test_set.labels))


def _probe_autoencoder(
    config, dim: int, train_data, test_images: Array, pairs: np.ndarray, classify,
    ae_key: PRNGKey, probe_key: PRNGKey, workdir: Path,
) -> tuple[dict[str, float], dict[str, Any]]:  # fmt: skip
    """Trains the latent-`dim` AE and judges its four probes; (metrics, what the figures show).

    The metrics of `config.main_latent_dim` carry no suffix, the others `_z{dim}`.
    """
    suffix = "" if dim == config.main_latent_dim else f"_z{dim}"
    init_key, train_key, data_key = jax.random.split(ae_key, 3)
    gauss_key, outside_key, eval_key = jax.random.split(probe_key, 3)
    model = ae_lib.Autoencoder(tuple(config.ae_hidden), dim)
    loss_fn = ae_lib.make_reconstruction_loss(model)
    params = common.fit_adam(
        loss_fn, model.init(init_key, test_images[:1]), config.ae_learning_rate, train_key,
        data_key, train_data, config, config.ae_num_steps, workdir / f"ae_z{dim}",
    ).params  # fmt: skip
    test_metrics = train.make_eval_step(loss_fn)(params, {"image": test_images}, eval_key)
    metrics = {
        f"ae_test_recon_loss{suffix}": float(test_metrics["loss"]),
        f"ae_test_recon_mse{suffix}": float(test_metrics["mse"]),
    }
    encode = functools.partial(jax.jit(ae_lib.encode, static_argnums=0), model, params)
    decode = functools.partial(jax.jit(ae_lib.decode_mean, static_argnums=0), model, params)
    reference = jnp.asarray(train_data["image"])
    train_codes = encode(reference)
    mean, cov = ae_lib.fit_gaussian(train_codes)
    n = config.num_probe_samples
    test_codes = encode(test_images)
    lines = ae_lib.interpolate(
        test_codes[pairs[:, 0]], test_codes[pairs[:, 1]], config.num_interp_points
    )  # [pairs, points, d]
    outside, r_max = ae_lib.outside_points(outside_key, train_codes, n, config.outside_scale)
    decoded = {
        "test": test_images[:n],  # the real images that "recon" reconstructs
        "recon": decode(test_codes[:n]),
        "interp": decode(jnp.reshape(lines[:, 1:-1], (-1, dim))),
        "gaussian": decode(ae_lib.sample_gaussian(gauss_key, mean, cov, n)),
        "outside": decode(outside),
    }
    judged = _judge(decoded, classify, reference)
    metrics["classifier_confidence_test"], metrics["nn_distance_test"] = judged["test"]
    for probe in PROBES:
        metrics[f"classifier_confidence_{probe}{suffix}"] = judged[probe][0]
        metrics[f"nn_distance_{probe}{suffix}"] = judged[probe][1]
    metrics[f"code_max_mahalanobis_radius{suffix}"] = float(r_max)
    figure = {
        "lines": decode(jnp.reshape(lines[:8], (-1, dim))).reshape(8, -1, 28, 28),
        "gaussian": decoded["gaussian"][:16],
        "outside": decoded["outside"][:16],
        "test_codes": test_codes,
        "decode": decode,
    }
    return metrics, figure


def _plot(
    figures: Mapping[int, Mapping],
    labels: np.ndarray,
    config: ml_collections.ConfigDict,
    workdir: Path,
) -> None:
    """latent_plane.png, interpolations.png and samples.png."""
    from experiments import plotting

    dims = list(figures)
    if 2 in figures:
        codes = np.asarray(figures[2]["test_codes"])
        lo, hi = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
        grid, _ = ae_lib.decode_grid(figures[2]["decode"], tuple(lo), tuple(hi), config.grid_size)
        fig, (ax0, ax1) = plotting.figure(1, 2, width=plotting.TEXT_WIDTH, height=3.3)
        sc = ax0.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=4, vmin=-0.5,
                         vmax=9.5, rasterized=True)  # fmt: skip
        ax0.set_xlim(lo[0], hi[0])
        ax0.set_ylim(lo[1], hi[1])
        plotting.set_title(ax0, "Autoencoder, 2-D latent: test codes by class")
        ax0.set_xlabel("latent $z_1$")
        ax0.set_ylabel("latent $z_2$")
        plotting.digit_colorbar(fig, sc, ax0)
        extent = (lo[0], hi[0], lo[1], hi[1])
        ax1.imshow(
            ae_lib.tile_images(grid, pad_value=0.0), cmap="gray_r", extent=extent, aspect="auto"
        )
        ax1.grid(False)
        plotting.set_title(
            ax1, f"Decoded {config.grid_size} × {config.grid_size} grid over the same plane"
        )
        ax1.set_xlabel("latent $z_1$")
        ax1.set_ylabel("latent $z_2$")
        common.save_figure(fig, workdir, "latent_plane")

    fig, axes = plotting.figure(len(dims), 1, width=plotting.COLUMN_WIDTH,
                                height=2.6 * len(dims) + 0.3, squeeze=False)  # fmt: skip
    for ax, dim in zip(axes[:, 0], dims, strict=True):
        ax.imshow(ae_lib.tile_images(figures[dim]["lines"], pad_value=0.0), cmap="gray_r")
        plotting.image_panel(ax)
        ax.set_title(f"Autoencoder, {dim}-D latent")
        ax.set_xlabel("interpolation point (first digit to second)")
        ax.set_ylabel("pair of test digits")
    plotting.suptitle(
        fig, "Linear interpolation between the codes of test digits of different classes"
    )
    common.save_figure(fig, workdir, "interpolations")

    fig, axes = plotting.figure(len(dims), 2, width=plotting.COLUMN_WIDTH,
                                height=1.95 * len(dims) + 0.1, squeeze=False)  # fmt: skip
    for row, dim in zip(axes, dims, strict=True):
        for ax, probe in zip(row, ("gaussian", "outside"), strict=True):
            ax.imshow(
                ae_lib.tile_images(figures[dim][probe].reshape(4, 4, 28, 28), pad_value=0.0),
                cmap="gray_r",
            )
            plotting.image_panel(ax)
            title = "Gaussian fitted to codes" if probe == "gaussian" else "outside the codes"
            plotting.set_title(ax, f"{dim}-D latent: {title}")
    common.save_figure(fig, workdir, "samples")


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
