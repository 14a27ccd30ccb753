"""Tests of genjax.vae.models: shapes, safe variances, the losses, and the vae_mnist experiment."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import special, stats

from genjax import train
from genjax.vae import models, objectives

D, LATENT, B = 64, 3, 5


def _model(likelihood: str, hidden=(16,), **kw) -> models.VAE:
    return models.make_vae(
        likelihood, data_dim=D, latent_dim=LATENT, encoder_hidden=hidden, decoder_hidden=hidden,
        **kw,
    )  # fmt: skip


def _data(likelihood: str, key=1, n=B) -> jax.Array:
    u = jax.random.uniform(jax.random.PRNGKey(key), (n, D))
    if likelihood == "bernoulli":
        return (u > 0.5).astype(jnp.float32)
    if likelihood == "categorical":
        return jnp.round(u * 16) / 16
    return u


@pytest.mark.parametrize("likelihood", models.DECODERS)
def test_shapes(likelihood):
    model = _model(likelihood)
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = _data(likelihood)
    mean, logvar = model.apply(params, x, method=models.VAE.encode)
    assert mean.shape == logvar.shape == (B, LATENT)
    z = jnp.zeros((7, B, LATENT))  # extra leading sample axis
    out = model.apply(params, z, method=models.VAE.decode)
    expected = {
        "bernoulli": {"logits": (7, B, D)},
        "gaussian": {"mean": (7, B, D)},
        "gaussian_learned": {"mean": (7, B, D), "logvar": (7, B, D)},
        "categorical": {"logits": (7, B, D, 17)},
    }[likelihood]
    assert {k: v.shape for k, v in out.items()} == expected
    encode_fn, log_likelihood_fn = models.model_fns(model, params)
    assert log_likelihood_fn(x, z).shape == (7, B)
    assert models.decoder_mean(model, params, z).shape == (7, B, D)


@pytest.mark.parametrize("likelihood", models.DECODERS)
def test_one_step_changes_every_parameter(likelihood):
    model = _model(likelihood)
    params = models.init_params(jax.random.PRNGKey(0), model)
    optimizer = optax.adam(1e-2)
    step = jax.jit(train.make_train_step(models.make_elbo_loss(model), optimizer))
    state = train.create_train_state(params, optimizer, jax.random.PRNGKey(3))
    new_state, metrics = step(state, {"image": _data(likelihood)})
    assert np.isfinite(float(metrics["loss"]))
    changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), params, new_state.params)
    unchanged = [
        jax.tree_util.keystr(path)
        for path, c in jax.tree_util.tree_leaves_with_path(changed)
        if not c
    ]
    assert not unchanged, f"not updated: {unchanged}"


def test_logvar_stays_in_range_for_extreme_inputs():
    model = _model("gaussian_learned")
    params = models.init_params(jax.random.PRNGKey(0), model)
    big = jax.tree_util.tree_map(lambda p: 1e3 * p, params)
    for scale in (1e6, -1e6):
        x = jnp.full((B, D), scale)
        _, logvar = model.apply(big, x, method=models.VAE.encode)
        lo, hi = models.ENCODER_LOGVAR_RANGE
        assert bool(jnp.all((logvar >= lo) & (logvar <= hi))), (logvar.min(), logvar.max())
        out = model.apply(big, jnp.full((B, LATENT), scale), method=models.VAE.decode)
        lo, hi = models.DECODER_LOGVAR_RANGE
        assert bool(jnp.all((out["logvar"] >= lo) & (out["logvar"] <= hi)))
    # Both ends of each range are reached (the clip is active, not a constant).
    x = jnp.linspace(-1e6, 1e6, B * D).reshape(B, D)
    _, logvar = model.apply(big, x, method=models.VAE.encode)
    assert float(logvar.max() - logvar.min()) > 1.0


def test_soft_clip_reference():
    x = np.linspace(-50, 50, 101)
    got = np.asarray(models.soft_clip(jnp.asarray(x), -12.0, 4.0))
    np.testing.assert_allclose(got, -4.0 + 8.0 * np.tanh((x + 4.0) / 8.0), rtol=1e-5, atol=1e-5)
    assert got.min() >= -12.0 and got.max() <= 4.0
    np.testing.assert_allclose(jax.grad(lambda v: models.soft_clip(v, -12.0, 4.0))(-4.0), 1.0)


@pytest.mark.parametrize("likelihood", models.DECODERS)
def test_loss_finite_for_extreme_weights(likelihood):
    model = _model(likelihood)
    params = models.init_params(jax.random.PRNGKey(0), model)
    big = jax.tree_util.tree_map(lambda p: 100.0 * p + 10.0 * jnp.sign(p), params)
    loss_fn = models.make_elbo_loss(model)
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        big, {"image": _data(likelihood)}, jax.random.PRNGKey(4)
    )
    assert np.isfinite(float(loss)), loss
    for g in jax.tree_util.tree_leaves(grads):
        assert bool(jnp.all(jnp.isfinite(g)))


def test_elbo_loss_matches_hand_computation():
    """A linear encoder/decoder with a fixed-variance Gaussian: the expected ELBO in closed form.

    q = N(mu, diag s^2) with mu = A x + a, logvar = soft_clip(C x + c); p(x|z) = N(W z + w, v I).
    E_q log p(x|z) = -1/(2v) (||x - W mu - w||^2 + sum_j s_j^2 ||W_:j||^2) - D/2 log(2 pi v),
    minus the closed-form KL; the loss's many-sample Monte Carlo estimate must agree.
    """
    logvar_dec = math.log(0.5)
    model = models.make_vae(
        "gaussian", data_dim=D, latent_dim=LATENT, encoder_hidden=(), decoder_hidden=(),
        decoder_logvar=logvar_dec,
    )  # fmt: skip
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = np.asarray(_data("gaussian"), np.float64)
    enc = params["params"]["encoder"]["mlp"]["out"]
    dec = params["params"]["decoder"]["mlp"]["out"]
    k, bk = np.asarray(enc["kernel"], np.float64), np.asarray(enc["bias"], np.float64)
    w, bw = np.asarray(dec["kernel"], np.float64), np.asarray(dec["bias"], np.float64)
    h = x @ k + bk
    mu, raw = h[:, :LATENT], h[:, LATENT:]
    lo, hi = models.ENCODER_LOGVAR_RANGE
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    logvar = mid + half * np.tanh((raw - mid) / half)
    s2, v = np.exp(logvar), math.exp(logvar_dec)
    resid = x - mu @ w - bw
    recon = -0.5 / v * (np.sum(resid**2, 1) + s2 @ np.sum(w**2, 1)) - 0.5 * D * math.log(
        2 * math.pi * v
    )
    kl = 0.5 * np.sum(s2 - logvar - 1 + mu**2, 1)
    expected = -np.mean(recon - kl)

    loss_fn = models.make_elbo_loss(model, num_samples=20000)
    loss, metrics = jax.jit(loss_fn)(
        params, {"image": jnp.asarray(x, jnp.float32)}, jax.random.PRNGKey(5)
    )
    np.testing.assert_allclose(float(metrics["kl"]), np.mean(kl), rtol=1e-5)
    np.testing.assert_allclose(float(loss), expected, rtol=0, atol=0.02 * abs(expected) + 0.05)
    np.testing.assert_allclose(
        float(metrics["recon"]) - float(metrics["kl"]), -float(loss), rtol=1e-5
    )


@pytest.mark.parametrize("likelihood", models.DECODERS)
def test_decoder_log_likelihood_against_scipy(likelihood):
    model = _model(likelihood, decoder_logvar=-1.3)
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = _data(likelihood)
    z = jax.random.normal(jax.random.PRNGKey(2), (B, LATENT))
    out = jax.tree_util.tree_map(np.asarray, model.apply(params, z, method=models.VAE.decode))
    got = np.asarray(models.model_fns(model, params)[1](x, z))
    xn = np.asarray(x, np.float64)
    if likelihood == "bernoulli":
        ref = stats.bernoulli.logpmf(xn, special.expit(out["logits"].astype(np.float64))).sum(1)
    elif likelihood == "gaussian":
        ref = stats.norm.logpdf(xn, out["mean"], math.exp(-1.3 / 2)).sum(1)
    elif likelihood == "gaussian_learned":
        ref = stats.norm.logpdf(xn, out["mean"], np.exp(out["logvar"] / 2)).sum(1)
    else:
        logp = special.log_softmax(out["logits"].astype(np.float64), axis=-1)
        levels = np.round(xn * 16).astype(int)
        ref = np.take_along_axis(logp, levels[..., None], axis=-1)[..., 0].sum(1)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("likelihood", models.DECODERS)
def test_pairwise_log_likelihood_matches_broadcast(likelihood):
    model = _model(likelihood)
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = _data(likelihood)
    z = jax.random.normal(jax.random.PRNGKey(3), (7, LATENT))
    got = models.pairwise_log_likelihood(model, params, x, z)
    _, log_likelihood_fn = models.model_fns(model, params)
    ref = log_likelihood_fn(x, jnp.broadcast_to(z[:, None, :], (7, B, LATENT)))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_log_px_prior_shared_is_the_naive_estimate():
    model = _model("bernoulli")
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = _data("bernoulli")
    key = jax.random.PRNGKey(7)
    got = models.log_px_prior_shared(key, model, params, x, 50)
    z = jax.random.normal(key, (50, LATENT))
    _, log_likelihood_fn = models.model_fns(model, params)
    ll = np.asarray(log_likelihood_fn(x, jnp.broadcast_to(z[:, None, :], (50, B, LATENT))), float)
    np.testing.assert_allclose(got, special.logsumexp(ll, axis=0) - math.log(50), rtol=1e-5)
    # Naive ML: the loss is minus its mean, and it trains only the decoder.
    loss_fn = models.make_naive_ml_loss(model, 10)
    grads = jax.grad(lambda p: loss_fn(p, {"image": x}, key)[0])(params)
    enc_grads, dec_grads = models.split_params(grads)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(enc_grads))
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree_util.tree_leaves(dec_grads))


def test_encoder_elbo_loss_freezes_decoder():
    model = _model("bernoulli")
    params = models.init_params(jax.random.PRNGKey(0), model)
    enc, dec = models.split_params(params)
    x = {"image": _data("bernoulli")}
    key = jax.random.PRNGKey(1)
    loss_enc = models.make_encoder_elbo_loss(model, dec)
    np.testing.assert_allclose(
        loss_enc(enc, x, key)[0], models.make_elbo_loss(model)(params, x, key)[0], rtol=1e-6
    )


def test_active_units():
    means = jnp.stack(
        [jnp.linspace(-1, 1, 100), jnp.full(100, 3.0), 0.05 * jnp.sin(jnp.arange(100.0))], 1
    )
    assert int(models.active_units(means)) == 1
    with pytest.raises(ValueError, match="posterior_means"):
        models.active_units(jnp.zeros((5,)))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown decoder likelihood 'poisson'"):
        _model("poisson")
    with pytest.raises(ValueError, match="unknown decoder likelihood"):
        models.VAE((4,), (4,), 2, D, "poisson").init(jax.random.PRNGKey(0), jnp.zeros((1, D)))
    model = _model("bernoulli")
    params = models.init_params(jax.random.PRNGKey(0), model)
    with pytest.raises(ValueError, match=r"batch\['image'\]"):
        models.make_elbo_loss(model)(
            params, {"image": jnp.zeros((B, D + 1))}, jax.random.PRNGKey(0)
        )
    with pytest.raises(ValueError, match="num_samples"):
        models.make_elbo_loss(model, num_samples=0)
    with pytest.raises(ValueError, match="num_samples"):
        models.make_naive_ml_loss(model, num_samples=0)
    with pytest.raises(ValueError, match="latent_dim"):
        models.make_vae("bernoulli", data_dim=D, latent_dim=0, encoder_hidden=(), decoder_hidden=())
    with pytest.raises(ValueError, match="z must be"):
        models.pairwise_log_likelihood(
            model, params, _data("bernoulli"), jnp.zeros((3, LATENT + 1))
        )


def test_objectives_accept_model_fns():
    """The closures plug into every estimator of genjax.vae.objectives, with sample axes."""
    model = _model("bernoulli")
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = _data("bernoulli")
    encode_fn, log_likelihood_fn = models.model_fns(model, params)
    key = jax.random.PRNGKey(0)
    k1 = objectives.iwae_bound(key, x, encode_fn, log_likelihood_fn, 1)
    is_ = objectives.log_px_importance(key, x, encode_fn, log_likelihood_fn, 200, chunk_size=64)
    assert k1.shape == is_.shape == (B,)
    assert float(jnp.mean(is_)) > float(jnp.mean(k1))


def test_losses_name_the_batch_they_expect():
    """An array where the {'image': ...} batch belongs is a TypeError saying so."""
    model = _model("bernoulli")
    params = models.init_params(jax.random.PRNGKey(0), model)
    x, key = _data("bernoulli"), jax.random.PRNGKey(1)
    for loss_fn in (models.make_elbo_loss(model), models.make_naive_ml_loss(model, 2)):
        with pytest.raises(TypeError, match=r"batch must be a dict with keys 'image', got an "
                           r"array of shape \(5, 64\)"):  # fmt: skip
            loss_fn(params, x, key)
    with pytest.raises(TypeError, match=r"got a dict with keys \['images'\]"):
        models.make_elbo_loss(model)(params, {"images": x}, key)
    loss, _ = models.make_elbo_loss(model)(params, {"image": x}, key)
    assert np.isfinite(float(loss))


def test_vae_mnist_end_to_end(tmp_path):
    from experiments import vae_mnist
    from experiments.configs import vae_mnist as cfg

    config = cfg.get_config("quick")
    config.hidden = (32,)
    config.num_steps = config.naive_ml_encoder_steps = config.manifold_num_steps = 10
    config.ae_num_steps = config.classifier_num_steps = config.digits_num_steps = 10
    config.classifier_hidden = (16,)
    config.digits_hidden = (16,)
    config.log_every = 5
    config.num_eval_images = 40
    config.eval_chunk = 20
    config.is_num_samples = 20
    config.iwae_total_samples = 10
    config.test_elbo_num_samples = 2
    config.naive_ml_num_samples = (10,)
    config.naive_ml_num_steps = 10  # = num_steps: the main VAE is the naive models' peer
    config.digits_decoders = ("categorical",)
    config.num_prior_samples = 64
    config.grid_size = 3
    metrics = vae_mnist.train_and_evaluate(config, tmp_path)
    keys = ["test_elbo", "test_log_px_is", "test_kl", "active_units", "log_px_is_num_samples",
            "vae_prior_classifier_confidence", "ae_gaussian_classifier_confidence",
            "ae_outside_classifier_confidence", "naive_ml_test_log_px_is_n10",
            "naive_ml_vae_test_log_px_is"]  # fmt: skip
    keys += [f"test_iwae_k{k}" for k in (1, 5, 50)]
    keys += ["digits_categorical_test_elbo", "digits_categorical_test_log_px_is"]
    keys += ["informative_units", "aggregate_posterior_gaussian_kl", "ae_codes_gaussian_kl"]
    checks = [k for k in metrics if "decoder_loglik_vs_" in k]  # 1.8 on the trained outputs
    assert sorted(checks) == sorted(
        [f"decoder_loglik_vs_{r}_max_rel_diff" for r in ("bce", "scipy")]
        + [f"digits_categorical_decoder_loglik_vs_{r}_max_rel_diff" for r in ("xent", "scipy")]
    )
    assert max(metrics[k] for k in checks) < 1e-4
    for key in keys:
        assert key in metrics and np.isfinite(metrics[key]), key
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    for name in ("reconstructions", "prior_samples", "latent_manifold"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000

    bad = cfg.get_config("quick")
    bad.digits_decoders = ("bernoulli",)
    from experiments import common

    with pytest.raises(common.ConfigError, match="digits_decoders"):
        vae_mnist.train_and_evaluate(bad, tmp_path / "bad")
