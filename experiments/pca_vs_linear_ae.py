"""Claim 1.1: PCA vs the tied and untied linear autoencoder on centred MNIST.

For each k: PCA by SVD, then both AEs trained on the squared reconstruction
error with `genjax.train.train`. Metrics: the largest principal angle between
the AE basis and the top-k PCA subspace, the AE/PCA reconstruction-error ratio
(train and test), the basis' orthonormality error, and the smallest angle
between any basis vector and a principal axis.

    python -m experiments.pca_vs_linear_ae --workdir runs/pca_quick \\
        --config=experiments/configs/pca_vs_linear_ae.py:quick
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from genjax import linear
from genjax.data import make_batch_fn
from genjax.train import create_train_state, make_train_step, train

log = logging.getLogger("genjax")

IMAGE_SIDE = 28
DIM = IMAGE_SIDE * IMAGE_SIDE


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "num_steps", "num_steps_tied", "log_every", "eval_every", "init_scale", "grad_tol"
    )
    common.require_choice(config, "optimizer", linear.OPTIMIZERS)
    if config.optimizer != "lbfgs":
        common.require_positive(config, "learning_rate")
    ks = tuple(config.ks)
    if not ks:
        raise common.ConfigError("config.ks must name at least one k")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= DIM:
            raise common.ConfigError(f"config.ks entries must be integers in [1, {DIM}], got {k!r}")
    variants = tuple(config.variants)
    if not variants or any(v not in linear.VARIANTS for v in variants):
        raise common.ConfigError(
            f"config.variants must be a non-empty subset of {linear.VARIANTS}, got {variants}"
        )
    batch_size = config.batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise common.ConfigError(
            f"config.batch_size must be >= 0 (0: full batch), got {batch_size!r}"
        )
    if config.optimizer == "lbfgs" and batch_size:
        raise common.ConfigError(
            "config.optimizer='lbfgs' needs full batches (config.batch_size=0)"
        )
    if batch_size and config.gram_batch:
        raise common.ConfigError("config.gram_batch replaces the data: use it with batch_size=0")
    if config.figure_k not in ks:
        raise common.ConfigError(f"config.figure_k={config.figure_k!r} must be one of ks={ks}")


def _train_variant(config, variant, k, x_train, batch, components, key, workdir):
    """Trains one AE until its mean gradient norm is below `config.grad_tol` (or the cap).

    Returns its final params, the eval history and the steps it took.
    """
    params = linear.init_params(jax.random.fold_in(key, 0), variant, k, DIM, config.init_scale)
    num_steps = config.num_steps_tied if variant == "tied" else config.num_steps
    optimizer = linear.make_optimizer(
        config.optimizer,
        config.learning_rate,
        num_steps,
        lbfgs_memory=config.lbfgs_memory,
        approx_dec_rtol=config.approx_dec_rtol,
    )
    loss_fn = linear.make_loss_fn(variant)
    if config.optimizer == "lbfgs":
        train_step = linear.make_lbfgs_train_step(loss_fn, optimizer)
    else:
        train_step = make_train_step(loss_fn, optimizer)
    if config.batch_size:
        batch_fn = make_batch_fn(x_train, config.batch_size, jax.random.fold_in(key, 1))
    else:

        def batch_fn(step: int):
            del step
            return batch

    @jax.jit
    def angle(params):
        return linear.max_principal_angle_deg(linear.ae_basis(variant, params), components)

    def eval_fn(state):
        return {"max_principal_angle_deg": angle(state.params)}

    def converged(step: int, means) -> bool:
        del step
        return means["grad_norm"] < config.grad_tol

    state = create_train_state(params, optimizer, jax.random.fold_in(key, 2))
    result = train(
        state,
        train_step,
        batch_fn,
        num_steps,
        workdir=workdir,
        log_every=config.log_every,
        checkpoint_every_secs=config.checkpoint_every_secs,
        eval_fn=eval_fn,
        eval_every=config.eval_every,
        stop_fn=converged,
    )
    history = [r for r in result.history if r["split"] == "eval"]
    return result.state.params, history, int(result.state.step)


def _components_figure(pca_components, bases, k):
    import matplotlib as mpl

    from experiments import plotting

    rows = [("PCA", pca_components)] + [
        (f"autoencoder,\n{plotting.words(v, plotting.LINEAR_AE_VARIANTS)}", b)
        for v, b in bases.items()
    ]
    side = (plotting.TEXT_WIDTH - 1.4) / k
    fig, axes = plotting.figure(
        len(rows), k, width=plotting.TEXT_WIDTH, height=side * len(rows) + 1.0, squeeze=False
    )
    for r, (name, vectors) in enumerate(rows):
        vectors = np.asarray(vectors)
        for i in range(k):
            image = vectors[i].reshape(IMAGE_SIDE, IMAGE_SIDE)
            limit = float(np.max(np.abs(image))) or 1.0
            ax = axes[r, i]
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
            plotting.image_panel(ax, frame=True)
            if r == 0:
                ax.set_title(f"{i + 1}")
            if i == 0:
                ax.set_ylabel(name)
    scale = mpl.cm.ScalarMappable(mpl.colors.Normalize(-1, 1), "RdBu_r")
    bar = fig.colorbar(scale, ax=axes, ticks=[-1, 0, 1], shrink=0.8, aspect=15)
    bar.ax.set_yticklabels(["−max", "0", "+max"])
    bar.set_label("pixel weight\n(per image, to its largest |weight|)")
    fig.supxlabel("component or basis vector (index)")
    fig.suptitle(
        f"PCA components and linear-autoencoder basis vectors, k = {k}\n"
        "(autoencoder basis: the shared weights if tied, the decoder's columns if untied)"
    )
    return fig


def _angles_figure(curves):
    from experiments import plotting

    fig, ax = plotting.figure(height=3.2)
    for (variant, k), history in sorted(curves.items()):
        steps = [r["step"] for r in history]
        angles = [max(r["max_principal_angle_deg"], 1e-6) for r in history]
        name = plotting.words(variant, plotting.LINEAR_AE_VARIANTS)
        ax.plot(steps, angles, ls="-" if variant == "tied" else "--", label=f"{name}, k = {k}")
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="1 degree")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("max principal angle to the\nPCA subspace (degrees)")
    plotting.set_title(ax, "Linear autoencoders converge to the PCA subspace")
    fig.legend(loc="outside lower center", ncol=2)
    return fig


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Runs PCA and both linear AEs for every k; writes metrics.json, config.json and figures."""
    validate_config(config)
    # At k=32 the untied AE's last degree changes the loss by ~5e-7 of its value,
    # the float32 resolution of the loss that the L-BFGS line search compares.
    with jax.enable_x64(config.float64):
        return _train_and_evaluate(config, Path(workdir))


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: Path) -> dict[str, float]:

    dtype = np.float64 if config.float64 else np.float32
    train_set, test_set = common.load_mnist(config)
    train_images = train_set.flat().astype(dtype)
    test_images = test_set.flat().astype(dtype)
    common.require_batch_fits(config.batch_size, len(train_images), "MNIST's training set")
    workdir = common.prepare_workdir(workdir, config)
    mean = train_images.mean(axis=0, keepdims=True)
    x_train = jnp.asarray(train_images - mean)
    x_test = jnp.asarray(test_images - mean)
    batch = linear.gram_equivalent_batch(x_train) if config.gram_batch else x_train
    top = linear.pca(x_train, max(config.ks))

    key = jax.random.PRNGKey(config.seed)
    metrics: dict[str, float] = {}
    curves = {}
    figure_bases = {}
    for k in config.ks:
        components = top.components[:k]
        pca_train = float(linear.pca_reconstruction_error(x_train, components))
        pca_test = float(linear.pca_reconstruction_error(x_test, components))
        metrics[f"pca_recon_mse_k{k}"] = pca_train
        for variant in config.variants:
            tag = f"{variant}_k{k}"
            t0 = time.perf_counter()
            run_key = jax.random.fold_in(jax.random.fold_in(key, k), linear.VARIANTS.index(variant))
            params, history, steps = _train_variant(
                config, variant, k, x_train, batch, components, run_key, workdir / tag
            )
            seconds = time.perf_counter() - t0
            basis = linear.ae_basis(variant, params)
            reconstruct = (
                linear.reconstruct_tied if variant == "tied" else linear.reconstruct_untied
            )
            weights = params["W"] if variant == "tied" else params
            mse_train = float(jnp.mean(jnp.sum((x_train - reconstruct(weights, x_train)) ** 2, -1)))
            mse_test = float(jnp.mean(jnp.sum((x_test - reconstruct(weights, x_test)) ** 2, -1)))
            metrics[f"max_principal_angle_deg_{tag}"] = float(
                linear.max_principal_angle_deg(basis, components)
            )
            metrics[f"recon_mse_ratio_{tag}"] = mse_train / pca_train
            metrics[f"recon_mse_ratio_test_{tag}"] = mse_test / pca_test
            metrics[f"orthonormality_error_{tag}"] = float(linear.orthonormality_error(basis))
            metrics[f"min_axis_angle_deg_{tag}"] = float(linear.min_axis_angle(basis, components))
            metrics[f"train_seconds_{tag}"] = seconds
            metrics[f"train_steps_{tag}"] = steps
            if variant == "untied":
                # The encoder rows: free along pixels that never vary, so not PCA-aligned.
                encoder = params["E"]
                metrics[f"max_principal_angle_deg_{tag}_encoder"] = float(
                    linear.max_principal_angle_deg(encoder, components)
                )
                metrics[f"orthonormality_error_{tag}_encoder"] = float(
                    linear.orthonormality_error(encoder)
                )
            curves[(variant, k)] = history
            if k == config.figure_k:
                figure_bases[variant] = basis
            log.info(
                "%s: angle %.3g deg, mse ratio %.6f, %.1fs",
                tag, metrics[f"max_principal_angle_deg_{tag}"], metrics[f"recon_mse_ratio_{tag}"],
                seconds,
            )  # fmt: skip

    fig = _components_figure(top.components[: config.figure_k], figure_bases, config.figure_k)
    common.save_figure(fig, workdir, "components")
    common.save_figure(_angles_figure(curves), workdir, "principal_angles")
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
