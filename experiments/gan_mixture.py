"""Claims 2.4 and 2.5 (stability): mode collapse and its fixes on 2-D Gaussian mixtures.

For each mixture (ring of 8, std 0.01; 5x5 grid, std 0.05) and each variant
(`genjax.gan.variants`: minimax and non-saturating GANs, unrolled GANs with
k = 5 and 10, minibatch discrimination, WGAN with weight clipping, WGAN-GP, or
any objective with other options), `num_seeds` seeds train together as one
vmapped step (`genjax.train.make_multi_run_step`). Each run is scored with
PacGAN's statistics on 2,500 samples (`genjax.gan.metrics`: modes captured,
fraction of high-quality samples, reverse KL of the mode histogram to uniform)
and the exact W1 to held-out data. Metrics: `{dataset}_{variant}_modes_mean`,
`_modes_std`, `_hq_mean`, `_reverse_kl_mean`, `_w1_mean` (with `config.sweep`,
`{dataset}_{variant}_{knob}{value}_...`).

The stability sweep (full profile) trains GANs (both generator losses) and
WGAN-GP over learning rates and discriminator depths on the ring and reports
`ring_{method}_success_rate`: the fraction of runs that end with >= 7/8 modes
and >= 50% high-quality samples.
"""

from __future__ import annotations

import ast
import itertools
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from experiments.configs.gan_mixture import STABILITY_METHODS
from genjax import gan, train
from genjax.data import mixtures
from genjax.gan import metrics as gan_metrics
from genjax.gan import variants
from genjax.random_keys import named_key

log = logging.getLogger("genjax")

# The fields `config.sweep` may vary: what a study of training would change. The others
# choose what is trained and how it is scored (datasets, variants, evaluation sizes, ...).
SWEEPABLE = {
    "unroll_steps", "minibatch_kernels", "num_seeds", "num_steps", "batch_size", "noise_dim",
    "gen_hidden", "disc_hidden", "activation", "lr_final_fraction", "gen_learning_rate",
    "disc_learning_rate", "adam_beta1", "adam_beta2", "adam_eps", "disc_eps_root",
    "wgan_clip_learning_rate", "clip_value", "wgan_gp_learning_rate", "wgan_gp_beta1",
    "wgan_gp_beta2", "gp_weight", "minibatch_kernel_dim", "unroll_use_scan", "gan_update",
    "gen_batch",
}  # fmt: skip
# The indices folded into the recorded runs' keys: a run's evaluation noise (under its
# run key), the stability sweep (under the root key) and that sweep's evaluation noise.
# Every number drawn from a key changes with its index.
EVAL_KEY, STABILITY_KEY, STABILITY_EVAL_KEY = 1, 7, 999

# The hidden nonlinearity of both networks, by name.
ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jax.nn.tanh}
WEIGHT_INITS = ("default", "orthogonal")
# One stability run's row: method, D depth, learning rate, seed, final modes, hq, success.
# Samples of seed 0 drawn in samples.png (and kept in per_run.json).
PLOT_SAMPLES = 1000
STABILITY_ROW_FIELDS = ("variant", "depth", "lr", "seed", "modes", "hq", "success")


def kernel_init(config):
    """The networks' weight initializer of `config.weight_init` (None: flax's default)."""
    if config.weight_init == "orthogonal":
        return jax.nn.initializers.orthogonal(scale=config.weight_init_gain)
    return None


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises common.ConfigError for values that cannot work (before any compilation)."""
    points = sweep_points(config)
    for _, point in points:
        _validate_point(point)
    if len(points) > 1:
        _validate_point(config)  # the stability sweep's config
    if config.stability_sweep:
        _validate_stability(config)
    if not 0 <= config.stability_min_hq <= 1:
        raise common.ConfigError("config.stability_min_hq must be in [0, 1]")


def _validate_point(config: ml_collections.ConfigDict) -> None:
    """The checks of one trained config (one point of `config.sweep`)."""
    common.require_positive(
        config, "num_seeds", "num_steps", "batch_size", "noise_dim", "gen_learning_rate",
        "disc_learning_rate", "adam_eps", "wgan_clip_learning_rate", "clip_value",
        "wgan_gp_learning_rate", "minibatch_kernel_dim", "eval_samples", "w1_samples",
        "log_every", "stability_seeds",
    )  # fmt: skip
    for name in ("lr_final_fraction", "adam_beta1", "adam_beta2", "wgan_gp_beta1",
                 "wgan_gp_beta2"):  # fmt: skip
        if not 0 <= config[name] <= 1:
            raise common.ConfigError(f"config.{name} must be in [0, 1], got {config[name]}")
    for name in ("gp_weight", "disc_eps_root"):
        if config[name] < 0:
            raise common.ConfigError(f"config.{name} must be >= 0, got {config[name]}")
    for name in ("unroll_steps", "minibatch_kernels"):
        value = config[name]
        if value is not None and (not isinstance(value, int) or value < 0):
            raise common.ConfigError(f"config.{name} must be None or an int >= 0, got {value!r}")
    common.require_choice(config, "runs_axis", ("vmap", "map"))
    common.require_choice(config, "activation", tuple(ACTIVATIONS))
    common.require_choice(config, "weight_init", WEIGHT_INITS)
    common.require_positive(config, "weight_init_gain", "snapshot_samples")
    if not isinstance(config.snapshot_every, int) or config.snapshot_every < 0:
        raise common.ConfigError(
            f"config.snapshot_every must be an int >= 0, got {config.snapshot_every!r}"
        )
    if not config.variants or not (config.datasets or config.stability_sweep):
        raise common.ConfigError(
            "config.variants must not be empty, nor config.datasets without the stability sweep"
        )
    for name in config.datasets:
        if name not in mixtures.MIXTURES:
            raise common.ConfigError(
                f"unknown dataset {name!r} in config.datasets; known: {sorted(mixtures.MIXTURES)}"
            )
    common.require_choice(config, "gan_update", gan.UPDATES)
    common.require_choice(config, "gen_batch", gan.GEN_BATCHES)
    several = [v.name for v in resolve_variants(config) if v.disc_steps != 1]
    for name, value in (("gan_update", "simultaneous"), ("gen_batch", "shared")):
        if config[name] == value and several:
            raise common.ConfigError(
                f"config.{name}={value!r} needs one D step per step; {several} take more"
            )
    for name in ("gen_hidden", "disc_hidden"):
        if not config[name] or any(not isinstance(w, int) or w < 1 for w in config[name]):
            raise common.ConfigError(f"config.{name} must be positive integers: {config[name]}")
    if config.w1_samples > config.eval_samples:
        raise common.ConfigError("config.w1_samples must be <= config.eval_samples")


def _validate_stability(config: ml_collections.ConfigDict) -> None:
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


def resolve_variants(config) -> list[variants.GANVariant]:
    """`config.variants` with `config.unroll_steps` / `minibatch_kernels` applied (renamed)."""
    resolved = []
    for name in config.variants:
        try:
            variant = variants.get_variant(name)
        except ValueError as e:
            raise common.ConfigError(f"config.variants: {e}") from e
        resolved.append(
            variant.with_options(
                unroll_steps=config.unroll_steps, minibatch_kernels=config.minibatch_kernels
            )
        )
    names = [v.name for v in resolved]
    if len(set(names)) < len(names):
        raise common.ConfigError(
            f"config.variants {tuple(config.variants)} name the same variant twice once "
            f"config.unroll_steps / minibatch_kernels are applied: {names}"
        )
    return resolved


def parse_sweep(spec: str) -> tuple[str, list]:
    """'FIELD:V1,V2,...' -> (FIELD, [V1, V2, ...]); values are Python literals or bare words."""
    field, sep, values = spec.partition(":")
    field = field.strip()
    if not sep or not field or not values.strip():
        raise common.ConfigError(f"config.sweep must be 'FIELD:V1,V2,...', got {spec!r}")
    if field not in SWEEPABLE:
        raise common.ConfigError(
            f"config.sweep cannot vary {field!r}; it may vary {sorted(SWEEPABLE)}"
        )
    try:
        parsed = ast.literal_eval(f"[{values}]")
    except (ValueError, SyntaxError):
        parsed = [v.strip() for v in values.split(",")]
    if len({repr(v) for v in parsed}) < len(parsed):
        raise common.ConfigError(f"config.sweep repeats a value: {spec!r}")
    return field, parsed


def _label(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep_points(config) -> list[tuple[str, ml_collections.ConfigDict]]:
    """(metric suffix, config) per value of `config.sweep`; [("", config)] without one."""
    if not config.sweep:
        return [("", config)]
    field, values = parse_sweep(config.sweep)
    points = []
    for value in values:
        point = config.copy_and_resolve_references()
        try:
            point[field] = value
        except (TypeError, ValueError) as e:
            raise common.ConfigError(f"config.sweep: {field} = {value!r}: {e}") from e
        points.append((f"_{field}{_label(value)}", point))
    return points


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
    variant: variants.GANVariant, config
) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """(G's, D's) optimizers of a variant, at the config's rates."""
    g_steps, d_steps = config.num_steps, config.num_steps * variant.disc_steps
    if variant.objective == "wgan_clip":
        lr = config.wgan_clip_learning_rate
        gen = _rate(optax.scale_by_rms(decay=0.9, eps=1e-8), lr, g_steps, config)
        disc = optax.chain(
            _rate(optax.scale_by_rms(decay=0.9, eps=1e-8), lr, d_steps, config),
            gan.weight_clipping(config.clip_value),
        )
        return gen, disc
    if variant.objective == "wgan_gp":
        lr = config.wgan_gp_learning_rate
        adam = optax.scale_by_adam(b1=config.wgan_gp_beta1, b2=config.wgan_gp_beta2)
        return _rate(adam, lr, g_steps, config), _rate(adam, lr, d_steps, config)
    betas = dict(b1=config.adam_beta1, b2=config.adam_beta2, eps=config.adam_eps)
    return (
        _rate(optax.scale_by_adam(**betas), config.gen_learning_rate, g_steps, config),
        _rate(
            optax.scale_by_adam(**betas, eps_root=config.disc_eps_root),
            config.disc_learning_rate, d_steps, config,
        ),
    )  # fmt: skip


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
    snapshot_key=None,
):
    """Trains len(keys) runs of `variant` together; returns (G module, stacked G params, history).

    `learning_rates` ([R] or None) gives each run its own rate (both players, same optimizer).
    With `snapshot_key` and `config.snapshot_every` > 0 the history holds mode-coverage
    snapshots (`snapshot_series`), drawn from noise under that key.
    """
    act, init_w = ACTIVATIONS[config.activation], kernel_init(config)
    gen = gan.Generator(
        hidden=tuple(config.gen_hidden), out_dim=2, activation=act, kernel_init=init_w
    )
    disc = gan.Discriminator(
        hidden=tuple(disc_hidden or config.disc_hidden),
        activation=act,
        minibatch_kernels=variant.minibatch_kernels,
        kernel_dim=config.minibatch_kernel_dim,
        kernel_init=init_w,
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
    mesh = common.runs_mesh()  # the runs split over every device (None: one device)
    state = train.shard_runs(train.stack_runs(init, keys, lrs), mesh)
    step = variants.make_variant_step(
        variant, generate=gen.apply, discriminate=disc.apply, gen_optimizer=gen_opt,
        disc_optimizer=disc_opt, sample_data=sample_data, noise_dim=config.noise_dim,
        batch_size=config.batch_size, gp_weight=config.gp_weight,
        use_scan=config.unroll_use_scan, update=config.gan_update, gen_batch=config.gen_batch,
    )  # fmt: skip
    multi_step = train.make_multi_run_step(
        lambda s: step(s, None), runs_axis=config.runs_axis, mesh=mesh, num_runs=len(keys)
    )
    snapshots = snapshot_key is not None and config.snapshot_every > 0
    result = train.train(
        state, multi_step, lambda s: None, config.num_steps, workdir=workdir,
        log_every=config.log_every,
        checkpoint_every_secs=config.checkpoint_every_secs,
        eval_fn=(_snapshot_fn(gen, modes, std, config, snapshot_key, len(keys))
                 if snapshots else None),
        eval_every=config.snapshot_every if snapshots else None,
    )  # fmt: skip
    gen_params = result.state.params["gen"]
    if mesh is not None:  # the real runs, gathered from every device and host
        gen_params = train.gather_runs(gen_params, len(keys))
    return gen, gen_params, result.history


def _snapshot_fn(gen, modes, std, config, key, num_runs):
    """The loop's `eval_fn` for mode-coverage snapshots: per run r, `modes_r{r}`, `hq_r{r}`
    and `covered_r{r}` (the captured modes as a bitmask: mode j sets bit j)."""
    noise = jax.random.normal(key, (config.snapshot_samples, config.noise_dim))
    modes_j = jnp.asarray(modes)

    @jax.jit
    def stats(gen_params):
        def one(p):
            return gan_metrics.mode_statistics(gen.apply(p, noise), modes_j, std)

        return jax.vmap(one)(gen_params)

    def eval_fn(state) -> dict[str, float]:
        out = train.gather_runs(stats(state.params["gen"]), num_runs)
        scalars = {}
        for r, counts in enumerate(out["counts"]):
            scalars[f"modes_r{r}"] = float(out["modes"][r])
            scalars[f"hq_r{r}"] = float(out["hq"][r])
            scalars[f"covered_r{r}"] = float(sum(1 << int(j) for j in np.flatnonzero(counts)))
        return scalars

    return eval_fn


def snapshot_series(history, num_runs: int) -> dict[str, np.ndarray]:
    """The snapshots of a run's history: `steps` [S] and per-run `modes`, `hq` [R, S] and
    `covered` [R, S, ...] bitmasks (as ints), from the loop's eval records."""
    records = [r for r in history if r.get("split") == "eval" and "modes_r0" in r]
    records = sorted({int(r["step"]): r for r in records}.items())
    steps = np.array([s for s, _ in records], np.int64)
    out = {"steps": steps}
    for name in ("modes", "hq", "covered"):
        out[name] = np.array([[r[f"{name}_r{i}"] for _, r in records] for i in range(num_runs)])
    out["covered"] = out["covered"].astype(np.int64)
    return out


def modes_visited(covered: np.ndarray) -> np.ndarray:
    """[R] the number of distinct modes each run captured at any snapshot ([R, S] bitmasks)."""
    union = np.bitwise_or.reduce(covered.astype(np.int64), axis=1)
    return np.array([bin(int(u)).count("1") for u in union], np.float64)


def _mode_stats(gen, gen_params, modes, std, config, key) -> dict[str, np.ndarray]:
    """Samples [R, eval_samples, 2] of stacked generators and their per-run PacGAN statistics."""
    noise = jax.random.normal(key, (config.eval_samples, config.noise_dim))
    samples = jax.jit(jax.vmap(gen.apply, in_axes=(0, None)))(gen_params, noise)
    modes_j = jnp.asarray(modes)
    stats = jax.jit(jax.vmap(lambda s: gan_metrics.mode_statistics(s, modes_j, std)))(samples)
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
    """Success rates of GANs (both losses) and WGAN-GP over learning rate x D depth (ring).

    The methods are the presets, whatever `config.unroll_steps` / `minibatch_kernels` say.
    """
    lrs = tuple(config.stability_learning_rates)
    grid = list(itertools.product(lrs, range(config.stability_seeds)))
    run_lrs = np.array([lr for lr, _ in grid], np.float32)
    rows, row_series, curves = [], [], {}
    for name in (m for m in STABILITY_METHODS if m in config.stability_methods):
        variant = variants.get_variant(name)
        for depth in config.stability_disc_depths:
            keys = jax.random.split(named_key(key, depth), len(grid))
            eval_key = named_key(key, STABILITY_EVAL_KEY)
            gen, params, history = train_runs(
                variant, modes, std, config, keys, workdir / "stability" / f"{name}_depth{depth}",
                disc_hidden=(config.disc_hidden[0],) * depth, learning_rates=run_lrs,
                snapshot_key=eval_key,
            )  # fmt: skip
            stats = _mode_stats(gen, params, modes, std, config, eval_key)
            ok = _succeeds(stats["modes"], stats["hq"], config)
            series = snapshot_series(history, len(keys)) if config.snapshot_every > 0 else None
            if series is not None:
                curves.setdefault(name, []).append(series | {
                    "success": _succeeds(series["modes"], series["hq"], config)
                })  # fmt: skip
            for i, ((lr, seed), m, h, s) in enumerate(
                zip(grid, stats["modes"], stats["hq"], ok, strict=True)
            ):
                rows.append((name, depth, float(lr), seed, float(m), float(h), bool(s)))
                row_series.append(_row_series(series, i))
            log.info("stability %s depth %d: %d/%d runs succeed", name, depth, ok.sum(), ok.size)
            # After every (method, depth): the runs so far survive a kill of this long sweep.
            common.write_json(
                workdir / "stability_runs.json",
                [dict(zip(STABILITY_ROW_FIELDS, r, strict=True)) | extra
                 for r, extra in zip(rows, row_series, strict=True)],
            )  # fmt: skip
    common.plot_stability(
        rows, STABILITY_METHODS, config.stability_disc_depths, lrs, workdir
    )  # fmt: skip
    metrics = gan_metrics.stability_metrics(rows)
    if curves:
        metrics.update(_stability_curves(curves, workdir))
    return metrics


def _row_series(series, i: int) -> dict[str, list]:
    """Run i's snapshots for its stability_runs.json row (empty without snapshots), so that
    runs merged from several jobs give the same curves as one run."""
    if series is None:
        return {}
    return {
        "snapshot_steps": series["steps"].tolist(),
        "snapshot_modes": series["modes"][i].tolist(),
        "snapshot_hq": series["hq"][i].tolist(),
    }


def _succeeds(modes, hq, config) -> np.ndarray:
    """A stability run's success: >= `stability_min_modes` modes and >= `stability_min_hq`
    high-quality samples (elementwise over runs, or runs x snapshots)."""
    return (np.asarray(modes) >= config.stability_min_modes) & (
        np.asarray(hq) >= config.stability_min_hq
    )


def _stability_curves(curves: dict, workdir: Path) -> dict[str, float]:
    """Success rate against training step per method (pooled over depths, rates and seeds):
    `stability_curves.json`, `stability_over_training.png`, and each method's rate at
    half the budget (`ring_{method}_success_rate_half`), beside its final one, to show
    whether the runs have settled."""
    from experiments import plotting

    table, metrics = {}, {}
    for name, parts in curves.items():
        steps = parts[0]["steps"]
        success = np.concatenate([p["success"] for p in parts], axis=0)  # [runs, snapshots]
        table[name] = {"steps": steps.tolist(), "success_rate": success.mean(0).tolist()}
        half = int(np.argmin(np.abs(steps - steps[-1] / 2)))
        metrics[f"ring_{name}_success_rate_half"] = float(success[:, half].mean())
    common.write_json(workdir / "stability_curves.json", table)
    fig, ax = plotting.figure(width=plotting.COLUMN_WIDTH, height=2.6)
    for name, curve in table.items():
        ax.plot(curve["steps"], curve["success_rate"], marker="o", ms=3,
                label=plotting.gan_variant(name))  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel("fraction of runs that succeed")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    ax.set_title("Stability sweep through training")
    common.save_figure(fig, workdir, "stability_over_training")
    return metrics


def _plot_samples(results, workdir: Path) -> None:
    """Per (dataset, trained variant): seed 0's first samples over the data and the modes."""
    from experiments import plotting

    datasets = list(results)
    names = list(results[datasets[0]]["runs"])
    width = plotting.TEXT_WIDTH if len(names) > 2 else plotting.COLUMN_WIDTH
    side = (width - 0.6) / len(names)  # a panel's width, inches
    fig, axes = plotting.figure(
        len(datasets), len(names), width=width, height=(side + 0.75) * len(datasets) + 1.1,
        squeeze=False, sharex="row", sharey="row",
    )  # fmt: skip
    for (i, dataset), (j, name) in itertools.product(enumerate(datasets), enumerate(names)):
        ax = axes[i, j]
        modes, data = results[dataset]["modes"], results[dataset]["data"]
        res = results[dataset]["runs"][name]
        ax.scatter(data[:, 0], data[:, 1], s=1, c="0.7", label="held-out data", rasterized=True)
        s = res["samples"][0][:PLOT_SAMPLES]
        ax.scatter(s[:, 0], s[:, 1], s=1, c="C3", alpha=0.5, label="generator samples (seed 0)",
                   rasterized=True)  # fmt: skip
        ax.scatter(modes[:, 0], modes[:, 1], s=10, marker="x", c="k", lw=0.8,
                   label="mixture modes")  # fmt: skip
        lim = 1.6 * np.abs(modes).max()
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_box_aspect(1)
        ax.locator_params(nbins=3)
        ax.grid(False)
        ax.set_xlabel("$x_1$", labelpad=0)
        if j == 0:
            ax.set_ylabel(f"{plotting.words(dataset, plotting.MIXTURES)}\n$x_2$")
        stats = (f"{res['modes'].mean():.1f} of {len(modes)} modes\n"
                 f"{res['hq'].mean():.0%} of samples\nhigh-quality")  # fmt: skip
        if i == 0:
            stats = f"{plotting.wrap(plotting.gan_variant(name), side, 8)}\n{stats}"
        ax.set_title(stats, fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, markerscale=3)
    fig.suptitle(
        "Samples of each trained generator; over its seeds, the mean number of modes captured\n"
        "and share of high-quality samples (within 3 standard deviations of a mode)"
    )
    common.save_figure(fig, workdir, "samples")


def _plot_snapshots(results, workdir: Path) -> None:
    """Modes captured against training step, one panel per mixture, a line per variant
    (mean over seeds; thin lines: each seed)."""
    from experiments import plotting

    datasets = list(results)
    fig, axes = plotting.figure(
        1, len(datasets), width=plotting.TEXT_WIDTH, height=2.8, squeeze=False
    )
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for c, (name, res) in enumerate(results[dataset]["runs"].items()):
            steps, modes = res["snapshot_steps"], res["snapshot_modes"]
            ax.plot(steps, modes.T, c=f"C{c}", lw=0.4, alpha=0.4)
            ax.plot(steps, modes.mean(0), c=f"C{c}", lw=1.5, label=plotting.gan_variant(name))
        ax.axhline(len(results[dataset]["modes"]), c="k", ls=":", lw=0.8, label="all modes")
        ax.set_xlabel("training step")
        ax.set_ylabel("modes captured")
        ax.set_title(plotting.words(dataset, plotting.MIXTURES))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3)
    fig.suptitle("Mode coverage through training (mean over seeds; thin lines: each seed)")
    common.save_figure(fig, workdir, "modes_over_training")


def _record(prefix: str, res, metrics: dict, per_run: dict) -> None:
    """Adds one (dataset, variant)'s seed summary to `metrics` and its runs to `per_run`."""
    metrics.update({f"{prefix}_{k}": v for k, v in gan_metrics.seed_summary(res).items()})
    per_run[prefix] = {k: res[k].tolist() for k in ("modes", "hq", "reverse_kl", "w1", "counts")}
    # Seed 0's samples as plotted, so that runs merged from several jobs plot them too.
    per_run[prefix]["samples_seed0"] = np.round(res["samples"][0][:PLOT_SAMPLES], 5).tolist()
    if "modes_visited" in res:
        metrics[f"{prefix}_modes_visited_mean"] = float(res["modes_visited"].mean())
        for k in ("snapshot_steps", "snapshot_modes", "snapshot_hq", "modes_visited"):
            per_run[prefix][k] = res[k].tolist()


def _train_and_score(variant, dataset, modes, std, config, root, held_out, workdir: Path):
    """Trains `num_seeds` runs of one (dataset, variant) and scores them (`score_runs`).

    The runs' keys come from the name `dataset/variant` (the same in any subset or
    order of a config's datasets and variants, so a one-variant rerun reproduces them).
    """
    run_key = named_key(root, f"{dataset}/{variant.name}")
    keys = jax.random.split(run_key, config.num_seeds)
    log.info("%s / %s: %d seeds x %d steps", dataset, variant.name, len(keys), config.num_steps)
    eval_key = named_key(run_key, EVAL_KEY)
    gen, gen_params, history = train_runs(
        variant, modes, std, config, keys, workdir, snapshot_key=eval_key
    )
    out = score_runs(gen, gen_params, modes, std, config, eval_key, held_out)
    if config.snapshot_every > 0:
        series = snapshot_series(history, len(keys))
        out["snapshot_steps"], out["snapshot_modes"] = series["steps"], series["modes"]
        out["snapshot_hq"] = series["hq"]
        out["modes_visited"] = modes_visited(series["covered"])
    return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains every (dataset, variant[, sweep value]), writes metrics.json and figures."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config)
    root = jax.random.PRNGKey(config.seed)
    metrics: dict[str, float] = {}
    results = {}
    per_run = {}
    for dataset in config.datasets:
        modes, std = mixtures.load_mixture(dataset)
        data_key = named_key(root, f"{dataset}/held_out")
        held_out = np.asarray(mixtures.sample_mixture(data_key, config.w1_samples, modes, std))
        results[dataset] = {"modes": modes, "data": held_out, "runs": {}}
        for suffix, point in sweep_points(config):
            for variant in resolve_variants(point):
                prefix = f"{dataset}_{variant.name}{suffix}"
                res = _train_and_score(
                    variant, dataset, modes, std, point, root, held_out, workdir / "runs" / prefix
                )
                results[dataset]["runs"][variant.name + suffix] = res
                _record(prefix, res, metrics, per_run)
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
    if results:
        _plot_samples(results, workdir)
    if results and config.snapshot_every > 0:
        _plot_snapshots(results, workdir)
    if config.stability_sweep:
        modes, std = mixtures.load_mixture("ring")
        stability_key = named_key(root, STABILITY_KEY)
        metrics.update(stability_sweep(config, modes, std, stability_key, workdir))
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
