"""Claims 3.2, 3.3, 3.6: ||dh_T/dh_k|| against the lag T - k; hand BPTT vs jax.grad.

- tanh RNNs with W_hh = rho * a random orthogonal matrix (spectral radius = norm
  = rho), small random inputs: the per-step slope of log||dh_T/dh_k|| over lags
  1..slope_lags (`tanh_rho{r}_log_grad_slope`, r with '.' written 'p', e.g. rho0p9)
  next to log rho (`tanh_rho{r}_log_rho`). Since ||diag(1 - h^2)|| <= 1, the norm is
  at most rho^(T-k) for every lag (`tanh_rho{r}_max_log_excess` = max over lags of
  log||J|| - lag log rho, <= 0 up to rounding).
- LSTM (forget bias `lstm_forget_bias`) vs the tanh RNN with rho = ratio_rho, same
  inputs: `lstm_grad_ratio_lag50` = ||d s_T/d s_{T-50}|| (LSTM carry s = [h, c])
  over ||dh_T/dh_{T-50}|| (tanh); `lstm_cell_path_lag50`: mean over units of the
  forget-gate product (3.6).
- `bptt_max_abs_diff`: hand BPTT vs jax.grad on a random instance.
- 3.3's contrast: `tied_log_norm_slope`/`untied_log_norm_slope` are the slopes of
  log||W^d|| and log||W_d ... W_1|| against d for Gaussian matrices rescaled to
  spectral radius product_rho; `tied_vs_untied_log_norm_slope` = untied - tied.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from genjax.rnn import analysis, bptt, cells


def rho_tag(rho: float) -> str:
    """Metric-safe rho: 0.9 -> '0p9', 1.0 -> '1p0'."""
    return (
        f"{rho:.1f}".replace(".", "p")
        if float(rho * 10).is_integer()
        else str(rho).replace(".", "p")
    )


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "hidden_dim", "input_dim", "length", "input_scale", "slope_lags", "ratio_lag",
        "product_dim", "product_depth", "product_rho", "lstm_input_scale",
    )  # fmt: skip
    if config.slope_lags >= config.length or config.ratio_lag > config.length:
        raise common.ConfigError("config.slope_lags and ratio_lag must be below config.length")
    if not config.rhos or any(r <= 0 for r in config.rhos):
        raise common.ConfigError("config.rhos must be positive")


def _grad_norms_figure(lags, curves):
    """grad_norms_vs_lag.png: per curve (named like 'tanh rho=0.9'), the norm of the state
    gradient over the lag."""
    import re

    from experiments import plotting

    fig, ax = plotting.figure(height=3.4)
    for name, norms in curves.items():
        label = re.sub(r"\btanh\b", "tanh RNN", name).replace(" rho=", ", spectral radius ")
        ax.plot(lags[1:], norms[1:], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("lag $T - k$ (time steps)")
    ax.set_ylabel(r"gradient norm $\|\partial s_T / \partial s_k\|_2$")
    plotting.set_title(ax, "Gradient of the last state with respect to earlier states")
    fig.legend(loc="outside lower center", ncol=1)
    return fig


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Computes the Jacobian norms, slopes and checks; writes metrics.json and a figure."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config)
    key = jax.random.PRNGKey(config.seed)
    k_x, k_w, k_l, k_b, k_p = jax.random.split(key, 5)
    h, d, t = config.hidden_dim, config.input_dim, config.length
    xs = config.input_scale * jax.random.normal(k_x, (t, d))
    lags = np.arange(t + 1)
    fit = slice(1, config.slope_lags + 1)
    metrics: dict[str, float] = {}
    curves = {}
    # One compilation per cell (every rho shares the tanh one).
    norms_by_lag = jax.jit(analysis.norms_by_lag, static_argnums=(0, 4))
    for rho in config.rhos:
        params = cells.init_tanh_rnn(k_w, d, h, spectral_radius=rho)
        norms = np.asarray(norms_by_lag("tanh", params, xs, jnp.zeros(h)))
        tag = rho_tag(rho)
        metrics[f"tanh_rho{tag}_log_grad_slope"] = analysis.log_slope(norms[fit], lags[fit])
        metrics[f"tanh_rho{tag}_log_rho"] = float(np.log(rho))
        metrics[f"tanh_rho{tag}_max_log_excess"] = float(
            np.max(np.log(norms[1:]) - lags[1:] * np.log(rho))
        )
        curves[f"tanh rho={rho}"] = norms
    # LSTM vs tanh at the same (larger-scale) inputs.
    xs_l = config.lstm_input_scale * jax.random.normal(k_x, (t, d))
    lstm = cells.init_lstm(k_l, d, h, forget_bias=config.lstm_forget_bias)
    carry0 = cells.lstm_initial_carry(lstm)
    lstm_norms = np.asarray(norms_by_lag("lstm", lstm, xs_l, carry0))
    tanh_params = cells.init_tanh_rnn(k_w, d, h, spectral_radius=config.ratio_rho)
    tanh_norms = np.asarray(norms_by_lag("tanh", tanh_params, xs_l, jnp.zeros(h)))
    lag = config.ratio_lag
    metrics[f"lstm_grad_ratio_lag{lag}"] = float(lstm_norms[lag] / tanh_norms[lag])
    metrics[f"lstm_grad_norm_lag{lag}"] = float(lstm_norms[lag])
    metrics[f"tanh_grad_norm_lag{lag}"] = float(tanh_norms[lag])
    _, prods = analysis.lstm_cell_path(lstm, xs_l, carry0)
    metrics[f"lstm_cell_path_lag{lag}"] = float(jnp.mean(prods[t - lag]))
    curves[f"LSTM (forget bias {config.lstm_forget_bias})"] = lstm_norms
    curves[f"tanh rho={config.ratio_rho}, LSTM inputs"] = tanh_norms
    # Hand BPTT vs jax.grad.
    bp = cells.init_tanh_rnn(k_b, d, h, 5, spectral_radius=1.1)
    ys = jax.nn.one_hot(jax.random.randint(k_b, (40,), 0, 5), 5)
    xb = jax.random.normal(k_x, (40, d))
    ref = jax.grad(bptt.tanh_rnn_loss)(bp, xb, ys, jnp.zeros(h))
    got = bptt.bptt_gradients(bp, xb, ys, jnp.zeros(h))
    metrics["bptt_max_abs_diff"] = max(float(jnp.max(jnp.abs(got[k] - ref[k]))) for k in ref)
    # 3.3: tied (RNN) vs untied (deep feed-forward) products.
    depth = np.arange(1, config.product_depth + 1)
    for tied in (True, False):
        norms = analysis.matrix_product_norms(
            k_p, config.product_dim, config.product_depth, config.product_rho, tied=tied
        )
        name = "tied" if tied else "untied"
        metrics[f"{name}_log_norm_slope"] = analysis.log_slope(norms[9:], depth[9:])
    metrics["tied_vs_untied_log_norm_slope"] = (
        metrics["untied_log_norm_slope"] - metrics["tied_log_norm_slope"]
    )
    metrics["product_log_rho"] = float(np.log(config.product_rho))

    common.save_figure(_grad_norms_figure(lags, curves), workdir, "grad_norms_vs_lag")
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
