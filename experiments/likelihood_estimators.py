"""Claims 1.3-1.5: estimating log p(x) by prior sampling vs importance sampling.

On random linear-Gaussian models (`genjax.vae.linear_gaussian`) whose log p(x)
is exact, for each latent dimension d and sample count N, every data point's
log p(x) is estimated `num_repeats` times by

- the naive estimator log (1/N) sum p(x|z_i), z_i ~ p(z) (1.4), and
- importance sampling from q(z|x) (1.5), a diagonal Gaussian (config.proposal).

Metrics (nats): `{naive,importance}_abs_error_d{d}_n{N}` the mean over
examples and repeats of |estimate - log p(x)|; `..._abs_error_spread_...` the
standard deviation over repeats of that mean; `..._bias_...` the mean signed
error; `{naive,importance}_samples_for_1nat_d{d}` the smallest N in the grid
whose mean error is below config.target_error_nats, or NOT_REACHED (1e9);
`posterior_kl_d{d}` the mean KL(p(z|x) || p(z)), the information a sample must
"hit" (naive sampling needs roughly exp of it); `proposal_kl_d{d}` the mean
KL(q || p(z|x)) = log p(x) - ELBO(q).

    python -m experiments.likelihood_estimators --workdir runs/likelihood_quick \\
        --config=experiments/configs/likelihood_estimators.py:quick
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from genjax.vae import linear_gaussian as lg
from genjax.vae import objectives

log = logging.getLogger("genjax")

NOT_REACHED = 1e9  # *_samples_for_1nat when no N in the grid reaches the target
PROPOSALS = ("mean_field", "marginal", "exact")
ESTIMATORS = ("naive", "importance")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "data_dim", "sigma", "weight_scale", "num_examples", "num_repeats", "chunk_size",
        "target_error_nats",
    )  # fmt: skip
    common.require_choice(config, "proposal", PROPOSALS)
    for name in ("latent_dims", "num_samples"):
        values = tuple(config[name])
        if not values or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
        ):
            raise common.ConfigError(f"config.{name} must be integers >= 1, got {values!r}")
    for name in ("data_dim", "num_examples", "num_repeats", "chunk_size"):
        if not isinstance(config[name], int):
            raise common.ConfigError(f"config.{name} must be an integer, got {config[name]!r}")
    if config.num_repeats < 2:
        raise common.ConfigError("config.num_repeats must be >= 2 (the spread over repeats)")
    sizes = sorted(config.num_samples)
    for n in sizes[:-1]:
        if n > config.chunk_size and n % config.chunk_size:
            raise common.ConfigError(
                f"config.num_samples entry {n} must be below config.chunk_size="
                f"{config.chunk_size} or a multiple of it"
            )


@functools.partial(jax.jit, static_argnames=("estimator", "proposal", "sample_sizes", "chunk_size"))
def _estimates(keys, model, x, *, estimator, proposal, sample_sizes, chunk_size):
    """[R, len(sample_sizes), B] estimates of log p(x), one block per key.

    For each key the estimates at the different N share their first samples (one
    pass, `*_curve`); different keys are independent repeats.
    """
    log_likelihood_fn = lg.log_likelihood_fn(model)
    latent_dim = model.weight.shape[1]
    if estimator == "naive":

        def one(key):
            return objectives.log_px_prior_mc_curve(
                key, x, log_likelihood_fn, latent_dim, sample_sizes, chunk_size
            )
    else:
        # For 'exact' the model was diagonalised, so the marginal q is the posterior.
        make = lg.mean_field_encode_fn if proposal == "mean_field" else lg.marginal_encode_fn
        encode_fn = make(model)

        def one(key):
            return objectives.log_px_importance_curve(
                key, x, encode_fn, log_likelihood_fn, sample_sizes, chunk_size
            )

    return jax.lax.map(one, keys)


def _samples_to_reach(errors: dict[int, float], target: float) -> float:
    for n in sorted(errors):
        if errors[n] < target:
            return float(n)
    return NOT_REACHED


def _error_figure(curves, config):
    import matplotlib.pyplot as plt

    from experiments import plotting

    fig, ax = plotting.figure(height=4.4)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {d: palette[i % len(palette)] for i, d in enumerate(config.latent_dims)}
    for (estimator, d), (ns, mean, spread) in sorted(curves.items()):
        name = plotting.words(estimator, plotting.LIKELIHOOD_ESTIMATORS)
        ax.errorbar(
            ns, np.maximum(mean, 1e-4), yerr=spread, color=colors[d],
            ls="-" if estimator == "naive" else "--", marker="o" if estimator == "naive" else "s",
            label=f"{name}, latent dimension {d}",
        )  # fmt: skip
    target = config.target_error_nats
    ax.axhline(target, color="k", lw=0.8, ls=":", label=f"target, {target:g} nat")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples per estimate, $N$")
    ax.set_ylabel(r"mean $|\log \hat p(x) - \log p(x)|$ (nats)")
    proposal = plotting.words(config.proposal, plotting.PROPOSALS)
    plotting.set_title(
        ax, f"Linear-Gaussian model, {config.data_dim}-dimensional data, {proposal} proposal; "
        "error bars: standard deviation over repeats",
    )  # fmt: skip
    fig.legend(loc="outside lower center", ncol=1)
    return fig


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Runs both estimators for every (d, N); writes metrics.json, config.json and a figure."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config)

    key = jax.random.PRNGKey(config.seed)
    metrics: dict[str, float] = {}
    curves = {}
    for d in config.latent_dims:
        t0 = time.perf_counter()
        model_key, data_key, naive_key, is_key = jax.random.split(jax.random.fold_in(key, d), 4)
        model = lg.random_model(model_key, config.data_dim, d, config.sigma, config.weight_scale)
        if config.proposal == "exact":
            model = lg.diagonalize_posterior(model)
        x = lg.sample(data_key, model, config.num_examples)
        exact = lg.log_px(model, x)  # [B]
        post = lg.posterior(model, x)
        zeros = jnp.zeros_like(post.mean)
        metrics[f"posterior_kl_d{d}"] = float(
            jnp.mean(objectives.kl_full_gaussians(post.mean, post.cov, zeros, jnp.eye(d)))
        )
        q_mean, q_logvar = (
            lg.mean_field_encode_fn(model)(x)
            if config.proposal == "mean_field"
            else lg.marginal_encode_fn(model)(x)
        )
        q_cov = jax.vmap(jnp.diag)(jnp.exp(q_logvar))
        metrics[f"proposal_kl_d{d}"] = float(
            jnp.mean(exact - lg.elbo_closed_form(model, x, q_mean, q_cov))
        )
        for estimator, est_key in (("naive", naive_key), ("importance", is_key)):
            means = {}
            sizes = tuple(sorted(config.num_samples))
            keys = jax.random.split(est_key, config.num_repeats)
            est = _estimates(
                keys, model, x, estimator=estimator, proposal=config.proposal,
                sample_sizes=sizes, chunk_size=config.chunk_size,
            )  # fmt: skip
            for j, n in enumerate(sizes):
                err = np.asarray(est[:, j] - exact[None, :], dtype=np.float64)  # [R, B]
                per_repeat = np.mean(np.abs(err), axis=1)  # [R]
                tag = f"d{d}_n{n}"
                means[n] = float(per_repeat.mean())
                metrics[f"{estimator}_abs_error_{tag}"] = means[n]
                metrics[f"{estimator}_abs_error_spread_{tag}"] = float(per_repeat.std(ddof=1))
                metrics[f"{estimator}_bias_{tag}"] = float(err.mean())
            metrics[f"{estimator}_samples_for_1nat_d{d}"] = _samples_to_reach(
                means, config.target_error_nats
            )
            ns = sorted(means)
            curves[(estimator, d)] = (
                ns,
                np.array([means[n] for n in ns]),
                np.array([metrics[f"{estimator}_abs_error_spread_d{d}_n{n}"] for n in ns]),
            )
        metrics[f"log10_naive_over_importance_samples_1nat_d{d}"] = float(
            np.log10(metrics[f"naive_samples_for_1nat_d{d}"])
            - np.log10(metrics[f"importance_samples_for_1nat_d{d}"])
        )
        metrics[f"seconds_d{d}"] = time.perf_counter() - t0
        log.info(
            "d=%d: KL(post||prior) %.1f nats, naive 1-nat N %g, importance 1-nat N %g, %.1fs",
            d, metrics[f"posterior_kl_d{d}"], metrics[f"naive_samples_for_1nat_d{d}"],
            metrics[f"importance_samples_for_1nat_d{d}"], metrics[f"seconds_d{d}"],
        )  # fmt: skip

    common.save_figure(_error_figure(curves, config), workdir, "estimator_error")
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
