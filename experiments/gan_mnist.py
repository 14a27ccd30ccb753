"""GANs on MNIST (2.4, 2.5): which digits do the samples cover, and do they look like digits?

A non-saturating GAN and a WGAN-GP (`genjax.gan.variants`) learn the 4,000
training digits (pixels scaled to [-1, 1], a tanh output layer), MLP generator
and discriminator/critic. The judge is the library's MLP digit classifier
(`genjax.classifier`) trained on the same split; on `num_samples` generated digits
per variant it measures:

- `{variant}_class_histogram_kl`: KL(histogram of predicted classes || uniform)
  (`genjax.gan.metrics.class_histogram_kl`),
  nats: 0 when the ten digits appear equally often, log 10 = 2.30 when one digit
  is all there is (mode coverage over the ten digits);
- `{variant}_classifier_confidence`: mean max-softmax (how digit-like the
  samples are); `{variant}_classes_covered`: classes with >= 1% of the samples.

The real test digits give the reference (`real_...`). Figures: `samples.png`
(a grid per variant), `class_histograms.png`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from genjax import classifier as clf_lib
from genjax import data, gan, train
from genjax.gan import variants
from genjax.gan.metrics import class_histogram_kl

log = logging.getLogger("genjax")

SUPPORTED = ("gan_minimax", "gan_nonsaturating", "wgan_gp")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "num_steps", "batch_size", "noise_dim", "gan_learning_rate",
        "wgan_gp_learning_rate", "classifier_num_steps", "classifier_learning_rate",
        "num_samples", "log_every",
    )  # fmt: skip
    if not config.variants or any(v not in SUPPORTED for v in config.variants):
        raise common.ConfigError(f"config.variants must be a non-empty subset of {SUPPORTED}")
    for name in ("gen_hidden", "disc_hidden", "classifier_hidden"):
        widths = config[name]
        if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
            raise common.ConfigError(f"config.{name} must be positive integers, got {widths}")
    if config.gp_weight < 0:
        raise common.ConfigError(f"config.gp_weight must be >= 0, got {config.gp_weight}")
    if not 0 <= config.leaky_slope < 1:
        raise common.ConfigError(f"config.leaky_slope must be in [0, 1), got {config.leaky_slope}")


def _optimizers(variant, config):
    if variant.is_wgan:
        adam = optax.adam(config.wgan_gp_learning_rate, b1=0.5, b2=0.9)
        return adam, adam
    adam = optax.adam(config.gan_learning_rate, b1=0.5)
    return adam, adam


def _train_variant(variant, images, config, key, workdir):
    """Trains one variant; returns (sample(key, n) -> images in [0, 1], seconds)."""
    act = functools.partial(nn.leaky_relu, negative_slope=config.leaky_slope)
    gen = gan.Generator(hidden=tuple(config.gen_hidden), out_dim=images.shape[1], activation=act)
    disc = gan.Discriminator(hidden=tuple(config.disc_hidden), activation=act)
    gen_opt, disc_opt = _optimizers(variant, config)
    real = jnp.asarray(images) * 2.0 - 1.0  # [-1, 1]

    def generate(params, noise):
        return jnp.tanh(gen.apply(params, noise))

    def sample_data(k, n):
        return real[jax.random.randint(k, (n,), 0, real.shape[0])]

    g_key, d_key, run_key = jax.random.split(key, 3)
    state = gan.init_gan_state(
        gen.init(g_key, jnp.zeros((1, config.noise_dim))),
        disc.init(d_key, jnp.zeros((1, real.shape[1]))),
        gen_opt, disc_opt, run_key,
    )  # fmt: skip
    step = variants.make_variant_step(
        variant, generate=generate, discriminate=disc.apply, gen_optimizer=gen_opt,
        disc_optimizer=disc_opt, sample_data=sample_data, noise_dim=config.noise_dim,
        batch_size=config.batch_size, gp_weight=config.gp_weight,
    )  # fmt: skip
    t0 = time.perf_counter()
    result = train.train(
        state, step, lambda s: None, config.num_steps,
        workdir=workdir / variant.name, log_every=config.log_every,
        checkpoint_every_secs=config.checkpoint_every_secs, tensorboard=False,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    gen_params = result.state.params["gen"]

    @functools.partial(jax.jit, static_argnums=1)
    def sample(k, n):
        noise = jax.random.normal(k, (n, config.noise_dim))
        return (generate(gen_params, noise) + 1.0) / 2.0

    return sample, seconds


def _judge(classify, images) -> dict[str, float | np.ndarray]:
    probs = np.asarray(classify(jnp.asarray(images)))
    labels = probs.argmax(-1)
    counts = np.bincount(labels, minlength=10)
    return {
        "class_histogram_kl": class_histogram_kl(labels),
        "classifier_confidence": float(probs.max(-1).mean()),
        "classes_covered": float(np.sum(counts >= 0.01 * len(labels))),
        "counts": counts,
    }


def _plot(samples: dict[str, np.ndarray], judged: dict[str, dict], workdir: Path) -> None:
    from experiments import plotting

    names = list(samples)
    width = plotting.TEXT_WIDTH if len(names) > 1 else plotting.COLUMN_WIDTH
    side = width / len(names)
    fig, axes = plotting.figure(1, len(names), width=width, height=side + 0.6, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        grid = samples[name][:64].reshape(8, 8, 28, 28).transpose(0, 2, 1, 3).reshape(224, 224)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        plotting.image_panel(ax)
        j = judged[name]
        ax.set_title(f"{plotting.gan_variant(name)}\n"
                     f"KL of the class histogram to uniform: {j['class_histogram_kl']:.3f} nats\n"
                     f"mean classifier confidence: {j['classifier_confidence']:.2f}")  # fmt: skip
    common.save_figure(fig, workdir, "samples")
    fig, ax = plotting.figure(width=plotting.COLUMN_WIDTH, height=2.6)
    width = 0.8 / len(judged)
    for i, (name, j) in enumerate(judged.items()):
        freq = j["counts"] / j["counts"].sum()
        ax.bar(np.arange(10) + (i - (len(judged) - 1) / 2) * width, freq, width,
               label=plotting.gan_variant(name))  # fmt: skip
    ax.axhline(0.1, color="gray", ls="--", lw=1, label="uniform (0.1)")
    ax.set_xticks(range(10))
    ax.grid(axis="x", visible=False)
    ax.set_xlabel("digit class the judge assigns")
    ax.set_ylabel("fraction of samples")
    plotting.set_title(ax, "Which digits do the generators produce?")
    ax.legend()
    common.save_figure(fig, workdir, "class_histograms")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains the judge and each variant; writes metrics.json, config.json and figures."""
    validate_config(config)
    train_set, test_set = data.load_mnist("train"), data.load_mnist("test")
    common.require_batch_fits(config.batch_size, train_set.num_examples, "MNIST's training set")
    workdir = common.prepare_workdir(workdir, config)
    key = jax.random.PRNGKey(config.seed)
    k_clf, k_clf_data, k_gan, k_sample = jax.random.split(key, 4)
    metrics: dict[str, float] = {}

    clf = clf_lib.Classifier(tuple(config.classifier_hidden))
    clf_params = clf.init(k_clf, jnp.zeros((1, 28, 28)))
    clf_state = common.fit_adam(
        clf_lib.classifier_loss(clf), clf_params, config.classifier_learning_rate, k_clf,
        k_clf_data, {"image": train_set.images, "label": train_set.labels}, config,
        config.classifier_num_steps, workdir / "classifier",
    )  # fmt: skip
    classify = jax.jit(functools.partial(clf_lib.predict_proba, clf, clf_state.params))
    test_probs = classify(jnp.asarray(test_set.images))
    metrics["classifier_test_accuracy"] = float(clf_lib.accuracy(test_probs, test_set.labels))
    judged = {"real (test split)": _judge(classify, test_set.images)}
    samples = {"real (test split)": test_set.images.reshape(-1, 784)}
    for name, value in judged["real (test split)"].items():
        if name != "counts":
            metrics[f"real_{name}"] = value

    flat = train_set.flat()
    for i, name in enumerate(config.variants):
        variant = variants.get_variant(name)
        log.info("training %s (%d generator steps)", name, config.num_steps)
        sample, seconds = _train_variant(variant, flat, config, jax.random.fold_in(k_gan, i),
                                         workdir)  # fmt: skip
        images = np.asarray(sample(jax.random.fold_in(k_sample, i), config.num_samples))
        judged[name] = _judge(classify, images.reshape(-1, 28, 28))
        samples[name] = images
        for stat, value in judged[name].items():
            if stat != "counts":
                metrics[f"{name}_{stat}"] = value
        metrics[f"seconds_{name}"] = seconds
        j = judged[name]
        log.info("%s: KL to uniform %.3f (max log 10 = %.2f), confidence %.3f, %d classes",
                 name, j["class_histogram_kl"], math.log(10), j["classifier_confidence"],
                 j["classes_covered"])  # fmt: skip
    _plot(samples, judged, workdir)
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
