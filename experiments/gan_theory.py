"""Claims 2.1-2.3 and the theory of 2.5 on toys whose answers are known in closed form.

- 2.1: the trained discriminator's loss is scikit-learn's logistic-regression log loss.
- 2.2: saturating vs non-saturating generator gradients over D(G(z)), and a
  1-D GAN started against a strong discriminator with each loss.
- 2.3: a discriminator trained on samples of two known densities vs D*, and
  V(D*, G) = 2 JS - log 4 on the grid.
- 2.5: JS and W1 along the parallel-lines family, and a WGAN-GP critic's
  estimate of W1 for each theta (the critics are trained together, vmapped).
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import scipy.stats
from sklearn.metrics import log_loss

from experiments import common
from genjax import gan, train

log = logging.getLogger("genjax")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises common.ConfigError for values that cannot work."""
    common.require_positive(
        config, "data_std", "pretrain_steps", "gan_steps", "batch_size", "gen_learning_rate",
        "disc_learning_rate", "dstar_steps", "dstar_batch_size", "dstar_learning_rate",
        "dstar_region_mass", "num_thetas", "critic_steps", "critic_batch_size",
        "critic_learning_rate", "line_points", "log_every", "gen_sgd_learning_rate",
        "pretrain_check_every", "pretrain_target_d_of_fake", "gen_std",
    )  # fmt: skip
    if not config.pretrain_target_d_of_fake < 1:
        raise common.ConfigError(
            f"config.pretrain_target_d_of_fake must be in (0, 1), got "
            f"{config.pretrain_target_d_of_fake}"
        )
    if config.num_thetas < 4:  # fewer leave a single |theta| and no correlation to measure
        raise common.ConfigError(f"config.num_thetas must be >= 4, got {config.num_thetas}")
    for name in ("disc_hidden", "critic_hidden"):
        if any(not isinstance(w, int) or w < 1 for w in config[name]):
            raise common.ConfigError(f"config.{name} must be positive integers: {config[name]}")


def _gradients_figure(d, sat, nonsat):
    """generator_gradients.png: both generator losses' |d loss / d logit| over D(G(z))."""
    from experiments import plotting

    fig, ax = plotting.figure(height=2.9)
    ax.semilogy(d, np.abs(sat), label=r"saturating: $\log(1 - D(G(z)))$")
    ax.semilogy(d, np.abs(nonsat), label=r"non-saturating: $-\log D(G(z))$")
    ax.set_xlabel(r"discriminator output on a generated sample, $D(G(z))$", loc="right")
    ax.set_ylabel(r"$|\partial\,\mathrm{loss} / \partial\,\mathrm{logit}|$")
    plotting.set_title(ax, "Generator-loss gradient against the discriminator's output")
    ax.legend()
    return fig


def gradient_curves(workdir: Path) -> dict[str, float]:
    """|d loss / d logit| over D(G(z)) in (0, 1) for both generator losses (2.2)."""
    d = np.linspace(1e-3, 1 - 1e-3, 999)
    logits = jnp.log(d) - jnp.log1p(-d)
    sat = jax.vmap(jax.grad(lambda x: gan.saturating_generator_loss(x[None])))(logits)
    nonsat = jax.vmap(jax.grad(lambda x: gan.nonsaturating_generator_loss(x[None])))(logits)
    common.save_figure(_gradients_figure(d, sat, nonsat), workdir, "generator_gradients")
    at = np.argmin(np.abs(d - 0.01))
    return {
        "saturating_grad_at_d0p01": float(abs(sat[at])),
        "nonsaturating_grad_at_d0p01": float(abs(nonsat[at])),
    }


def make_players(config, key):
    """G(z) = shift + gen_std * z, a Gaussian that learns only its mean, and a tanh-MLP D.

    G's scale is fixed. With a learnt scale the saturating loss, whose gradient is
    weighted by D(G(z)), widens G's tail toward the data, where D cannot reject it,
    and G escapes through it: measured, a learnt scale, whether it starts at random or
    at 0.5, lets the saturating G reach the data within 3,000 steps.
    """
    disc = gan.Discriminator(hidden=tuple(config.disc_hidden), activation=jax.nn.tanh)
    gen_params = {"shift": jnp.full((1, 1), config.gen_init_mean, jnp.float32)}
    disc_params = disc.init(key, jnp.zeros((1, 1)))
    return disc, gen_params, disc_params


def _latest_checkpoint_step(workdir: Path | None) -> int | None:
    """The newest checkpoint's step in `workdir`, or None (no checkpoint yet)."""
    if workdir is None or not (Path(workdir) / "checkpoints").is_dir():
        return None
    ckpt = train.Checkpointer(workdir)
    try:
        return ckpt.latest_step()
    finally:
        ckpt.close()


def pretrain_until(state, train_step, batch_fn, measure, target, *, max_steps, check_every,
                   workdir, log_every):  # fmt: skip
    """Trains until `measure(state) <= target`, checked every `check_every` steps.

    2.2's D pre-trains to a set confidence, not for a set number of steps: the
    saturating G's gradient is proportional to D(G(z)), so how sure D is decides the
    run. Stops at `max_steps` with a warning if the target is not reached.
    `train.train` resumes from its checkpoint in `workdir`, so each chunk continues
    the last, and a rerun first restores the last chunk's checkpoint (where the first
    run stopped) and stops there too.
    """
    saved = _latest_checkpoint_step(workdir)
    if saved is not None and saved > int(jax.device_get(state.step)):
        state = train.train(state, train_step, batch_fn, saved, workdir=workdir,
                            log_every=log_every).state  # fmt: skip
    while True:
        done = int(jax.device_get(state.step))
        value = measure(state)
        if value <= target:
            return state
        if done >= max_steps:
            log.warning("%.3g after %d steps, above the target %.3g", value, done, target)
            return state
        state = train.train(
            state, train_step, batch_fn, min(done + check_every, max_steps),
            workdir=workdir, log_every=log_every,
        ).state  # fmt: skip


def _saturation_figure(curves, data_mean: float):
    """saturation_runs.png: per run (`plotting.GAN_THEORY_RUNS`), the mean D(G(z)) and G's
    mean against the step; `curves[run][key]` is [(step, value), ...]."""
    from experiments import plotting

    fig, axes = plotting.figure(1, 2, width=plotting.TEXT_WIDTH, height=2.8)
    for name, series in curves.items():
        for ax, key in zip(axes, ("d_of_fake", "g_mean"), strict=True):
            ax.plot(
                *zip(*series[key], strict=True),
                label=plotting.words(name, plotting.GAN_THEORY_RUNS),
            )
    axes[0].set(ylabel=r"mean $D(G(z))$ on generated samples", yscale="log",
                title="Against a pre-trained discriminator")  # fmt: skip
    axes[1].axhline(data_mean, color="k", ls="--", lw=0.8, label="data mean")
    axes[1].set(ylabel="generator's mean", title="Where the generator is")
    for ax in axes:
        ax.set_xlabel("training step")
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return fig


def saturation_runs(config, workdir: Path) -> dict[str, float]:
    """Pre-train a strong D against a far-away G, then train G with each loss (2.2)."""
    key = jax.random.PRNGKey(config.seed)
    disc, gen_params, disc_params = make_players(config, key)
    generate = lambda p, z: p["shift"] + config.gen_std * z  # noqa: E731
    discriminate = lambda p, x: disc.apply(p, x)  # noqa: E731
    gen_opt = optax.adam(config.gen_learning_rate, b1=0.5)
    disc_opt = optax.adam(config.disc_learning_rate, b1=0.5)
    data_key = jax.random.fold_in(key, 1)

    def batch_fn(step: int) -> np.ndarray:
        noise = jax.random.normal(jax.random.fold_in(data_key, step), (config.batch_size, 1))
        return np.asarray(config.data_mean + config.data_std * noise)

    common_kw = dict(generate=generate, discriminate=discriminate, gen_optimizer=gen_opt,
                     disc_optimizer=disc_opt, noise_dim=1)  # fmt: skip
    pre_step = gan.make_gan_train_step(**common_kw, train_generator=False)
    state = gan.init_gan_state(gen_params, disc_params, gen_opt, disc_opt, key)
    eval_z = jax.random.normal(jax.random.PRNGKey(123), (4096, 1))
    data_eval = config.data_mean + config.data_std * jax.random.normal(
        jax.random.PRNGKey(124), (4096,)
    )

    def d_of_fake(state) -> float:
        logits = discriminate(state.params["disc"], generate(state.params["gen"], eval_z))
        return float(jnp.mean(jax.nn.sigmoid(logits)))

    state = pretrain_until(
        state, pre_step, batch_fn, d_of_fake, config.pretrain_target_d_of_fake,
        max_steps=config.pretrain_steps, check_every=config.pretrain_check_every,
        workdir=workdir / "pretrain_disc", log_every=config.log_every,
    )  # fmt: skip
    out = {
        "pretrained_d_of_fake": d_of_fake(state),
        "pretrain_steps_taken": float(jax.device_get(state.step)),
    }
    # 2.1: the trained D's loss is logistic regression's log loss.
    real_logits = discriminate(state.params["disc"], data_eval[:, None])
    fake_logits = discriminate(state.params["disc"], generate(state.params["gen"], eval_z))
    probs = np.asarray(jax.nn.sigmoid(jnp.concatenate([real_logits, fake_logits])), np.float64)
    labels = np.concatenate([np.ones(4096), np.zeros(4096)])
    out["disc_loss_vs_sklearn_abs_diff"] = abs(
        float(gan.discriminator_loss(real_logits, fake_logits))
        - log_loss(labels, np.clip(probs, 1e-15, 1 - 1e-15))
    )
    # SGD moves G by the gradient itself, which is what saturates; Adam rescales
    # each step to ~lr and hides the saturation: both are reported.
    optimizers = {
        "": optax.sgd(config.gen_sgd_learning_rate),
        "adam_": optax.adam(config.gen_learning_rate, b1=0.5),
    }
    curves = {}  # per run: the training's D(G(z)) and G's mean, from step 0
    start_values = {"d_of_fake": out["pretrained_d_of_fake"], "g_mean": config.gen_init_mean}
    for prefix, g_opt in optimizers.items():
        for name, loss in (("saturating", gan.saturating_generator_loss),
                           ("nonsaturating", gan.nonsaturating_generator_loss)):  # fmt: skip
            kw = {**common_kw, "gen_optimizer": g_opt}
            step = gan.make_gan_train_step(**kw, generator_loss=loss)
            start = gan.init_gan_state(
                state.params["gen"], state.params["disc"], g_opt, disc_opt,
                jax.random.fold_in(key, 7),
            )  # fmt: skip
            result = train.train(
                start, step, batch_fn, config.gan_steps,
                workdir=workdir / f"gan_{prefix}{name}", log_every=config.log_every,
                checkpoint_every_secs=config.checkpoint_every_secs,
                eval_fn=lambda s: {"g_mean": s.params["gen"]["shift"][0, 0]},
                eval_every=config.log_every,
            )  # fmt: skip
            samples = generate(result.state.params["gen"], eval_z)[:, 0]
            out[f"{prefix}{name}_final_w1"] = float(gan.wasserstein_1d(samples, data_eval))
            out[f"{prefix}{name}_final_mean"] = float(jnp.mean(samples))
            curves[f"{prefix or 'sgd_'}{name}"] = {
                key: [(0, v0)] + [(r["step"], r[key]) for r in result.history if key in r]
                for key, v0 in start_values.items()
            }
    common.save_figure(_saturation_figure(curves, config.data_mean), workdir, "saturation_runs")
    return out


def _dstar_figure(x, p, q, d_star, d_fit, region):
    """optimal_discriminator.png: both densities (scaled), D* and the trained D over x."""
    from experiments import plotting

    fig, ax = plotting.figure(height=3.4)
    ax.plot(x, p / p.max(), ":", label=r"data density $p_\mathrm{data}$ (scaled to peak 1)")
    ax.plot(x, q / q.max(), ":", label=r"generator density $p_g$ (scaled to peak 1)")
    ax.plot(x, d_star, label=r"optimal $D^* = p_\mathrm{data} / (p_\mathrm{data} + p_g)$")
    ax.plot(x, d_fit, "--", label="trained discriminator")
    ax.axvspan(x[region].min(), x[region].max(), color="0.9", zorder=-1,
               label="where the error is measured")  # fmt: skip
    ax.set_xlabel("$x$")
    ax.set_ylabel("discriminator output\nor scaled density")
    plotting.set_title(ax, "Trained discriminator against the optimal one")
    fig.legend(loc="outside lower center", ncol=1)
    return fig


def dstar_check(config, workdir: Path) -> dict[str, float]:
    """D fitted by logistic regression on samples of two known densities, vs D* (2.3)."""
    key = jax.random.PRNGKey(config.seed + 1)
    p_mean, p_std, q_mean, q_std = 0.0, 1.0, 1.5, 0.7
    disc = gan.Discriminator(hidden=(32, 32), activation=jax.nn.tanh)
    params = disc.init(key, jnp.zeros((1, 1)))
    opt = optax.adam(config.dstar_learning_rate)
    n = config.dstar_batch_size

    def loss_fn(params, batch, step_key):
        del batch
        p_key, q_key = jax.random.split(step_key)
        real = p_mean + p_std * jax.random.normal(p_key, (n, 1))
        fake = q_mean + q_std * jax.random.normal(q_key, (n, 1))
        return gan.discriminator_loss(disc.apply(params, real), disc.apply(params, fake)), {}

    state = train.create_train_state(params, opt, jax.random.fold_in(key, 1))
    state = train.train(state, train.make_train_step(loss_fn, opt), lambda s: np.zeros(1),
                        config.dstar_steps, workdir=workdir / "dstar",
                        log_every=config.log_every,
                        checkpoint_every_secs=config.checkpoint_every_secs).state  # fmt: skip
    with jax.enable_x64(True):
        x = np.linspace(-5, 6, 2201)
        p = scipy.stats.norm.pdf(x, p_mean, p_std)
        q = scipy.stats.norm.pdf(x, q_mean, q_std)
        d_star = np.asarray(gan.optimal_discriminator(p, q))
        v_star = float(gan.value_on_grid(d_star, p, q))
        js = float(gan.js_divergence(p, q))
    d_fit = np.asarray(
        jax.nn.sigmoid(disc.apply(state.params, jnp.asarray(x[:, None], jnp.float32)))
    )
    region = (p + q) > config.dstar_region_mass
    fig = _dstar_figure(x, p, q, d_star, d_fit, region)
    common.save_figure(fig, workdir, "optimal_discriminator")
    return {
        "dstar_max_abs_error": float(np.max(np.abs(d_fit - d_star)[region])),
        "v_dstar_minus_2js_plus_log4": abs(v_star - (2 * js - np.log(4))),
        "js_data_vs_g": js,
    }


def _parallel_lines_figure(thetas, js, w1_exact, estimates):
    """parallel_lines.png: JS, exact W1 and the critic's W1 estimate over theta."""
    from experiments import plotting

    fig, ax = plotting.figure(height=2.6)
    ax.plot(thetas, js, "o-", label=r"Jensen-Shannon divergence $\mathrm{JS}(P, Q_\theta)$ (nats)")
    ax.plot(thetas, w1_exact, "s-", label=r"Wasserstein-1 distance $W_1(P, Q_\theta)$, exact")
    ax.plot(thetas, estimates, "^--", label="$W_1$ estimated by a WGAN-GP critic")
    ax.set_xlabel(r"offset $\theta$ of the line $Q_\theta$")
    ax.set_ylabel("divergence or distance")
    plotting.set_title(ax, "Two parallel lines: P at 0 and Q at offset θ")
    fig.legend(loc="outside lower center", ncol=1)
    return fig


def parallel_lines(config, workdir: Path) -> dict[str, float]:
    """JS, KL and W1 along P = (0, U[0,1]), Q_theta = (theta, U[0,1]); a critic per theta (2.5)."""
    thetas = np.linspace(-1.0, 1.0, config.num_thetas)
    thetas = thetas[np.abs(thetas) > 1e-9]  # theta = 0 is the trivial case
    xs = np.unique(np.concatenate([[0.0], thetas]))  # a grid holding both lines' positions
    u = (np.arange(config.line_points) + 0.5) / config.line_points
    js, w1_exact = [], []
    for theta in thetas:
        p = (xs == 0.0).astype(float)
        q = (xs == theta).astype(float)
        js.append(float(gan.js_divergence(p, q)))
        line_p = np.stack([np.zeros_like(u), u], 1)
        line_q = np.stack([np.full_like(u, theta), u], 1)
        w1_exact.append(gan.wasserstein_exact(line_p, line_q))
    critic = gan.Discriminator(hidden=tuple(config.critic_hidden), activation=jax.nn.tanh)
    key = jax.random.PRNGKey(config.seed + 2)
    init = critic.init(key, jnp.zeros((1, 2)))

    def line(theta):
        def sample(k, n):
            return jnp.stack([jnp.full((n,), theta), jax.random.uniform(k, (n,))], axis=1)

        return sample

    @jax.jit
    def estimate(theta, k):
        return gan.estimate_w1_with_critic(
            k, critic.apply, init, line(0.0), line(theta),
            num_steps=config.critic_steps, batch_size=config.critic_batch_size,
            learning_rate=config.critic_learning_rate,
        )  # fmt: skip

    keys = jax.random.split(jax.random.fold_in(key, 1), len(thetas))
    estimates = np.asarray(jax.vmap(estimate)(jnp.asarray(thetas, jnp.float32), keys))
    fig = _parallel_lines_figure(thetas, js, w1_exact, estimates)
    common.save_figure(fig, workdir, "parallel_lines")
    return {
        "js_parallel_max_abs_dev_from_log2": float(np.max(np.abs(np.array(js) - np.log(2)))),
        "w1_parallel_max_abs_error": float(np.max(np.abs(np.array(w1_exact) - np.abs(thetas)))),
        "critic_w1_corr": float(np.corrcoef(estimates, np.abs(thetas))[0, 1]),
        "critic_w1_max_abs_error": float(np.max(np.abs(estimates - np.abs(thetas)))),
    }


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: Path) -> dict[str, float]:
    """Runs the four parts and writes metrics.json and the figures."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config)
    metrics = {}
    metrics.update(gradient_curves(workdir))
    metrics.update(saturation_runs(config, workdir))
    metrics.update(dstar_check(config, workdir))
    metrics.update(parallel_lines(config, workdir))
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
