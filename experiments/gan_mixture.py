"""Claims 2.4 and 2.5 (stability): mode collapse and its fixes on 2-D Gaussian mixtures.

For each mixture (ring of 8, std 0.01; 5x5 grid, std 0.05) and each variant
(`genjax.gan.variants.VARIANTS`: minimax and non-saturating GANs, unrolled GANs
with k = 5 and 10, minibatch discrimination, WGAN with weight clipping, WGAN-GP),
`num_seeds` seeds train together as one vmapped step. Each run is scored with
PacGAN's statistics on 2,500 samples (modes captured, fraction of high-quality
samples, reverse KL of the mode histogram to uniform) and the exact W1 to
held-out data. Metrics: `{dataset}_{variant}_modes_mean`, `_modes_std`,
`_hq_mean`, `_reverse_kl_mean`, `_w1_mean`.

The stability sweep (full profile) trains GANs (both generator losses) and
WGAN-GP over learning rates and discriminator depths on the ring and reports
`ring_{method}_success_rate`: the fraction of runs that end with >= 7/8 modes
and >= 50% high-quality samples.
"""

from __future__ import annotations

import collections
import itertools
import logging
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from genjax import gan, train
from genjax.data import mixtures
from genjax.gan import multiseed, variants

log = logging.getLogger("genjax")

_FIELDS = {
    "profile", "seed", "datasets", "variants", "num_seeds", "num_steps", "batch_size",
    "noise_dim", "gen_hidden", "disc_hidden", "activation", "gan_learning_rate",
    "wgan_clip_learning_rate",
    "clip_value", "wgan_gp_learning_rate", "gp_weight", "lr_final_fraction", "minibatch_kernel_dim",
    "runs_axis", "unroll_use_scan", "eval_samples", "w1_samples", "log_every",
    "stability_sweep",
    "stability_methods", "stability_learning_rates", "stability_disc_depths", "stability_seeds",
    "stability_min_modes", "stability_min_hq",
}  # fmt: skip
# The stability sweep's methods (2.5: GANs with either generator loss vs WGAN-GP).
STABILITY_METHODS = ("gan_minimax", "gan_nonsaturating", "wgan_gp")


# The hidden nonlinearity of both networks, by name.
ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jax.nn.tanh}


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises common.ConfigError for values that cannot work (before any compilation)."""
    common.require_fields(config, _FIELDS)
    common.require_positive(
        config, "num_seeds", "num_steps", "batch_size", "noise_dim", "gan_learning_rate",
        "wgan_clip_learning_rate", "clip_value", "wgan_gp_learning_rate",
        "minibatch_kernel_dim", "eval_samples", "w1_samples", "log_every", "stability_seeds",
    )  # fmt: skip
    if not 0 <= config.lr_final_fraction <= 1:
        raise common.ConfigError(
            f"config.lr_final_fraction must be in [0, 1], got {config.lr_final_fraction}"
        )
    common.require_choice(config, "runs_axis", ("vmap", "map"))
    common.require_choice(config, "activation", tuple(ACTIVATIONS))
    if config.gp_weight < 0:
        raise common.ConfigError(f"config.gp_weight must be >= 0, got {config.gp_weight}")
    if not config.datasets or not config.variants:
        raise common.ConfigError("config.datasets and config.variants must not be empty")
    for name in config.datasets:
        if name not in mixtures.MIXTURES:
            raise common.ConfigError(
                f"unknown dataset {name!r} in config.datasets; known: {sorted(mixtures.MIXTURES)}"
            )
    for name in config.variants:
        if name not in variants.VARIANTS:
            raise common.ConfigError(
                f"unknown variant {name!r} in config.variants; known: {sorted(variants.VARIANTS)}"
            )
    for name in ("gen_hidden", "disc_hidden"):
        if not config[name] or any(not isinstance(w, int) or w < 1 for w in config[name]):
            raise common.ConfigError(f"config.{name} must be positive integers: {config[name]}")
    if config.w1_samples > config.eval_samples:
        raise common.ConfigError("config.w1_samples must be <= config.eval_samples")
    if config.stability_sweep:
        if not config.stability_learning_rates or not config.stability_disc_depths:
            raise common.ConfigError("the stability sweep needs learning rates and depths")
        if any(lr <= 0 for lr in config.stability_learning_rates):
            raise common.ConfigError("config.stability_learning_rates must be positive")
        if any(not isinstance(d, int) or d < 1 for d in config.stability_disc_depths):
            raise common.ConfigError("config.stability_disc_depths must be integers >= 1")
        methods = tuple(config.stability_methods)
        if not methods or any(m not in STABILITY_METHODS for m in methods):
            raise common.ConfigError(
                f"config.stability_methods must be a non-empty subset of {STABILITY_METHODS}"
            )
    if not 0 <= config.stability_min_hq <= 1:
        raise common.ConfigError("config.stability_min_hq must be in [0, 1]")


def _rate(direction, lr: float, decay_steps: int, config) -> optax.GradientTransformation:
    """`direction` (Adam's or RMSprop's scaling), times -lr, times a cosine decay.

    The rate sits in the optimizer state (`optax.inject_hyperparams`), so runs
    with different rates vmap together (`_set_learning_rate`); the decay goes
    from 1 to `lr_final_fraction` over the run (1.0: a constant rate).
    """
    return optax.chain(
        direction,
        optax.inject_hyperparams(optax.scale)(step_size=-lr),
        optax.scale_by_schedule(
            optax.cosine_decay_schedule(1.0, decay_steps, alpha=config.lr_final_fraction)
        ),
    )


def optimizers(
    variant: variants.GANVariant, config, learning_rate: float | None = None
) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """(G's, D's) optimizers of a variant; `learning_rate` overrides the config's."""
    g_steps, d_steps = config.num_steps, config.num_steps * variant.disc_steps
    if variant.objective == "wgan_clip":
        lr = learning_rate or config.wgan_clip_learning_rate
        gen = _rate(optax.scale_by_rms(decay=0.9, eps=1e-8), lr, g_steps, config)
        disc = optax.chain(
            _rate(optax.scale_by_rms(decay=0.9, eps=1e-8), lr, d_steps, config),
            gan.weight_clipping(config.clip_value),
        )
        return gen, disc
    if variant.objective == "wgan_gp":
        lr = learning_rate or config.wgan_gp_learning_rate
        adam = optax.scale_by_adam(b1=0.5, b2=0.9)
        return _rate(adam, lr, g_steps, config), _rate(adam, lr, d_steps, config)
    lr = learning_rate or config.gan_learning_rate
    # eps_root > 0: differentiating through Adam's sqrt in the unrolled loop (see gan.unrolled).
    return (
        _rate(optax.scale_by_adam(b1=0.5), lr, g_steps, config),
        _rate(optax.scale_by_adam(b1=0.5, eps_root=1e-8), lr, d_steps, config),
    )


def _set_learning_rate(opt_state, lr):
    """Writes the rate `lr` into every `_rate` (inject_hyperparams) state in `opt_state`
    (one optimizer's state, or a GAN state's {"gen", "disc"} dict of them).

    Raises ValueError if there is none: a rate that silently did not reach the
    optimizer would make every run of a sweep the same.
    """
    try:
        return optax.tree_utils.tree_set(opt_state, step_size=-jnp.asarray(lr))
    except KeyError as e:
        raise ValueError(
            "no learning-rate (inject_hyperparams step_size) state in opt_state"
        ) from e


def train_runs(
    variant: variants.GANVariant,
    modes: np.ndarray,
    std: float,
    config,
    keys: jax.Array,
    workdir: Path,
    *,
    disc_hidden=None,
    learning_rates=None,
):
    """Trains len(keys) runs of `variant` together; returns (G module, stacked G params, history).

    `learning_rates` ([R] or None) gives each run its own rate (same optimizer kind).
    """
    act = ACTIVATIONS[config.activation]
    gen = gan.Generator(hidden=tuple(config.gen_hidden), out_dim=2, activation=act)
    disc = gan.Discriminator(
        hidden=tuple(disc_hidden or config.disc_hidden),
        activation=act,
        minibatch_kernels=variant.minibatch_kernels,
        kernel_dim=config.minibatch_kernel_dim,
    )
    gen_opt, disc_opt = optimizers(variant, config)
    modes_j = jnp.asarray(modes)

    def sample_data(key, n):
        return mixtures.sample_mixture(key, n, modes_j, std)

    def init(key, lr):
        g_key, d_key, run_key = jax.random.split(key, 3)
        state = gan.init_gan_state(
            gen.init(g_key, jnp.zeros((1, config.noise_dim))),
            disc.init(d_key, jnp.zeros((1, 2))),
            gen_opt, disc_opt, run_key,
        )  # fmt: skip
        if learning_rates is None:
            return state
        return state._replace(opt_state=_set_learning_rate(state.opt_state, lr))

    lrs = jnp.zeros(len(keys)) if learning_rates is None else jnp.asarray(learning_rates)
    state = multiseed.stack_states(init, keys, lrs)
    step = variants.make_variant_step(
        variant, generate=gen.apply, discriminate=disc.apply, gen_optimizer=gen_opt,
        disc_optimizer=disc_opt, sample_data=sample_data, noise_dim=config.noise_dim,
        batch_size=config.batch_size, gp_weight=config.gp_weight,
        use_scan=config.unroll_use_scan,
    )  # fmt: skip
    multi_step = multiseed.make_multiseed_step(step, config.runs_axis)
    result = train.train(
        state, multi_step, lambda s: None, config.num_steps, workdir=workdir,
        log_every=config.log_every,
    )  # fmt: skip
    return gen, result.state.params["gen"], result.history


def _mode_stats(gen, gen_params, modes, std, config, key) -> dict[str, np.ndarray]:
    """Samples [R, eval_samples, 2] of stacked generators and their per-run PacGAN statistics."""
    noise = jax.random.normal(key, (config.eval_samples, config.noise_dim))
    samples = jax.jit(jax.vmap(gen.apply, in_axes=(0, None)))(gen_params, noise)
    modes_j = jnp.asarray(modes)
    stats = jax.jit(jax.vmap(lambda s: multiseed.mode_statistics(s, modes_j, std)))(samples)
    out = {name: np.asarray(v) for name, v in stats.items()}
    out["samples"] = np.asarray(samples)
    return out


def score_runs(gen, gen_params, modes, std, config, key, held_out) -> dict[str, np.ndarray]:
    """Per-run PacGAN statistics and exact W1 (to `held_out` data) of stacked generators."""
    out = _mode_stats(gen, gen_params, modes, std, config, key)
    samples = out["samples"]
    out["w1"] = np.array([gan.wasserstein_exact(s[: config.w1_samples], held_out) for s in samples])
    return out


def stability_sweep(config, modes, std, key, workdir: Path) -> dict[str, float]:
    """Success rates of GANs (both losses) and WGAN-GP over learning rate x D depth (ring)."""
    lrs = tuple(config.stability_learning_rates)
    grid = list(itertools.product(lrs, range(config.stability_seeds)))
    run_lrs = np.array([lr for lr, _ in grid], np.float32)
    rows = []
    for name in (m for m in STABILITY_METHODS if m in config.stability_methods):
        variant = variants.get_variant(name)
        for depth in config.stability_disc_depths:
            keys = jax.random.split(jax.random.fold_in(key, depth), len(grid))
            gen, params, _ = train_runs(
                variant, modes, std, config, keys, workdir / "stability" / f"{name}_depth{depth}",
                disc_hidden=(config.disc_hidden[0],) * depth, learning_rates=run_lrs,
            )  # fmt: skip
            stats = _mode_stats(gen, params, modes, std, config, jax.random.fold_in(key, 999))
            ok = (np.asarray(stats["modes"]) >= config.stability_min_modes) & (
                np.asarray(stats["hq"]) >= config.stability_min_hq
            )
            for (lr, seed), m, h, s in zip(grid, stats["modes"], stats["hq"], ok, strict=True):
                rows.append((name, depth, float(lr), seed, float(m), float(h), bool(s)))
            log.info("stability %s depth %d: %d/%d runs succeed", name, depth, ok.sum(), ok.size)
            # After every (method, depth): the runs so far survive a kill of this long sweep.
            common.write_json(
                workdir / "stability_runs.json",
                [dict(zip(("variant", "depth", "lr", "seed", "modes", "hq", "success"), r,
                          strict=True)) for r in rows],
            )  # fmt: skip
    _plot_stability(rows, config.stability_disc_depths, config.stability_learning_rates, workdir)
    return stability_metrics(rows)


def variant_metrics(prefix: str, res: dict[str, np.ndarray]) -> dict[str, float]:
    """`{prefix}_modes_mean`, `_modes_std`, `_hq_mean`, `_reverse_kl_mean`, `_w1_mean` from
    one (dataset, variant)'s per-seed statistics (`score_runs`)."""
    return {
        f"{prefix}_modes_mean": float(res["modes"].mean()),
        f"{prefix}_modes_std": float(res["modes"].std()),
        f"{prefix}_hq_mean": float(res["hq"].mean()),
        f"{prefix}_reverse_kl_mean": float(res["reverse_kl"].mean()),
        f"{prefix}_w1_mean": float(res["w1"].mean()),
    }


def stability_metrics(rows) -> dict[str, float]:
    """Success rates per method from the sweep's rows (variant, depth, lr, seed, modes, hq,
    success): `ring_{method}_success_rate`, and `ring_gan_success_rate` over both GAN losses."""
    success: dict[str, list[bool]] = {}
    for row in rows:
        success.setdefault(row[0], []).append(bool(row[-1]))
    metrics = {f"ring_{name}_success_rate": float(np.mean(v)) for name, v in success.items()}
    gans = [ok for name in ("gan_minimax", "gan_nonsaturating") for ok in success.get(name, [])]
    if gans:
        metrics["ring_gan_success_rate"] = float(np.mean(gans))
    metrics["stability_runs_per_method"] = float(max(len(v) for v in success.values()))
    return metrics


def _plot_stability(rows, depths, lrs, workdir: Path) -> None:
    """Per method, a (D depth x learning rate) table: success fraction, coloured; the mean
    modes captured and high-quality fraction over the cell's seeds written in it."""
    import matplotlib.pyplot as plt

    names = [m for m in STABILITY_METHODS if any(r[0] == m for r in rows)]
    depths, lrs = tuple(depths), tuple(lrs)
    counts = collections.Counter((r[0], r[1], r[2]) for r in rows)
    fig, axes = plt.subplots(1, len(names), figsize=(4.0 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        shape = (len(depths), len(lrs))
        success, modes, hq = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        for variant, depth, lr, _, m, h, ok in rows:
            if variant == name:
                cell = depths.index(depth), lrs.index(lr)
                n = counts[variant, depth, lr]
                success[cell] += ok / n
                modes[cell] += m / n
                hq[cell] += h / n
        ax.imshow(success, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.set_xlabel("learning rate")
        ax.set_ylabel("D hidden layers")
        rate = np.mean([r[-1] for r in rows if r[0] == name])
        ax.set_title(f"{name}: success {rate:.2f}", fontsize=10)
        for i, j in itertools.product(range(len(depths)), range(len(lrs))):
            text = f"{success[i, j]:.2f}\n{modes[i, j]:.1f} m, {hq[i, j]:.0%}"
            ax.text(j, i, text, ha="center", va="center", color="w", fontsize=7)
    fig.suptitle("success rate (colour); mean modes captured and high-quality share (text)",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    common.save_figure(fig, workdir, "stability")


def _plot_samples(results, config, workdir: Path) -> None:
    import matplotlib.pyplot as plt

    datasets, names = tuple(config.datasets), tuple(config.variants)
    fig, axes = plt.subplots(
        len(datasets), len(names), figsize=(2.6 * len(names), 2.6 * len(datasets)), squeeze=False
    )
    for (i, dataset), (j, name) in itertools.product(enumerate(datasets), enumerate(names)):
        ax = axes[i, j]
        modes, data, res = (
            results[dataset]["modes"],
            results[dataset]["data"],
            results[dataset][name],
        )
        ax.scatter(data[:, 0], data[:, 1], s=1, c="0.75", label="data")
        s = res["samples"][0]
        ax.scatter(s[:, 0], s[:, 1], s=1, c="C3", alpha=0.5, label="G (seed 0)")
        ax.scatter(modes[:, 0], modes[:, 1], s=8, marker="x", c="k")
        lim = 1.6 * np.abs(modes).max()
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(
            f"{dataset} {name}\nmodes {res['modes'].mean():.1f}, hq {res['hq'].mean():.2f}",
            fontsize=8,
        )
    fig.tight_layout()
    common.save_figure(fig, workdir, "samples")


def name_key(root: jax.Array, *names: str) -> jax.Array:
    """A key for `names` (e.g. dataset, variant): the same in any subset or order of a config's
    datasets and variants, so a one-variant rerun reproduces that variant's seeds."""
    return jax.random.fold_in(root, zlib.crc32("/".join(names).encode()) & 0x7FFFFFFF)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains every (dataset, variant), writes metrics.json and figures; returns the metrics."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config)
    root = jax.random.PRNGKey(config.seed)
    metrics: dict[str, float] = {}
    results = {}
    per_run = {}
    for dataset in config.datasets:
        modes, std = mixtures.load_mixture(dataset)
        data_key = name_key(root, dataset, "held_out")
        held_out = np.asarray(mixtures.sample_mixture(data_key, config.w1_samples, modes, std))
        results[dataset] = {"modes": modes, "data": held_out}
        for name in config.variants:
            variant = variants.get_variant(name)
            run_key = name_key(root, dataset, name)
            keys = jax.random.split(run_key, config.num_seeds)
            log.info("%s / %s: %d seeds x %d steps", dataset, name, len(keys), config.num_steps)
            gen, gen_params, _ = train_runs(
                variant, modes, std, config, keys, workdir / "runs" / f"{dataset}_{name}"
            )
            res = score_runs(
                gen, gen_params, modes, std, config, jax.random.fold_in(run_key, 1), held_out
            )
            results[dataset][name] = res
            prefix = f"{dataset}_{name}"
            metrics.update(variant_metrics(prefix, res))
            per_run[prefix] = {
                k: res[k].tolist() for k in ("modes", "hq", "reverse_kl", "w1", "counts")
            }
            # After every variant: what a long run has measured so far survives a kill.
            common.write_json(workdir / "metrics_partial.json", metrics)
            common.write_json(workdir / "per_run.json", per_run)
            log.info(
                "%s: modes %.2f +- %.2f, hq %.3f, reverse KL %.3f, W1 %.4f", prefix,
                metrics[f"{prefix}_modes_mean"], metrics[f"{prefix}_modes_std"],
                metrics[f"{prefix}_hq_mean"], metrics[f"{prefix}_reverse_kl_mean"],
                metrics[f"{prefix}_w1_mean"],
            )  # fmt: skip
    metrics["num_modes_ring"] = float(mixtures.ring_modes().shape[0])
    metrics["num_modes_grid"] = float(mixtures.grid_modes().shape[0])
    _plot_samples(results, config, workdir)
    if config.stability_sweep:
        modes, std = mixtures.load_mixture("ring")
        metrics.update(stability_sweep(config, modes, std, jax.random.fold_in(root, 7), workdir))
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
