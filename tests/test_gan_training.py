"""genjax.gan training pieces: WGAN losses, gradient penalty, weight clipping, minibatch
discrimination and the unrolled generator loss (claims 2.4, 2.5)."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from genjax import gan


def test_wgan_losses():
    real, fake = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.5, -0.5])
    np.testing.assert_allclose(gan.wgan_critic_loss(real, fake), 0.0 - 2.0)
    np.testing.assert_allclose(gan.wgan_generator_loss(fake), 0.0)
    with pytest.raises(ValueError, match="real_scores must have shape"):
        gan.wgan_critic_loss(jnp.zeros((3, 2)), fake)


def linear_critic(w):
    return lambda x: x @ w  # [B, 2] -> [B]; input gradient w everywhere


def test_gradient_penalty_closed_form_for_a_linear_critic():
    w = jnp.array([3.0, 4.0])  # ||grad|| = 5 at every point
    real = jax.random.normal(jax.random.PRNGKey(0), (16, 2))
    fake = jax.random.normal(jax.random.PRNGKey(1), (16, 2))
    gp = gan.gradient_penalty(linear_critic(w), real, fake, jax.random.PRNGKey(2))
    np.testing.assert_allclose(gp, (5.0 - 1.0) ** 2, rtol=1e-6)


def test_gradient_penalty_is_finite_when_real_equals_fake_and_gradient_is_zero():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 2))
    key = jax.random.PRNGKey(1)
    # A critic whose input gradient is exactly zero: the norm's gradient must not be NaN.
    zero_critic = lambda w: lambda x: jnp.sum(w) * jnp.zeros(x.shape[0])  # noqa: E731
    grad_w = jax.grad(lambda w: gan.gradient_penalty(zero_critic(w), x, x, key))(jnp.ones(2))
    chex.assert_tree_all_finite(grad_w)
    mlp = nn.Sequential([nn.Dense(8), nn.relu, nn.Dense(1)])
    params = mlp.init(jax.random.PRNGKey(2), x)
    loss = lambda p: gan.gradient_penalty(lambda z: mlp.apply(p, z)[:, 0], x, x, key)  # noqa: E731
    value, grads = jax.value_and_grad(loss)(params)
    assert np.isfinite(value)
    chex.assert_tree_all_finite(grads)
    np.testing.assert_array_equal(jax.grad(lambda v: gan.safe_norm(v))(jnp.zeros(3)), 0.0)
    np.testing.assert_allclose(gan.safe_norm(jnp.array([3.0, 4.0])), 5.0)


def test_weight_clipping_function_and_optax_transform_agree():
    params = {"a": jnp.array([0.5, -0.02, 0.005]), "b": jnp.array([[0.3]])}
    np.testing.assert_allclose(gan.clip_weights(params, 0.01)["a"], [0.01, -0.01, 0.005])
    opt = optax.chain(optax.sgd(0.1), gan.weight_clipping(0.01))
    grads = {"a": jnp.array([1.0, -1.0, 0.01]), "b": jnp.array([[-2.0]])}
    updates, _ = opt.update(grads, opt.init(params), params)
    new = optax.apply_updates(params, updates)
    expected = gan.clip_weights(jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), 0.01)
    chex.assert_trees_all_close(new, expected, atol=1e-7)
    with pytest.raises(ValueError, match="needs params"):
        gan.weight_clipping(0.01).update(grads, (), None)
    with pytest.raises(ValueError, match="clip_value must be positive"):
        gan.weight_clipping(0.0)


def test_minibatch_features_match_a_loop_and_exclude_self():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 3, 4))
    expected = np.zeros((5, 3))
    for i in range(5):
        for j in range(5):
            if i != j:
                expected[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
    np.testing.assert_allclose(gan.minibatch_features(jnp.asarray(m)), expected, rtol=1e-5)
    # Identical samples: each sees the other N - 1 at distance 0.
    same = jnp.ones((6, 2, 3))
    np.testing.assert_allclose(gan.minibatch_features(same), 5.0)


def test_minibatch_discrimination_layer():
    layer = gan.MinibatchDiscrimination(num_kernels=7, kernel_dim=3)
    x = jax.random.normal(jax.random.PRNGKey(0), (10, 4))
    params = layer.init(jax.random.PRNGKey(1), x)
    out = layer.apply(params, x)
    chex.assert_shape(out, (10, 11))
    np.testing.assert_array_equal(out[:, :4], x)
    t = params["params"]["T"]
    manual = gan.minibatch_features((x @ t).reshape(10, 7, 3))
    np.testing.assert_allclose(out[:, 4:], manual, rtol=1e-6)
    with pytest.raises(ValueError, match="x must be"):
        layer.apply(params, x[0])


# A tiny generator and discriminator for the unrolled loss.
def generate(gp, z):
    return jnp.tanh(z @ gp["w1"]) @ gp["w2"]  # [B, 2] -> [B, 2]


def discriminate(dp, x):
    return jnp.tanh(x @ dp["v1"] + dp["c1"][None, :]) @ dp["v2"]  # [B, 2] -> [B]


def tiny_problem(k, dtype=jnp.float32):
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    gp = {
        "w1": jax.random.normal(keys[0], (2, 6), dtype),
        "w2": jax.random.normal(keys[1], (6, 2), dtype) * 0.5,
    }
    dp = {
        "v1": jax.random.normal(keys[2], (2, 5), dtype),
        "c1": jnp.zeros(5, dtype),
        "v2": jax.random.normal(keys[3], (5,), dtype),
    }
    real = jax.random.normal(keys[4], (k, 16, 2), dtype) + 2.0
    unroll_noise = jax.random.normal(keys[5], (k, 16, 2), dtype)
    noise = jax.random.normal(keys[6], (16, 2), dtype)
    return gp, dp, real, unroll_noise, noise


def loss_fn(k, opt, **kwargs):
    """The jitted unrolled loss of G; by default the minimax value on a fixed data batch."""
    gp, dp, real, unroll_noise, noise = tiny_problem(k)
    opt_state = opt.init(dp)
    if "generator_loss" not in kwargs:
        kwargs.setdefault("value_real", jax.random.normal(jax.random.PRNGKey(9), (16, 2)) + 2.0)

    def f(gen_params):
        return gan.unrolled_generator_loss(
            gen_params,
            dp,
            opt_state,
            real,
            unroll_noise,
            noise,
            generate=generate,
            discriminate=discriminate,
            disc_optimizer=opt,
            **kwargs,
        )

    return jax.jit(f), gp, dp


def test_unrolled_loss_with_k0_is_the_plain_generator_loss():
    opt = optax.adam(1e-2, eps_root=1e-8)
    f, gp, dp = loss_fn(0, opt, generator_loss=gan.nonsaturating_generator_loss)
    _, _, _, _, noise = tiny_problem(0)
    plain = lambda g: gan.nonsaturating_generator_loss(discriminate(dp, generate(g, noise)))  # noqa: E731
    np.testing.assert_allclose(f(gp), plain(gp), rtol=1e-6)
    # f is jitted, plain is not: float32 reassociation differs at ~1e-6 relative.
    chex.assert_trees_all_close(jax.grad(f)(gp), jax.grad(plain)(gp), rtol=1e-5, atol=1e-8)


def test_unrolled_gradient_flows_through_the_updates():
    opt = optax.adam(0.1, b1=0.5, eps_root=1e-8)
    f, gp, _ = loss_fn(5, opt)
    f_stopped, _, _ = loss_fn(5, opt, stop_unroll_gradient=True)
    np.testing.assert_allclose(f(gp), f_stopped(gp), rtol=1e-6)  # same value...
    g, g_stopped = jax.grad(f)(gp), jax.grad(f_stopped)(gp)
    diff = optax.global_norm(jax.tree.map(jnp.subtract, g, g_stopped))
    assert diff > 1e-3 * optax.global_norm(g)  # ...different gradients
    chex.assert_tree_all_finite(g)


def test_unrolled_loss_defaults_to_metz_f_k():
    # The default: G minimises V(D_K, G) = E log D_K(x) + E log(1 - D_K(G(z))).
    opt = optax.adam(0.1, b1=0.5, eps_root=1e-8)
    _, dp, real, _, noise = tiny_problem(3)
    x = real[0] - 1.0
    # k = 0: the saturating loss of the fakes plus a G-independent constant.
    f0, gp, _ = loss_fn(0, opt, value_real=x)

    def value(g):  # equal batch sizes: V = -2 * discriminator_loss
        return -2.0 * gan.discriminator_loss(
            discriminate(dp, x), discriminate(dp, generate(g, noise))
        )

    np.testing.assert_allclose(f0(gp), value(gp), rtol=1e-6)
    chex.assert_trees_all_close(
        jax.grad(f0)(gp),
        jax.grad(lambda g: gan.saturating_generator_loss(discriminate(dp, generate(g, noise))))(gp),
        rtol=1e-5, atol=1e-8,
    )  # fmt: skip
    # k > 0: the real-data term now depends on G through the updates, so the
    # gradient differs from the fakes-only saturating loss against the same D_K.
    f3, gp, _ = loss_fn(3, opt, value_real=x)
    fakes_only, _, _ = loss_fn(3, opt, generator_loss=gan.saturating_generator_loss)
    g_value, g_fakes = jax.grad(f3)(gp), jax.grad(fakes_only)(gp)
    diff = optax.global_norm(jax.tree.map(jnp.subtract, g_value, g_fakes))
    assert diff > 1e-3 * optax.global_norm(g_value)
    with jax.enable_x64(True):
        gp64, dp64, real64, unroll64, noise64 = tiny_problem(2, jnp.float64)
        sgd = optax.sgd(0.3)

        def f(g):
            return gan.unrolled_generator_loss(
                g, dp64, sgd.init(dp64), real64, unroll64, noise64, generate=generate,
                discriminate=discriminate, disc_optimizer=sgd, value_real=real64[0],
            )  # fmt: skip

        check_grads(jax.jit(f), (gp64,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_unrolled_loop_and_scan_agree():
    opt = optax.adam(0.1, b1=0.5, eps_root=1e-8)
    f_loop, gp, _ = loss_fn(4, opt)
    f_scan, _, _ = loss_fn(4, opt, use_scan=True)
    np.testing.assert_allclose(f_loop(gp), f_scan(gp), rtol=1e-5)
    chex.assert_trees_all_close(jax.grad(f_loop)(gp), jax.grad(f_scan)(gp), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("use_scan", [False, True])
def test_unrolled_remat_keeps_value_and_gradient(use_scan):
    opt = optax.adam(0.1, b1=0.5, eps_root=1e-8)
    f_plain, gp, _ = loss_fn(3, opt, use_scan=use_scan)
    f_remat, _, _ = loss_fn(3, opt, use_scan=use_scan, remat=True)
    np.testing.assert_allclose(f_plain(gp), f_remat(gp), rtol=1e-6)
    chex.assert_trees_all_close(jax.grad(f_plain)(gp), jax.grad(f_remat)(gp), rtol=1e-5, atol=1e-7)


def test_unrolled_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        opt = optax.sgd(0.3)  # smooth in its inputs, so central differences are exact to O(h^2)
        gp, dp, real, unroll_noise, noise = tiny_problem(3, jnp.float64)
        opt_state = opt.init(dp)

        def f(gen_params):
            return gan.unrolled_generator_loss(
                gen_params, dp, opt_state, real, unroll_noise, noise,
                generate=generate, discriminate=discriminate, disc_optimizer=opt,
                value_real=real[0] - 1.0,
            )  # fmt: skip

        check_grads(jax.jit(f), (gp,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)
        opt = optax.adam(0.05, eps_root=1e-8)
        opt_state = opt.init(dp)
        check_grads(jax.jit(f), (gp,), order=1, modes=["rev"], atol=1e-5, rtol=1e-5)


def test_unrolled_bad_input():
    opt = optax.sgd(0.1)
    gp, dp, real, unroll_noise, noise = tiny_problem(3)
    with pytest.raises(ValueError, match="same number of unroll steps"):
        gan.unrolled_generator_loss(
            gp, dp, opt.init(dp), real, unroll_noise[:2], noise,
            generate=generate, discriminate=discriminate, disc_optimizer=opt,
            value_real=real[0],
        )  # fmt: skip
    kw = dict(generate=generate, discriminate=discriminate, disc_optimizer=opt)
    for objective in ({}, {"value_real": real[0], "generator_loss": gan.gan_value}):
        with pytest.raises(ValueError, match="give value_real"):
            gan.unrolled_generator_loss(gp, dp, opt.init(dp), real, unroll_noise, noise,
                                        **kw, **objective)  # fmt: skip


def test_gan_train_step_updates_both_players_and_can_freeze_g():
    gen, disc = gan.Generator(hidden=(8,), out_dim=2), gan.Discriminator(hidden=(8,))
    gp = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    dp = disc.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
    g_opt, d_opt = optax.sgd(0.1), optax.sgd(0.1)
    kw = dict(
        generate=gen.apply, discriminate=disc.apply,
        gen_optimizer=g_opt, disc_optimizer=d_opt, noise_dim=3,
    )  # fmt: skip
    state = gan.init_gan_state(gp, dp, g_opt, d_opt, jax.random.PRNGKey(2))
    real = jax.random.normal(jax.random.PRNGKey(3), (16, 2))
    new, metrics = jax.jit(gan.make_gan_train_step(**kw))(state, real)
    for old, upd in zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params), strict=True):
        assert np.any(np.asarray(old) != np.asarray(upd))
    assert {"disc_loss", "gen_loss", "d_of_fake", "loss"} <= set(metrics)
    frozen, _ = jax.jit(gan.make_gan_train_step(**kw, train_generator=False))(state, real)
    chex.assert_trees_all_equal(frozen.params["gen"], state.params["gen"])
    with pytest.raises(ValueError, match="noise_dim"):
        gan.make_gan_train_step(**{**kw, "noise_dim": 0})


def test_simultaneous_update_scores_g_against_the_starting_d():
    """update='simultaneous': D's update is the alternating step's; G's is the one an
    alternating step makes against a D that does not move (rate 0), and differs from the
    alternating step's against the updated D."""
    gen, disc = gan.Generator(hidden=(8,), out_dim=2), gan.Discriminator(hidden=(8,))
    gp = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    dp = disc.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
    real = jax.random.normal(jax.random.PRNGKey(3), (16, 2))

    def one_step(d_rate, update):
        g_opt, d_opt = optax.sgd(0.1), optax.sgd(d_rate)
        step = gan.make_gan_train_step(
            generate=gen.apply, discriminate=disc.apply, gen_optimizer=g_opt,
            disc_optimizer=d_opt, noise_dim=3, objective="minimax", update=update,
        )  # fmt: skip
        state = gan.init_gan_state(gp, dp, g_opt, d_opt, jax.random.PRNGKey(2))
        return jax.jit(step)(state, real)[0].params

    simultaneous = one_step(0.5, "simultaneous")
    alternating, frozen_d = one_step(0.5, "alternating"), one_step(0.0, "alternating")
    chex.assert_trees_all_close(simultaneous["disc"], alternating["disc"], rtol=1e-6)
    chex.assert_trees_all_close(simultaneous["gen"], frozen_d["gen"], rtol=1e-6)
    gap = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(
            jax.tree.leaves(simultaneous["gen"]), jax.tree.leaves(alternating["gen"]), strict=True
        )
    )
    assert gap > 1e-4
    kw = dict(generate=gen.apply, discriminate=disc.apply, gen_optimizer=optax.sgd(0.1),
              disc_optimizer=optax.sgd(0.1), noise_dim=3)  # fmt: skip
    with pytest.raises(ValueError, match="update must be one of"):
        gan.make_gan_train_step(**kw, update="joint")
    with pytest.raises(ValueError, match="needs disc_steps=1, got 2"):
        gan.make_gan_train_step(**kw, update="simultaneous", disc_steps=2)


def test_shared_gen_batch_reuses_the_steps_d_batch_as_the_notebook_does():
    """gen_batch='shared' (Metz et al.'s notebook: one data and one noise batch per step):
    G's unrolled loss simulates k updates of D on D update 0's batch and scores G on it
    again, so G's update is the one computed by hand from that batch; D's update is
    unchanged, and G's differs from the 'fresh' draws'."""
    gen, disc = gan.Generator(hidden=(8,), out_dim=2), gan.Discriminator(hidden=(8,))
    gp = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    dp = disc.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
    key, k, batch = jax.random.PRNGKey(2), 2, 16
    sample = lambda kk, n: jax.random.normal(kk, (n, 2)) + 1.0  # noqa: E731
    g_opt, d_opt = optax.sgd(0.1), optax.sgd(0.5)

    def one_step(gen_batch):
        step = gan.make_gan_train_step(
            generate=gen.apply, discriminate=disc.apply, gen_optimizer=g_opt,
            disc_optimizer=d_opt, noise_dim=3, objective="minimax", unroll_steps=k,
            sample_data=sample, batch_size=batch, update="simultaneous", gen_batch=gen_batch,
        )  # fmt: skip
        return jax.jit(step)(gan.init_gan_state(gp, dp, g_opt, d_opt, key), None)[0].params

    # Step 0's D batch, as the module documents: D update 0 draws from fold_in(disc_key, 0).
    disc_key, _ = jax.random.split(jax.random.fold_in(key, 0))
    real_key, noise_key, _ = jax.random.split(jax.random.fold_in(disc_key, 0), 3)
    x, z = sample(real_key, batch), jax.random.normal(noise_key, (batch, 3))

    def by_hand(g):
        return gan.unrolled_generator_loss(
            g, dp, d_opt.init(dp), jnp.stack([x] * k), jnp.stack([z] * k), z,
            generate=gen.apply, discriminate=disc.apply, disc_optimizer=d_opt, value_real=x,
        )  # fmt: skip

    expected = jax.tree.map(lambda p, g: p - 0.1 * g, gp, jax.grad(by_hand)(gp))
    shared, fresh = one_step("shared"), one_step("fresh")
    chex.assert_trees_all_close(shared["gen"], expected, rtol=1e-5, atol=1e-7)
    chex.assert_trees_all_close(shared["disc"], fresh["disc"], rtol=1e-6)
    gap = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(shared["gen"]), jax.tree.leaves(fresh["gen"]), strict=True)
    )
    assert gap > 1e-4
    kw = dict(generate=gen.apply, discriminate=disc.apply, gen_optimizer=g_opt,
              disc_optimizer=d_opt, noise_dim=3)  # fmt: skip
    with pytest.raises(ValueError, match="gen_batch must be one of"):
        gan.make_gan_train_step(**kw, gen_batch="same")
    with pytest.raises(ValueError, match="gen_batch='shared' needs disc_steps=1, got 5"):
        gan.make_gan_train_step(**kw, gen_batch="shared", disc_steps=5)


def test_critic_estimates_w1_between_shifted_gaussians():
    critic = gan.Discriminator(hidden=(32,), activation=jnp.tanh)
    init = critic.init(jax.random.PRNGKey(0), jnp.zeros((1, 1)))

    def shifted(mu):
        return lambda k, n: mu + jax.random.normal(k, (n, 1))

    est = jax.jit(
        lambda k: gan.estimate_w1_with_critic(
            k, critic.apply, init, shifted(0.0), shifted(1.5), num_steps=300, batch_size=256
        )
    )(jax.random.PRNGKey(1))
    # W1 between N(0, 1) and N(1.5, 1) is 1.5. The critic maximises E_p[f] - E_q[f] over
    # (softly) 1-Lipschitz f, so its estimate is positive and a lower bound, up to noise.
    assert 1.5 - 0.25 < est < 1.5 + 0.1


def test_critic_rejects_a_bad_learning_rate_but_not_a_traced_one():
    def critic_apply(params, x):
        return params * x[:, 0]

    def sample(k, n):
        return jax.random.normal(k, (n, 1))

    def estimate(learning_rate):
        return gan.estimate_w1_with_critic(
            jax.random.PRNGKey(0), critic_apply, jnp.float32(0.1), sample, sample,
            num_steps=2, batch_size=4, learning_rate=learning_rate, eval_samples=8,
        )  # fmt: skip

    for bad in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
            estimate(bad)
    assert np.isfinite(jax.jit(estimate)(jnp.float32(1e-3)))  # traced: not checked
