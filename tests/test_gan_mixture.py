"""GAN variants, vmapped multi-seed training, PacGAN statistics and the gan_mixture experiment."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

from experiments import common
from genjax import gan
from genjax.data import mixtures
from genjax.gan import multiseed, variants


def test_mode_statistics_match_a_numpy_count():
    modes = mixtures.ring_modes()
    std = 0.01
    rng = np.random.default_rng(0)
    # 30 samples near mode 0, 10 near mode 3 (all within 3 std), 20 far from every mode.
    near0 = modes[0] + 0.5 * std * rng.standard_normal((30, 2))
    near3 = modes[3] + 0.5 * std * rng.standard_normal((10, 2))
    far = 0.3 * rng.standard_normal((20, 2))  # around the origin, > 0.5 from the unit ring
    samples = np.concatenate([near0, near3, far]).astype(np.float32)
    stats = multiseed.mode_statistics(jnp.asarray(samples), jnp.asarray(modes), std)
    assert float(stats["modes"]) == 2
    np.testing.assert_allclose(float(stats["hq"]), 40 / 60, rtol=1e-6)
    expected_counts = np.zeros(8)
    expected_counts[[0, 3]] = [30, 10]
    np.testing.assert_array_equal(np.asarray(stats["counts"]), expected_counts)
    reference = scipy.stats.entropy(expected_counts / 40, np.full(8, 1 / 8))  # KL(p || uniform)
    np.testing.assert_allclose(float(stats["reverse_kl"]), reference, rtol=1e-5)


def test_mode_statistics_edge_cases_and_bad_input():
    modes = jnp.asarray(mixtures.grid_modes())
    uniform = jnp.repeat(modes, 4, axis=0)  # 4 exact samples per mode
    stats = multiseed.mode_statistics(uniform, modes, 0.05)
    assert float(stats["modes"]) == 25 and float(stats["hq"]) == 1.0
    assert abs(float(stats["reverse_kl"])) < 1e-6
    none = multiseed.mode_statistics(jnp.full((5, 2), 100.0), modes, 0.05)
    assert float(none["modes"]) == 0 and float(none["hq"]) == 0
    np.testing.assert_allclose(float(none["reverse_kl"]), np.log(25), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one mode"):
        multiseed.mode_statistics(uniform, jnp.zeros((0, 2)), 0.05)
    with pytest.raises(ValueError, match="same dim"):
        multiseed.mode_statistics(uniform, jnp.zeros((3, 3)), 0.05)
    with pytest.raises(ValueError, match="num_modes"):
        mixtures.ring_modes(0)


def test_variant_registry_and_bad_variants():
    assert set(variants.VARIANTS) == {
        "gan_minimax", "gan_nonsaturating", "unrolled_k5", "unrolled_k10",
        "minibatch_discrimination", "wgan_clip", "wgan_gp", "unrolled_k5_nonsaturating",
    }  # fmt: skip
    assert variants.get_variant("unrolled_k10").unroll_steps == 10
    with pytest.raises(ValueError, match="unknown GAN variant 'gan_typo'"):
        variants.get_variant("gan_typo")
    with pytest.raises(ValueError, match="k\\) must be >= 0"):
        variants.GANVariant("bad", "nonsaturating", unroll_steps=-1)
    with pytest.raises(ValueError, match="unknown objective"):
        variants.GANVariant("bad", "hinge")
    with pytest.raises(ValueError, match="disc_steps"):
        variants.GANVariant("bad", "wgan_gp", disc_steps=0)


def _setup(name, num_runs=3, use_scan=False, lr=1e-3):
    variant = name if isinstance(name, variants.GANVariant) else variants.get_variant(name)
    gen = gan.Generator(hidden=(8,), out_dim=2)
    disc = gan.Discriminator(hidden=(8,), minibatch_kernels=variant.minibatch_kernels, kernel_dim=3)
    if variant.objective == "wgan_clip":
        gen_opt = optax.rmsprop(lr)
        disc_opt = optax.chain(optax.rmsprop(lr), gan.weight_clipping(0.01))
    else:
        gen_opt = optax.adam(lr, b1=0.5)
        disc_opt = optax.adam(lr, b1=0.5, eps_root=1e-8)
    modes, std = mixtures.load_mixture("ring")

    def sample(key, n):
        return mixtures.sample_mixture(key, n, modes, std)

    def init(key):
        g, d, r = jax.random.split(key, 3)
        return gan.init_gan_state(
            gen.init(g, jnp.zeros((1, 4))), disc.init(d, jnp.zeros((1, 2))), gen_opt, disc_opt, r
        )

    step = variants.make_variant_step(
        variant, generate=gen.apply, discriminate=disc.apply, gen_optimizer=gen_opt,
        disc_optimizer=disc_opt, sample_data=sample, noise_dim=4, batch_size=16,
        use_scan=use_scan,
    )  # fmt: skip
    keys = jax.random.split(jax.random.PRNGKey(1), num_runs)
    return init, step, keys


def test_vmapped_runs_equal_separate_runs():
    # WGAN-GP's critic loop and penalty nest a grad inside a fori_loop: the step
    # where batching the runs is least trivial. (Loop vs scan of the unrolled loss:
    # tests/test_gan_training.py.)
    init, step, keys = _setup("wgan_gp", num_runs=2)
    multi = jax.jit(multiseed.make_multiseed_step(step))
    state = multiseed.stack_states(init, keys)
    mapped = jax.jit(multiseed.make_multiseed_step(step, runs_axis="map"))
    state_map = state
    for _ in range(2):
        state, metrics = multi(state, None)
        state_map, _ = mapped(state_map, None)
    assert float(metrics["num_diverged"]) == 0
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
        state.params, state_map.params,
    )  # fmt: skip
    one = jax.jit(step)
    for r in range(len(keys)):
        single = init(keys[r])
        for _ in range(2):
            single, _ = one(single)
        got = jax.tree_util.tree_map(lambda x, r=r: x[r], state.params)
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), got, single.params
        )


def test_clipped_critic_stays_inside_the_box():
    init, step, keys = _setup("wgan_clip", num_runs=1, lr=0.1)
    state = init(keys[0])
    for _ in range(3):
        state, _ = jax.jit(step)(state)
    leaves = jax.tree_util.tree_leaves(state.params["disc"])
    assert max(float(jnp.max(jnp.abs(x))) for x in leaves) <= 0.01 + 1e-7


def test_a_diverging_run_is_frozen_and_counted():
    def step(state):  # w[0] counts steps; the flagged run (w[1] = 1) turns NaN at step 2
        w = state.params["w"] + jnp.array([1.0, 0.0])
        w = jnp.where((state.step >= 2) & (state.params["w"][1] == 1.0), jnp.nan, w)
        return state._replace(params={"w": w}), {"loss": jnp.sum(w)}

    def init(key, flag):
        del key
        from genjax.train import TrainState

        return TrainState(jnp.zeros((), jnp.int32), {"w": jnp.stack([0.0, flag])}, (), None)

    state = multiseed.stack_states(
        lambda k, f: init(k, f)._replace(key=k), jax.random.split(jax.random.PRNGKey(0), 2),
        jnp.array([0.0, 1.0]),
    )  # fmt: skip
    multi = jax.jit(multiseed.make_multiseed_step(step))
    for _ in range(4):
        state, metrics = multi(state, None)
    assert float(metrics["num_diverged"]) == 1
    np.testing.assert_array_equal(np.asarray(state.params["w"]), [[4.0, 0.0], [2.0, 1.0]])
    assert float(metrics["loss"]) == 4.0  # the live run only: w = [4, 0]
    with pytest.raises(ValueError, match="runs_axis"):
        multiseed.make_multiseed_step(step, runs_axis="pmap")
    with pytest.raises(ValueError, match="leading axis"):
        multiseed.stack_states(init, jax.random.split(jax.random.PRNGKey(0), 2), jnp.zeros(3))


def _tiny_config():
    from experiments.configs import gan_mixture as cfg

    config = cfg.get_config("quick")
    config.variants = ("gan_nonsaturating",)
    config.num_seeds = 2
    config.num_steps = 4
    config.log_every = 2
    config.gen_hidden = config.disc_hidden = (8,)
    config.eval_samples = 100
    config.w1_samples = 50
    return config


def test_experiment_end_to_end_with_a_tiny_sweep(tmp_path):
    from experiments import gan_mixture

    config = _tiny_config()
    config.stability_sweep = True
    config.stability_learning_rates = (1e-4, 1e-3)
    config.stability_disc_depths = (1,)
    config.stability_seeds = 1
    metrics = gan_mixture.train_and_evaluate(config, tmp_path)
    for v in config.variants:
        for stat in ("modes_mean", "modes_std", "hq_mean", "reverse_kl_mean", "w1_mean"):
            assert np.isfinite(metrics[f"ring_{v}_{stat}"]), (v, stat)
    for method in ("gan_minimax", "gan_nonsaturating", "gan", "wgan_gp"):
        assert 0.0 <= metrics[f"ring_{method}_success_rate"] <= 1.0
    assert (tmp_path / "samples.png").exists() and (tmp_path / "stability.png").exists()
    runs = json.loads((tmp_path / "stability_runs.json").read_text())
    assert len(runs) == 3 * 2
    assert sorted({r["lr"] for r in runs}) == pytest.approx([1e-4, 1e-3])
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    # The merge tool rebuilds the same metrics from the run's per-seed numbers and rows.
    from experiments import gan_mixture_merge

    merged = gan_mixture_merge.merge([(tmp_path, None)], tmp_path / "merged")
    assert merged.keys() == metrics.keys()
    for k in metrics:
        assert merged[k] == pytest.approx(metrics[k], rel=1e-6, abs=1e-7), k
    assert (tmp_path / "merged" / "stability.png").exists()


def test_per_run_learning_rates_reach_the_optimizer():
    from experiments import gan_mixture

    config = _tiny_config()
    variant = variants.get_variant("gan_nonsaturating")
    gen_opt, _ = gan_mixture.optimizers(variant, config)
    params = {"w": jnp.ones(3)}
    state = gan_mixture._set_learning_rate(gen_opt.init(params), 0.25)
    assert float(state[1].hyperparams["step_size"]) == -0.25
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}
    # Adam's first step moves each weight by ~lr (sign of the gradient) at decay factor 1.
    updates, _ = gen_opt.update(grads, state, params)
    np.testing.assert_allclose(updates["w"], [-0.25, 0.25, -0.25], rtol=1e-4)
    clip_variant = variants.get_variant("wgan_clip")
    _, disc_opt = gan_mixture.optimizers(clip_variant, config)
    state = gan_mixture._set_learning_rate(disc_opt.init(params), 0.5)
    assert float(state[0][1].hyperparams["step_size"]) == -0.5


def test_per_run_learning_rates_change_the_runs(tmp_path):
    # The stability sweep's rate axis: runs with the same seed differ only by their rate.
    from experiments import gan_mixture

    config = _tiny_config()
    modes, std = mixtures.load_mixture("ring")
    keys = jnp.stack([jax.random.PRNGKey(3)] * 3)
    variant = variants.get_variant("gan_nonsaturating")
    _, params, _ = gan_mixture.train_runs(
        variant, modes, std, config, keys, tmp_path, learning_rates=[1e-3, 1e-3, 1e-1]
    )
    leaves = jax.tree.leaves(params)
    for x in leaves:
        np.testing.assert_array_equal(x[0], x[1])
    assert any(not np.allclose(x[0], x[2]) for x in leaves)
    with pytest.raises(ValueError, match="no learning-rate"):
        gan_mixture._set_learning_rate(optax.adam(1e-3).init({"w": jnp.ones(2)}), 0.1)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("variants", ("gan_typo",), "unknown variant 'gan_typo'"),
        ("datasets", ("spiral",), "unknown dataset 'spiral'"),
        ("num_seeds", 0, "num_seeds"),
        ("w1_samples", 5000, "w1_samples"),
        ("disc_hidden", (), "disc_hidden"),
        ("stability_disc_depths", (0,), "stability_disc_depths"),
        ("runs_axis", "pmap", "runs_axis"),
        ("activation", "gelu", "activation"),
        ("stability_methods", ("unrolled_k5",), "stability_methods"),
        ("stability_methods", (), "stability_methods"),
    ],
)
def test_bad_configs_fail_before_training(tmp_path, field, value, match):
    from experiments import gan_mixture

    config = _tiny_config()
    config.stability_sweep = True
    config[field] = value
    with pytest.raises(common.ConfigError, match=match):
        gan_mixture.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_run_keys_depend_on_names_not_positions():
    from experiments import gan_mixture

    root = jax.random.PRNGKey(0)
    key = gan_mixture.name_key(root, "ring", "wgan_gp")
    np.testing.assert_array_equal(key, gan_mixture.name_key(root, "ring", "wgan_gp"))
    others = [("ring", "gan_minimax"), ("grid", "wgan_gp"), ("ring", "wgan_gp", "held_out")]
    for names in others:
        assert not np.array_equal(key, gan_mixture.name_key(root, *names)), names


def test_activation_names_the_networks_nonlinearity(tmp_path):
    from experiments import gan_mixture

    config = _tiny_config()
    modes, std = mixtures.load_mixture("ring")
    keys = jnp.stack([jax.random.PRNGKey(3)])
    variant = variants.get_variant("gan_nonsaturating")
    noise = jax.random.normal(jax.random.PRNGKey(4), (5, config.noise_dim))
    outputs = {}
    for act in ("relu", "tanh"):
        config.activation = act
        gen, params, _ = gan_mixture.train_runs(variant, modes, std, config, keys, tmp_path / act)
        assert gen.activation is gan_mixture.ACTIVATIONS[act]
        outputs[act] = gen.apply(jax.tree.map(lambda x: x[0], params), noise)
    assert not np.allclose(outputs["relu"], outputs["tanh"])


def test_stability_metrics_from_rows():
    from experiments import gan_mixture

    rows = [  # (variant, depth, lr, seed, modes, hq, success)
        ("gan_minimax", 1, 1e-3, 0, 8, 0.7, True), ("gan_minimax", 2, 1e-3, 0, 2, 0.9, False),
        ("gan_nonsaturating", 1, 1e-3, 0, 6, 0.8, False),
        ("gan_nonsaturating", 2, 1e-3, 0, 7, 0.5, True),
        ("wgan_gp", 1, 1e-3, 0, 8, 0.6, True), ("wgan_gp", 2, 1e-3, 0, 8, 0.6, True),
    ]  # fmt: skip
    metrics = gan_mixture.stability_metrics(rows)
    assert metrics == {
        "ring_gan_minimax_success_rate": 0.5, "ring_gan_nonsaturating_success_rate": 0.5,
        "ring_wgan_gp_success_rate": 1.0, "ring_gan_success_rate": 0.5,
        "stability_runs_per_method": 2.0,
    }  # fmt: skip
    only_gp = gan_mixture.stability_metrics(rows[4:])
    assert only_gp == {"ring_wgan_gp_success_rate": 1.0, "stability_runs_per_method": 2.0}


def _fake_gan_run(path, per_run, rows=(), **config):
    from experiments import common

    base = {"seed": 0, "num_steps": 10, "datasets": ["ring"], "variants": ["wgan_gp"],
            "stability_sweep": bool(rows), "stability_disc_depths": [1],
            "stability_learning_rates": [1e-3]}  # fmt: skip
    common.write_json(path / "config.json", {**base, **config})
    common.write_json(path / "per_run.json", per_run)
    if rows:
        fields = ("variant", "depth", "lr", "seed", "modes", "hq", "success")
        common.write_json(
            path / "stability_runs.json", [dict(zip(fields, r, strict=True)) for r in rows]
        )
    return path


def test_gan_mixture_merge_takes_selected_pieces_and_refuses_clashes(tmp_path):
    from experiments import gan_mixture_merge as gm

    seeds = {"modes": [8, 6], "hq": [0.5, 0.7], "reverse_kl": [0.0, 0.2], "w1": [0.1, 0.3],
             "counts": [[1], [2]]}  # fmt: skip
    other = {**seeds, "modes": [2, 4]}
    a = _fake_gan_run(tmp_path / "a", {"ring_wgan_gp": seeds, "ring_gan_minimax": other},
                      rows=[("wgan_gp", 1, 1e-3, 0, 8, 0.6, True),
                            ("gan_minimax", 1, 1e-3, 0, 3, 0.9, False)])  # fmt: skip
    b = _fake_gan_run(tmp_path / "b", {"grid_unrolled_k10": other, "ring_wgan_gp": other},
                      rows=[("wgan_gp", 2, 1e-3, 0, 8, 0.2, False)],
                      datasets=["ring", "grid"], stability_disc_depths=[2])  # fmt: skip
    runs = [gm.parse_run(str(a)), gm.parse_run(f"{b}:grid/*,sweep/*/2")]
    m = gm.merge(runs, tmp_path / "out")
    assert m["ring_wgan_gp_modes_mean"] == 7.0  # from a: b's ring_wgan_gp was not selected
    assert m["ring_wgan_gp_modes_std"] == pytest.approx(1.0)
    assert m["grid_unrolled_k10_modes_mean"] == 3.0
    assert m["ring_gan_minimax_hq_mean"] == pytest.approx(0.6)
    assert m["ring_wgan_gp_success_rate"] == 0.5 and m["ring_gan_success_rate"] == 0.0
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["datasets"] == ["ring", "grid"]
    assert config["variants"] == ["gan_minimax", "unrolled_k10", "wgan_gp"]
    assert config["stability_disc_depths"] == [1, 2]
    sources = json.loads((tmp_path / "out" / "merge_sources.json").read_text())
    assert sources["grid_unrolled_k10"] == str(b) and sources["sweep/wgan_gp/1"] == str(a)
    with pytest.raises(ValueError, match="ring_wgan_gp comes from both"):
        gm.merge([gm.parse_run(str(a)), gm.parse_run(str(b))], tmp_path / "out2")
    with pytest.raises(ValueError, match="nothing selected"):
        gm.merge([gm.parse_run(str(a)), gm.parse_run(f"{b}:grid/gan_minimax")], tmp_path / "o")
    c = _fake_gan_run(tmp_path / "c", {"grid_wgan_gp": seeds}, num_steps=20)
    with pytest.raises(ValueError, match=r"config differs .* in \['num_steps'\]"):
        gm.merge([gm.parse_run(str(a)), gm.parse_run(str(c))], tmp_path / "out3")
    for bad in (f"{a}:ring", f"{a}:moon/wgan_gp", f"{a}:"):
        with pytest.raises(ValueError, match="neither|empty"):
            gm.parse_run(bad)
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()
    with pytest.raises(ValueError, match="sweep/wgan_gp/1 comes from both"):
        gm.merge([gm.parse_run(str(a)), gm.parse_run(f"{a}:sweep/wgan_gp/*")], tmp_path / "o4")
