"""Every claim can fail: the judge (`experiments.reproduce.evaluate_claims`) passes the
committed metrics and fails those of a broken or untrained variant of each claim's models.

A broken variant's metrics are the committed ones (`results/<profile>/<experiment>/
metrics.json`) with the values that the broken model changes replaced. Each replacement is
measured here where that is cheap (an untrained network, a wrong formula, on the
experiment's own data and sizes); otherwise it is a value recorded by a committed run
whose model behaves as the broken one would, named at each number.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from experiments import claims as claims_lib
from experiments import common, reproduce

ROOT = Path(__file__).resolve().parents[1]
CLAIM_IDS = [c.id for c in claims_lib.CLAIMS]


@functools.cache
def committed(profile: str, experiment: str) -> dict[str, float]:
    path = ROOT / "results" / profile / experiment / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def claim(claim_id: str) -> claims_lib.Claim:
    return next(c for c in claims_lib.CLAIMS if c.id == claim_id)


def judged_profile(c: claims_lib.Claim) -> str:
    """quick when any of the claim's criteria is judged there, else full."""
    return "quick" if any("quick" in x.profiles for x in c.criteria) else "full"


def judge(claim_id: str, profile: str, overrides: dict[str, dict[str, float]] | None = None):
    """The verdict on the committed metrics of `profile` with `overrides` {experiment: {metric:
    value}} applied: (status, [(criterion lhs, criterion text, passed or None)])."""
    c = claim(claim_id)
    results = {}
    for name in claims_lib.experiments_in([c]):
        if profile in common.main_job_profiles(name):
            metrics = {**committed(profile, name), **(overrides or {}).get(name, {})}
            results[name] = {"metrics": metrics, "error": None}
    (verdict,) = reproduce.evaluate_claims([c], results, profile)
    rows = [(r["criterion"].lhs, r["criterion"].text, r["passed"]) for r in verdict["rows"]]
    return verdict["status"], rows


def assert_fails(claim_id: str, overrides, failing: list[str], profile: str | None = None):
    """The broken variant FAILs, and fails every judged criterion whose left-hand side is in
    `failing` (each names at least one judged criterion)."""
    profile = profile or judged_profile(claim(claim_id))
    status, rows = judge(claim_id, profile, overrides)
    assert status == "FAIL", (claim_id, rows)
    for lhs in failing:
        judged = [
            (text, passed) for left, text, passed in rows if left == lhs and passed is not None
        ]
        assert judged, (claim_id, lhs, rows)
        for text, passed in judged:
            assert passed is False, (claim_id, text, rows)


def metric(profile: str, experiment: str, name: str) -> float:
    return float(committed(profile, experiment)[name])


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_committed_quick_metrics_pass(claim_id):
    c = claim(claim_id)
    if not committed("quick", c.experiment):
        pytest.skip(f"results/quick/{c.experiment}/metrics.json is not committed yet")
    status, rows = judge(claim_id, "quick")
    assert status in ("PASS", "SKIP"), (claim_id, rows)


def test_every_claim_has_a_failing_variant_here():
    tested = {n.split("_")[2] for n in globals() if n.startswith("test_claim_")}
    assert tested == {i.replace(".", "p") for i in CLAIM_IDS}


# ------------------------------------------------------------------ 1.1-1.9: autoencoders, VAEs


def test_claim_1p1_untrained_linear_autoencoder_fails():
    """Untrained linear AEs (the experiment's initialisation): a random subspace, far from PCA's,
    reconstructing far worse. Measured on the experiment's centred MNIST."""
    from experiments.configs import pca_vs_linear_ae as cfg
    from genjax import linear

    config = cfg.get_config("quick")
    train_set, _ = common.load_mnist(config)
    x = train_set.flat().astype(np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    _, vectors = np.linalg.eigh(x.T @ x)  # the covariance's eigenvectors, ascending
    top = vectors[:, ::-1].T  # principal axes as rows
    m = {}
    for k in config.ks:
        components = top[:k]
        pca_error = np.mean(np.sum((x - x @ components.T @ components) ** 2, -1))
        for variant in config.variants:
            params = linear.init_params(jax.random.PRNGKey(k), variant, k, x.shape[1])
            params = {name: np.asarray(w, np.float64) for name, w in params.items()}
            basis = linear.ae_basis(variant, params)
            recon = x @ params["W"].T @ params["W"] if variant == "tied" else (
                x @ params["E"].T @ params["D"].T
            )  # fmt: skip
            tag = f"{variant}_k{k}"
            m[f"max_principal_angle_deg_{tag}"] = float(
                linear.max_principal_angle_deg(basis, components)
            )
            m[f"recon_mse_ratio_{tag}"] = np.mean(np.sum((x - recon) ** 2, -1)) / pca_error
    assert min(v for k, v in m.items() if k.startswith("max_principal")) > 45.0
    assert_fails("1.1", {"pca_vs_linear_ae": m}, list(m))


def test_claim_1p2_untrained_judge_fails():
    """An untrained digit classifier (the experiment's widths) is no judge: chance accuracy."""
    from experiments.configs import ae_latent_space as cfg
    from genjax import classifier as clf_lib

    config = cfg.get_config("quick")
    _, test_set = common.load_mnist(config)
    clf = clf_lib.Classifier(tuple(config.classifier_hidden))
    images = jnp.asarray(test_set.images)
    params = clf.init(jax.random.PRNGKey(0), images[:1])
    probs = clf_lib.predict_proba(clf, params, images)
    accuracy = float(clf_lib.accuracy(probs, test_set.labels))
    assert accuracy < 0.3
    assert_fails(
        "1.2", {"ae_latent_space": {"classifier_test_accuracy": accuracy}},
        ["classifier_test_accuracy"],
    )  # fmt: skip


def _swap(experiment: str, names: list[str], old: str, new: str, profile: str = "quick"):
    """{name: the committed value of name with `old` replaced by `new`}: a model whose metric
    `name` behaves as the committed `new` one."""
    return {n: metric(profile, experiment, n.replace(old, new)) for n in names}


_NAIVE_ROWS = [f"naive_abs_error_d{d}_n1000" for d in (2, 8, 32)] + [
    "naive_abs_error_d32_n100000", "naive_bias_d32_n100000",
] + [f"naive_samples_for_1nat_d{d}" for d in (2, 8, 32)]  # fmt: skip


def _posterior_sampling_naive_estimator() -> dict[str, float]:
    """A 'naive' estimator that secretly samples z from the posterior approximation: its errors
    and sample counts are the committed importance-sampling ones."""
    return _swap("likelihood_estimators", _NAIVE_ROWS, "naive", "importance")


def test_claim_1p3_naive_estimator_that_samples_the_posterior_fails():
    """Its error at 1,000 samples hardly grows with d."""
    broken = {"likelihood_estimators": _posterior_sampling_naive_estimator()}
    assert_fails("1.3", broken, [c.lhs for c in claim("1.3").criteria])


def test_claim_1p4_naive_estimator_that_samples_the_posterior_fails():
    """It reaches a nat with one sample at d = 2 and 8, and is unbiased; and maximum likelihood
    on a good estimate trains as well as the VAE (the committed VAE's value stands in)."""
    vae = metric("quick", "vae_mnist", "naive_ml_vae_test_log_px_is")
    broken = {
        "likelihood_estimators": _posterior_sampling_naive_estimator(),
        "vae_mnist": {"naive_ml_test_log_px_is_n100": vae},
    }
    assert_fails("1.4", broken, [
        "naive_samples_for_1nat_d8 - naive_samples_for_1nat_d2", "naive_abs_error_d32_n100000",
        "naive_bias_d32_n100000", "naive_ml_vae_test_log_px_is - naive_ml_test_log_px_is_n100",
    ])  # fmt: skip


def test_claim_1p5_importance_sampler_that_samples_the_prior_fails():
    """Importance sampling whose proposal is the prior: its errors are the naive ones."""
    names = [f"importance_abs_error_d{d}_n1000" for d in (2, 8, 32)]
    broken = _swap("likelihood_estimators", names, "importance", "naive")
    broken.update({f"log10_naive_over_importance_samples_1nat_d{d}": 0.0 for d in (8, 32)})
    failing = [n for n in broken if "_d2_" not in n]  # naive sampling does fine at d = 2
    assert_fails("1.5", {"likelihood_estimators": broken}, failing)


def test_claim_1p6_iwae_that_averages_log_weights_fails():
    """An 'IWAE' that averages the log weights instead of the weights is the ELBO at every k
    (its committed value) and does not rise with k."""
    elbo = metric("quick", "vae_mnist", "test_elbo")
    broken = {f"test_iwae_k{k}": elbo for k in (1, 5, 50)}
    assert_fails("1.6", {"vae_mnist": broken},
                 ["test_iwae_k5 - test_iwae_k1", "test_iwae_k50 - test_iwae_k5"])  # fmt: skip


@functools.cache
def _untrained_vae_encoder_metrics() -> dict[str, float]:
    """The quick profile's VAE, untrained, on its 200 fixed-binarised test images."""
    from experiments import vae_mnist
    from experiments.configs import vae_mnist as cfg
    from genjax.vae import models, objectives

    config = cfg.get_config("quick")
    x = vae_mnist._load_mnist(config).x_eval
    model = vae_mnist._mnist_vae(config, config.latent_dim)
    params = models.init_params(jax.random.PRNGKey(0), model)
    mean, logvar = model.apply(params, x, method=models.VAE.encode)
    m = vae_mnist.aggregate_posterior_moments(mean, logvar)
    m["informative_units"] = vae_mnist.informative_units(mean, logvar)
    m["active_units"] = float(models.active_units(mean, config.active_unit_threshold))
    m["test_kl"] = float(jnp.mean(objectives.kl_to_standard_normal(mean, logvar)))
    return m


def test_claim_1p7_untrained_encoder_fails():
    """An untrained encoder: near the prior for every image (the aggregate criterion holds), and
    every unit 'active' by Burda et al.'s variance test, but x decides none of them."""
    m = _untrained_vae_encoder_metrics()
    assert m["test_kl"] > 0 and m["active_units"] >= 1  # the old criteria: blind to it
    assert_fails("1.7", {"vae_mnist": m}, ["informative_units"])


def test_claim_1p7_encoder_without_the_kl_term_fails():
    """Codes that nothing keeps near the prior (a plain AE's: the committed ae_codes_* stand in
    for an encoder trained without the KL term) fail the aggregate-posterior criterion."""
    names = ["max_abs_mean", "max_abs_cov_dev", "gaussian_kl"]
    broken = {f"aggregate_posterior_{n}": metric("quick", "vae_mnist", f"ae_codes_{n}")
              for n in names}  # fmt: skip
    assert_fails("1.7", {"vae_mnist": broken}, ["aggregate_posterior_gaussian_kl"])


def _wrong_log_likelihood(model, x, out):
    """Decoders each with one classic mistake: Bernoulli with the logit's sign flipped,
    Gaussian without the log(2 pi) constant, categorical with unnormalised logits."""
    from genjax.vae import models, objectives

    if model.likelihood == "bernoulli":
        return objectives.bernoulli_log_likelihood(x, -out["logits"])
    if model.likelihood in ("gaussian", "gaussian_learned"):
        logvar = out.get("logvar", model.decoder_logvar)
        right = objectives.gaussian_log_likelihood(x, out["mean"], logvar)
        return right + 0.5 * x.shape[-1] * math.log(2.0 * math.pi)
    onehot = jax.nn.one_hot(models.to_levels(x, model.levels), model.levels)
    return jnp.sum(onehot * out["logits"], axis=(-2, -1))


@pytest.mark.parametrize("wrong", [False, True])
def test_claim_1p8_wrong_decoder_likelihoods_fail(monkeypatch, wrong):
    """The experiment's check (vae_mnist.decoder_likelihood_errors) on small untrained models of
    each decoder: below 1e-4 for genjax's likelihoods, far above for wrong ones."""
    from experiments import vae_mnist
    from genjax.vae import models

    if wrong:
        monkeypatch.setattr(models, "decoder_log_likelihood", _wrong_log_likelihood)
    key = jax.random.PRNGKey(0)
    data = {
        "bernoulli": jax.random.bernoulli(key, 0.3, (40, 64)).astype(jnp.float32),
        "gaussian": jax.random.uniform(key, (40, 64)),
        "categorical": jax.random.randint(key, (40, 64), 0, 17) / 16.0,
    }
    broken = {}
    for name in models.DECODERS:
        model = models.make_vae(
            name, data_dim=64, latent_dim=4, encoder_hidden=(16,), decoder_hidden=(16,),
            decoder_logvar=2.0 * math.log(0.2),
        )  # fmt: skip
        x = data.get(name, data["gaussian"])
        params = models.init_params(jax.random.fold_in(key, len(broken)), model)
        z = model.apply(params, x, method=models.VAE.encode)[0]
        prefix = "" if name == "bernoulli" else f"digits_{name}_"
        for k, v in vae_mnist.decoder_likelihood_errors(model, params, x, z).items():
            broken[prefix + k] = v
    rows = [c.metric for c in claim("1.8").criteria if "decoder_loglik" in c.metric]
    assert sorted(rows) == sorted(broken)
    if wrong:
        assert min(broken.values()) > 1e-2
        assert_fails("1.8", {"vae_mnist": broken}, rows)
    else:
        assert max(broken.values()) < 1e-5
        assert judge("1.8", "quick", {"vae_mnist": broken})[0] == "PASS"


def test_claim_1p9_encoder_without_gradient_fails():
    """Without gradients into the encoder (no reparameterisation), q(z|x) stays the untrained
    one, which carries almost nothing about x (informative_units 0 above): the decoder learns
    as if z were independent of x, the committed naive N = 1 model's situation."""
    n1 = metric("quick", "vae_mnist", "naive_ml_test_log_px_is_n1")
    assert_fails("1.9", {"vae_mnist": {"naive_ml_vae_test_log_px_is": n1}},
                 ["naive_ml_vae_test_log_px_is - naive_ml_test_log_px_is_n10"])  # fmt: skip


# --------------------------------------------------------------------------- 2.1-2.5: GANs


def test_claim_2p1_label_swapped_discriminator_loss_fails():
    """A discriminator loss with real and fake labels swapped, against scikit-learn's log loss
    with the right ones (measured on logits like a trained D's)."""
    from sklearn.metrics import log_loss

    from genjax import gan

    k_real, k_fake = jax.random.split(jax.random.PRNGKey(0))
    real = 1.0 + jax.random.normal(k_real, (4096,))
    fake = -1.0 + jax.random.normal(k_fake, (4096,))
    probs = np.asarray(jax.nn.sigmoid(jnp.concatenate([real, fake])), np.float64)
    labels = np.concatenate([np.ones(4096), np.zeros(4096)])
    diff = abs(float(gan.discriminator_loss(fake, real)) - log_loss(labels, probs))
    assert_fails("2.1", {"gan_theory": {"disc_loss_vs_sklearn_abs_diff": diff}},
                 ["disc_loss_vs_sklearn_abs_diff"])  # fmt: skip


def test_claim_2p2_nonsaturating_loss_that_saturates_fails():
    """A 'non-saturating' generator loss that is the saturating one: its gradient and final
    distance are the committed saturating ones."""
    names = ["nonsaturating_grad_at_d0p01", "nonsaturating_final_w1"]
    broken = _swap("gan_theory", names, "nonsaturating", "saturating")
    assert_fails("2.2", {"gan_theory": broken}, names)


def test_claim_2p3_untrained_discriminator_and_swapped_dstar_fail():
    """dstar_check's discriminator at its initialisation, and D* with p and q swapped."""
    from experiments.configs import gan_theory as cfg
    from genjax import gan

    config = cfg.get_config("quick")
    disc = gan.Discriminator(hidden=(32, 32), activation=jax.nn.tanh)
    params = disc.init(jax.random.PRNGKey(config.seed + 1), jnp.zeros((1, 1)))
    with jax.enable_x64(True):
        x = np.linspace(-5, 6, 2201)
        p, q = scipy.stats.norm.pdf(x, 0.0, 1.0), scipy.stats.norm.pdf(x, 1.5, 0.7)
        d_star = np.asarray(gan.optimal_discriminator(p, q))
        v_swapped = float(gan.value_on_grid(1.0 - d_star, p, q))
        js = float(gan.js_divergence(p, q))
    d_init = np.asarray(jax.nn.sigmoid(disc.apply(params, jnp.asarray(x[:, None], jnp.float32))))
    region = (p + q) > config.dstar_region_mass
    broken = {
        "dstar_max_abs_error": float(np.max(np.abs(d_init - d_star)[region])),
        "v_dstar_minus_2js_plus_log4": abs(v_swapped - (2 * js - np.log(4))),
    }
    assert_fails("2.3", {"gan_theory": broken}, list(broken))


def test_claim_2p4_unrolling_and_minibatch_discrimination_that_do_nothing_fail():
    """Unrolling or minibatch discrimination with no effect: every variant's statistics are the
    plain minimax GAN's (the committed full run's, or a collapse onto 3 modes where it has
    none), so every 'captures more' or 'spreads more evenly' criterion fails (full profile:
    the quick one judges none of 2.4's criteria)."""
    c = claim("2.4")
    base = committed("full", c.experiment)
    broken = {}
    for crit in c.criteria:
        for name in filter(None, (crit.metric, crit.minus)):
            stat = "modes_mean" if name.endswith("modes_mean") else "reverse_kl_mean"
            grid, default = name.split("_")[0], 3.0 if stat == "modes_mean" else 1.0
            broken[name] = base.get(f"{grid}_gan_minimax_{stat}", default)
    comparisons = [crit.lhs for crit in c.criteria if crit.minus]
    assert comparisons
    assert_fails("2.4", {c.experiment: broken}, comparisons, profile="full")


def test_claim_2p5_untrained_critic_fails():
    """The parallel-lines critic at its initialisation (quick profile's settings): its
    E_P f - E_Q f misses W1 = |theta| by nearly |theta|."""
    from experiments.configs import gan_theory as cfg
    from genjax import gan

    config = cfg.get_config("quick")
    critic = gan.Discriminator(hidden=tuple(config.critic_hidden), activation=jax.nn.tanh)
    params = critic.init(jax.random.PRNGKey(config.seed + 2), jnp.zeros((1, 2)))
    thetas = np.linspace(-1.0, 1.0, config.num_thetas)
    thetas = thetas[np.abs(thetas) > 1e-9]
    u = (np.arange(config.line_points) + 0.5) / config.line_points
    errors = []
    for theta in thetas:
        p = jnp.stack([jnp.zeros_like(u), u], 1)
        q = jnp.stack([jnp.full_like(u, theta), u], 1)
        estimate = float(jnp.mean(critic.apply(params, p)) - jnp.mean(critic.apply(params, q)))
        errors.append(abs(estimate - abs(theta)))
    broken = {"critic_w1_max_abs_error": max(errors)}
    assert_fails("2.5", {"gan_theory": broken}, list(broken))


# --------------------------------------------------------------------------- 3.1-3.6: RNNs


def test_claim_3p1_untrained_models_fail():
    """Untrained models are at chance: 1/10 on row-MNIST, no name spelt or sum or reversal
    right, and both taggers alike (the committed unidirectional tagger's accuracy)."""
    s = "sequence_tasks"
    uni = metric("quick", s, "tagging_uni_accuracy")
    chance = metric("quick", s, "tagging_chance_ambiguous_accuracy")
    broken = {
        "row_mnist_test_accuracy": 0.1,
        "row_mnist_stacked_test_accuracy": 0.1,
        "image_to_word_exact_match": 0.0,
        "tagging_bi_accuracy": uni,
        "tagging_bi_ambiguous_accuracy": chance,
        "seq2seq_addition_exact_match": 0.0,
        "seq2seq_reversal_exact_match": 0.0,
    }
    music = {"chorales_test_nll_per_step_selected":
             metric("quick", "music", "chorales_test_nll_per_step_marginal")}  # fmt: skip
    failing = [n for n in broken if not n.startswith("tagging")] + [
        "tagging_bi_accuracy - tagging_uni_accuracy", "tagging_bi_ambiguous_accuracy",
        "chorales_test_nll_per_step_selected - chorales_test_nll_per_step_marginal",
    ]  # fmt: skip
    assert_fails("3.1", {s: broken, "music": music}, failing)


def test_claim_3p2_truncated_bptt_fails():
    """'BPTT' that stops at one step (no gradient through h_{t-1}) against jax.grad."""
    from genjax.rnn import bptt, cells

    k_p, k_x, k_y = jax.random.split(jax.random.PRNGKey(0), 3)
    params = cells.init_tanh_rnn(k_p, 8, 32, 5, spectral_radius=1.1)
    xs = jax.random.normal(k_x, (40, 8))
    ys = jax.nn.one_hot(jax.random.randint(k_y, (40,), 0, 5), 5)
    h0 = jnp.zeros(32)

    def one_step_loss(p):
        def step(h, x):
            h = jnp.tanh(p["W_hh"] @ jax.lax.stop_gradient(h) + p["W_xh"] @ x + p["b_h"])
            return h, h

        _, hs = jax.lax.scan(step, h0, xs)
        logits = hs @ p["W_hz"].T + p["b_z"][None, :]
        return -jnp.sum(ys * jax.nn.log_softmax(logits, axis=-1))

    ref = jax.grad(bptt.tanh_rnn_loss)(params, xs, ys, h0)
    got = jax.grad(one_step_loss)(params)
    diff = max(float(jnp.max(jnp.abs(got[k] - ref[k]))) for k in ref)
    assert_fails("3.2", {"rnn_gradients": {"bptt_max_abs_diff": diff}}, ["bptt_max_abs_diff"])


def test_claim_3p3_rnn_without_saturation_and_untied_products_fail():
    """A 'tanh' RNN without tanh' (a linear RNN: ||dh_T/dh_k|| = rho^(T-k) exactly, proved in
    tests/test_rnn_gradients.py) has slope log rho at rho = 1.5; products of one matrix
    passed off as untied have the tied slope."""
    r = "rnn_gradients"
    broken = {
        "tanh_rho1p5_log_grad_slope": metric("quick", r, "tanh_rho1p5_log_rho"),
        "tied_vs_untied_log_norm_slope": 0.0,
    }
    assert_fails("3.3", {r: broken}, [
        "tanh_rho1p5_log_grad_slope - tanh_rho1p5_log_rho", "tied_vs_untied_log_norm_slope",
    ])  # fmt: skip


def test_claim_3p4_clipping_that_does_nothing_fails():
    """Clipping that does nothing: as many SGD runs diverge as without it."""
    n = metric("quick", "long_range", "adding_T50_sgd_tanh_diverged")
    broken = {"adding_T50_sgd_tanh_diverged_clip": n}
    assert_fails("3.4", {"long_range": broken},
                 ["adding_T50_sgd_tanh_diverged - adding_T50_sgd_tanh_diverged_clip"])  # fmt: skip


def test_claim_3p5_truncation_that_does_not_truncate_fails():
    """'Truncated' BPTT that backpropagates through everything: the short windows' runs become
    the full-BPTT control's (the committed covering-window values)."""
    t = "tbptt_window"
    if not committed("quick", t):
        pytest.skip(f"results/quick/{t}/metrics.json is not committed yet")
    broken = {
        "short_marker_weight_change_max": metric("quick", t, "covering_marker_weight_change_min"),
        "short_over_covering_log10": 0.0,
        "short_test_mse": metric("quick", t, "covering_test_mse"),
    }
    assert_fails(
        "3.5", {t: broken}, ["short_marker_weight_change_max", "short_over_covering_log10"]
    )


def test_claim_3p6_lstm_without_forget_bias_and_gateless_cells_fail():
    """rnn_gradients' ratio with the LSTM's forget bias 0 (measured on the quick profile's
    inputs), and 'LSTM' and 'GRU' runs that learn no better than the tanh RNN (the committed
    tanh values)."""
    from experiments.configs import rnn_gradients as cfg
    from genjax.rnn import analysis, cells

    config = cfg.get_config("quick")
    k_x, k_w, k_l = jax.random.split(jax.random.PRNGKey(config.seed), 5)[:3]
    h, d, t, lag = config.hidden_dim, config.input_dim, config.length, config.ratio_lag
    xs = config.lstm_input_scale * jax.random.normal(k_x, (t, d))
    lstm = cells.init_lstm(k_l, d, h, forget_bias=0.0)
    lstm_norms = analysis.norms_by_lag("lstm", lstm, xs, cells.lstm_initial_carry(lstm))
    tanh = cells.init_tanh_rnn(k_w, d, h, spectral_radius=config.ratio_rho)
    tanh_norms = analysis.norms_by_lag("tanh", tanh, xs, jnp.zeros(h))
    ratio = float(lstm_norms[lag] / tanh_norms[lag])
    assert ratio < 1.0
    assert_fails("3.6", {"rnn_gradients": {f"lstm_grad_ratio_lag{lag}": ratio}},
                 [f"lstm_grad_ratio_lag{lag}"])  # fmt: skip
    names = [f"adding_T50_{cell}_test_mse{s}" for cell in ("lstm", "gru") for s in ("", "_clip")]
    broken = {
        n: metric("quick", "long_range", n.replace("_lstm_", "_tanh_").replace("_gru_", "_tanh_"))
        for n in names
    }
    assert_fails("3.6", {"long_range": broken}, names)
