"""GAN variants on the one GAN step, vmapped seeds, PacGAN statistics and gan_mixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

from experiments import common
from genjax import gan, train
from genjax.data import mixtures
from genjax.gan import metrics as gan_metrics
from genjax.gan import variants


def test_mode_statistics_match_a_numpy_count():
    modes = mixtures.ring_modes()
    std = 0.01
    rng = np.random.default_rng(0)
    # 30 samples near mode 0, 10 near mode 3 (all within 3 std), 20 far from every mode.
    near0 = modes[0] + 0.5 * std * rng.standard_normal((30, 2))
    near3 = modes[3] + 0.5 * std * rng.standard_normal((10, 2))
    far = 0.3 * rng.standard_normal((20, 2))  # around the origin, > 0.5 from the unit ring
    samples = np.concatenate([near0, near3, far]).astype(np.float32)
    stats = gan_metrics.mode_statistics(jnp.asarray(samples), jnp.asarray(modes), std)
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
    stats = gan_metrics.mode_statistics(uniform, modes, 0.05)
    assert float(stats["modes"]) == 25 and float(stats["hq"]) == 1.0
    assert abs(float(stats["reverse_kl"])) < 1e-6
    none = gan_metrics.mode_statistics(jnp.full((5, 2), 100.0), modes, 0.05)
    assert float(none["modes"]) == 0 and float(none["hq"]) == 0
    np.testing.assert_allclose(float(none["reverse_kl"]), np.log(25), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one mode"):
        gan_metrics.mode_statistics(uniform, jnp.zeros((0, 2)), 0.05)
    with pytest.raises(ValueError, match="same dim"):
        gan_metrics.mode_statistics(uniform, jnp.zeros((3, 3)), 0.05)
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


def test_variants_are_an_objective_plus_options_with_names_that_say_them():
    k3 = variants.get_variant("unrolled_k3")
    assert (k3.objective, k3.unroll_steps, k3.minibatch_kernels) == ("minimax", 3, 0)
    assert variants.get_variant("unrolled_k0") == variants.get_variant("gan_minimax")
    assert variants.get_variant("gan_nonsaturating_minibatch5").name == "minibatch_discrimination"
    assert variants.get_variant("unrolled_k2_nonsaturating_minibatch4_d3") == variants.GANVariant(
        "unrolled_k2_nonsaturating_minibatch4_d3", "nonsaturating", 2, 4, 3
    )
    # Options replace a preset's and rename it; the names read back to the same variant.
    for preset, options, name in [
        ("unrolled_k5", dict(unroll_steps=10), "unrolled_k10"),
        ("gan_minimax", dict(unroll_steps=5), "unrolled_k5"),
        ("gan_nonsaturating", dict(unroll_steps=3), "unrolled_k3_nonsaturating"),
        ("minibatch_discrimination", dict(minibatch_kernels=0), "gan_nonsaturating"),
        ("gan_minimax", dict(minibatch_kernels=10), "gan_minimax_minibatch10"),
        ("unrolled_k5", dict(), "unrolled_k5"),
        ("wgan_gp", dict(unroll_steps=3, minibatch_kernels=2), "wgan_gp"),  # WGAN keeps its own
    ]:
        variant = variants.get_variant(preset).with_options(**options)
        assert variant.name == name, (preset, options)
        assert variants.get_variant(name) == variant
    assert variants.get_variant("unrolled_k5").with_options() == variants.VARIANTS["unrolled_k5"]
    for bad in ("unrolled_k", "gan_hinge", "unrolled_k5_wgan_gp"):
        with pytest.raises(ValueError, match="unknown GAN variant"):
            variants.get_variant(bad)


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


# (sum of G's params, sum of D's params, gen_loss, disc_loss) of each preset after 3 steps
# of `_setup`'s run from PRNGKey(1): the numbers of the recorded gan_mixture code path,
# key for key. A change here changes every gan_mixture number.
RECORDED_3_STEPS = {
    "gan_minimax": (
        -0.44368308782577515,
        -3.174410104751587,
        -0.7200577855110168,
        0.6701589822769165,
    ),
    "gan_nonsaturating": (
        -0.43860113620758057,
        -3.174433708190918,
        0.6729267835617065,
        0.6701449751853943,
    ),
    "minibatch_discrimination": (
        -0.3971533179283142,
        -2.12021541595459,
        0.0023321714252233505,
        2.9811956882476807,
    ),
    "unrolled_k10": (
        -0.4419507384300232,
        -3.17444109916687,
        -1.228999137878418,
        0.6701825857162476,
    ),
    "unrolled_k5": (
        -0.4340698719024658,
        -3.1744699478149414,
        -1.2760155200958252,
        0.6701703071594238,
    ),
    "unrolled_k5_nonsaturating": (
        -0.42702817916870117,
        -3.1744914054870605,
        0.6765804886817932,
        0.6701529026031494,
    ),
    "wgan_clip": (
        -0.40630125999450684,
        0.0007785819470882416,
        -6.08137997915037e-05,
        -0.00024039720301516354,
    ),
    "wgan_gp": (
        -0.42191463708877563,
        -3.1678407192230225,
        -0.037710294127464294,
        2.480463981628418,
    ),
}


@pytest.mark.parametrize("name", sorted(RECORDED_3_STEPS))
def test_the_one_gan_step_reproduces_every_variants_recorded_numbers(name):
    init, step, _ = _setup(name)
    state = init(jax.random.PRNGKey(1))
    one = jax.jit(step)
    for _ in range(3):
        state, m = one(state, None)

    def total(tree):
        return float(sum(jnp.sum(x) for x in jax.tree.leaves(tree)))

    got = (total(state.params["gen"]), total(state.params["disc"]), m["gen_loss"], m["disc_loss"])
    np.testing.assert_allclose(got, RECORDED_3_STEPS[name], rtol=1e-5, atol=1e-6)


def test_a_loop_batch_and_a_sampler_of_that_batch_give_the_same_step():
    """The two ways real data reach the one step: `step(state, real)` and `sample_data`."""
    gen, disc = gan.Generator(hidden=(8,), out_dim=2), gan.Discriminator(hidden=(8,))
    real = jax.random.normal(jax.random.PRNGKey(5), (16, 2))
    kw = dict(generate=gen.apply, discriminate=disc.apply, gen_optimizer=optax.adam(1e-2),
              disc_optimizer=optax.adam(1e-2), noise_dim=3, disc_steps=2)  # fmt: skip
    state = gan.init_gan_state(
        gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 3))),
        disc.init(jax.random.PRNGKey(1), jnp.zeros((1, 2))),
        kw["gen_optimizer"], kw["disc_optimizer"], jax.random.PRNGKey(2),
    )  # fmt: skip
    from_loop = jax.jit(gan.make_gan_train_step(**kw))
    from_sampler = jax.jit(
        gan.make_gan_train_step(**kw, sample_data=lambda k, n: real, batch_size=16)
    )
    a, b = state, state
    for _ in range(2):
        a, metrics_a = from_loop(a, real)
        b, metrics_b = from_sampler(b, None)
    jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
    assert metrics_a.keys() == metrics_b.keys() >= {"disc_grad_norm", "gen_grad_norm", "d_of_fake"}
    with pytest.raises(ValueError, match="needs sample_data"):
        gan.make_gan_train_step(**kw, unroll_steps=2)
    with pytest.raises(ValueError, match="not WGAN"):
        gan.make_gan_train_step(**kw, objective="wgan_gp", unroll_steps=2)
    with pytest.raises(ValueError, match="unknown objective"):
        gan.make_gan_train_step(**kw, objective="hinge")


def test_vmapped_runs_equal_separate_runs():
    # WGAN-GP's critic loop and penalty nest a grad inside a fori_loop: the step
    # where batching the runs is least trivial. (Loop vs scan of the unrolled loss:
    # tests/test_gan_training.py.)
    init, step, keys = _setup("wgan_gp", num_runs=2)

    def run_step(state):
        return step(state, None)

    multi = jax.jit(train.make_multi_run_step(run_step))
    state = train.stack_runs(init, keys)
    mapped = jax.jit(train.make_multi_run_step(run_step, runs_axis="map"))
    state_map = state
    for _ in range(2):
        state, metrics = multi(state, None)
        state_map, _ = mapped(state_map, None)
    assert float(metrics["num_diverged"]) == 0
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
        state.params, state_map.params,
    )  # fmt: skip
    one = jax.jit(run_step)
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
        state, _ = jax.jit(step)(state, None)
    leaves = jax.tree_util.tree_leaves(state.params["disc"])
    assert max(float(jnp.max(jnp.abs(x))) for x in leaves) <= 0.01 + 1e-7


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
    config.snapshot_every = 2
    config.snapshot_samples = 100
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
    assert "ring_gan_nonsaturating_modes_visited_mean" in merged
    assert "ring_wgan_gp_success_rate_half" in merged
    for figure in ("stability", "samples", "modes_over_training", "stability_over_training"):
        assert (tmp_path / "merged" / f"{figure}.png").exists(), figure


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
        ("variants", ("gan_typo",), "unknown GAN variant 'gan_typo'"),
        ("datasets", ("spiral",), "unknown dataset 'spiral'"),
        ("num_seeds", 0, "num_seeds"),
        ("w1_samples", 5000, "w1_samples"),
        ("disc_hidden", (), "disc_hidden"),
        ("stability_disc_depths", (0,), "stability_disc_depths"),
        ("runs_axis", "pmap", "runs_axis"),
        ("activation", "gelu", "activation"),
        ("stability_methods", ("unrolled_k5",), "stability_methods"),
        ("stability_methods", (), "stability_methods"),
        ("unroll_steps", -1, "unroll_steps"),
        ("minibatch_kernels", -2, "minibatch_kernels"),
        ("variants", ("unrolled_k", "wgan_gp"), "unknown GAN variant 'unrolled_k'"),
        ("variants", ("gan_minimax", "unrolled_k0"), "the same variant twice"),
        ("sweep", "seed:1,2", "cannot vary 'seed'"),
        ("sweep", "unroll_steps", "FIELD:V1"),
        ("sweep", "unroll_steps:1,-1", "unroll_steps must be None or an int >= 0"),
        ("sweep", "noise_dim:4,4", "repeats"),
        ("sweep", "noise_dim:0.5", "noise_dim"),
        ("adam_beta2", 1.5, "adam_beta2"),
        ("gan_update", "joint", "gan_update"),
        ("gen_batch", "same", "gen_batch"),
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


@pytest.mark.parametrize("field, value", [("gan_update", "simultaneous"), ("gen_batch", "shared")])
def test_one_batch_per_step_options_refuse_variants_with_several_d_steps(tmp_path, field, value):
    from experiments import gan_mixture

    config = _tiny_config()
    config.variants = ("gan_minimax", "wgan_gp")
    config[field] = value
    with pytest.raises(common.ConfigError, match=f"{field}='{value}' needs one D step.*wgan_gp"):
        gan_mixture.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_run_keys_come_from_the_runs_names(tmp_path, monkeypatch):
    """A run's keys: the CRC-32 of 'dataset/variant' folded into the root (as recorded),
    so the same in any subset or order of a config's datasets and variants."""
    from experiments import gan_mixture

    monkeypatch.setattr(
        gan_mixture, "train_runs", lambda v, m, s, c, keys, w, snapshot_key=None: (None, keys, None)
    )
    monkeypatch.setattr(gan_mixture, "score_runs", lambda g, keys, m, s, c, key, h: (keys, key))
    config = _tiny_config()
    root = jax.random.PRNGKey(0)
    variant = variants.get_variant("wgan_gp")
    keys, eval_key = gan_mixture._train_and_score(variant, "ring", None, 0.01, config, root,
                                                  None, tmp_path)  # fmt: skip
    run_key = jax.random.fold_in(root, zlib.crc32(b"ring/wgan_gp") & 0x7FFFFFFF)
    np.testing.assert_array_equal(keys, jax.random.split(run_key, config.num_seeds))
    np.testing.assert_array_equal(eval_key, jax.random.fold_in(run_key, 1))


def test_a_sweep_trains_every_variant_at_every_value(tmp_path, monkeypatch):
    from experiments import gan_mixture

    trained = []

    def fake_train_and_score(variant, dataset, modes, std, config, root, held_out, workdir):
        trained.append((dataset, variant.name, config.unroll_steps, workdir.name))
        n = config.num_seeds
        stats = {k: np.full(n, float(variant.unroll_steps)) for k in ("modes", "hq", "w1")}
        samples = np.zeros((n, 3, 2))
        return {**stats, "reverse_kl": np.zeros(n), "counts": np.zeros((n, 8)), "samples": samples}

    monkeypatch.setattr(gan_mixture, "_train_and_score", fake_train_and_score)
    config = _tiny_config()
    config.variants = ("unrolled_k5", "wgan_gp")
    config.sweep = "unroll_steps:0,1,10"
    metrics = gan_mixture.train_and_evaluate(config, tmp_path)
    assert [t[1:] for t in trained] == [
        ("gan_minimax", 0, "ring_gan_minimax_unroll_steps0"),
        ("wgan_gp", 0, "ring_wgan_gp_unroll_steps0"),
        ("unrolled_k1", 1, "ring_unrolled_k1_unroll_steps1"),
        ("wgan_gp", 1, "ring_wgan_gp_unroll_steps1"),
        ("unrolled_k10", 10, "ring_unrolled_k10_unroll_steps10"),
        ("wgan_gp", 10, "ring_wgan_gp_unroll_steps10"),
    ]
    assert metrics["ring_unrolled_k10_unroll_steps10_modes_mean"] == 10.0
    assert gan_mixture.parse_sweep("gen_hidden:(8,),(16, 16)") == ("gen_hidden", [(8,), (16, 16)])
    assert gan_mixture.parse_sweep("activation:relu,tanh") == ("activation", ["relu", "tanh"])
    suffixes = [s for s, _ in gan_mixture.sweep_points(config)]
    assert suffixes == ["_unroll_steps0", "_unroll_steps1", "_unroll_steps10"]
    config.sweep = "gen_learning_rate:1e-4,1e-3"
    points = gan_mixture.sweep_points(config)
    assert [(s, p.gen_learning_rate) for s, p in points] == [
        ("_gen_learning_rate0.0001", 1e-4), ("_gen_learning_rate0.001", 1e-3)
    ]  # fmt: skip


def test_unroll_steps_from_the_command_line(tmp_path):
    """`--config.unroll_steps=3` trains the quick profile's GANs with k = 3 (WGAN-GP as is)."""
    root = Path(__file__).resolve().parents[1]
    workdir = tmp_path / "run"
    args = [
        sys.executable, "-m", "experiments.gan_mixture", f"--workdir={workdir}",
        "--config=experiments/configs/gan_mixture.py:quick", "--config.unroll_steps=3",
        "--config.num_steps=2", "--config.num_seeds=1", "--config.log_every=1",
        "--config.gen_hidden=(8,)", "--config.disc_hidden=(8,)", "--config.eval_samples=40",
        "--config.w1_samples=20", "--config.batch_size=16",
        "--config.unroll_use_scan=True",  # compiles in a third of the Python loop's time
    ]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    for name in ("unrolled_k3_nonsaturating", "unrolled_k3", "wgan_gp"):
        assert np.isfinite(metrics[f"ring_{name}_modes_mean"]), name
    assert json.loads((workdir / "config.json").read_text())["unroll_steps"] == 3


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
    rows = [  # (variant, depth, lr, seed, modes, hq, success)
        ("gan_minimax", 1, 1e-3, 0, 8, 0.7, True), ("gan_minimax", 2, 1e-3, 0, 2, 0.9, False),
        ("gan_nonsaturating", 1, 1e-3, 0, 6, 0.8, False),
        ("gan_nonsaturating", 2, 1e-3, 0, 7, 0.5, True),
        ("wgan_gp", 1, 1e-3, 0, 8, 0.6, True), ("wgan_gp", 2, 1e-3, 0, 8, 0.6, True),
    ]  # fmt: skip
    metrics = gan_metrics.stability_metrics(rows)
    assert metrics == {
        "ring_gan_minimax_success_rate": 0.5, "ring_gan_nonsaturating_success_rate": 0.5,
        "ring_wgan_gp_success_rate": 1.0, "ring_gan_success_rate": 0.5,
        "stability_runs_per_method": 2.0,
    }  # fmt: skip
    only_gp = gan_metrics.stability_metrics(rows[4:])
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
