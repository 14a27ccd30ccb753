"""Every figure the experiments draw, on small synthetic inputs, is fit for a paper.

Each case calls one experiment's figure function(s); the figures are caught as they
pass through `common.save_figure` (and saved to tmp_path). A figure passes if every
axes that shows data has x and y labels (its own, a shared axis's, or the figure's),
or is a picture with a title or in a grid with labelled rows and columns; several
labelled series come with a legend and colour-mapped data with a colour bar; no title
has an underscore; no text is under `plotting.MIN_FONT_PT`; and the saved PNG is at
most the text width wide.
"""

from __future__ import annotations

import json
import re
import struct
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from experiments import (  # noqa: E402
    ae_latent_space,
    common,
    gan_mixture,
    gan_mnist,
    gan_theory,
    likelihood_estimators,
    long_range,
    music,
    pca_vs_linear_ae,
    plotting,
    rnn_gradients,
    sequence_tasks,
    tbptt_window,
    vae_mnist,
)
from experiments.configs import sequence_tasks as sequence_tasks_config  # noqa: E402
from genjax.data import mixtures  # noqa: E402

RNG = np.random.default_rng(0)
GRAY_MAPS = {"gray", "gray_r", "Greys", "Greys_r", "binary", "binary_r"}


def _images(*shape):
    return RNG.random(shape).astype(np.float32)


# ----------------------------------------------------------------------------- cases
# Each draws its figures into `workdir` through `common.save_figure`.


def _stability(workdir):
    methods, depths, lrs = ("gan_minimax", "gan_nonsaturating", "wgan_gp"), (1, 2), (1e-4, 1e-3)
    rows = [
        (m, d, lr, seed, float(RNG.integers(4, 9)), float(RNG.random()), bool(RNG.random() < 0.5))
        for m in methods
        for d in depths
        for lr in lrs
        for seed in range(2)
    ]
    common.plot_stability(rows, methods, depths, lrs, workdir)


def _gan_mixture_samples(workdir):
    results = {}
    names = ("gan_nonsaturating", "unrolled_k5", "unrolled_k3_minibatch5_d2", "wgan_gp")
    for dataset in ("ring", "grid"):
        modes, std = mixtures.load_mixture(dataset)
        modes = np.asarray(modes)
        data = modes[RNG.integers(0, len(modes), 200)] + std * RNG.standard_normal((200, 2))
        runs = {
            n: {
                "samples": data[None, :100] + 0.1 * RNG.standard_normal((2, 100, 2)),
                "modes": np.array([7.0, 8.0]),
                "hq": np.array([0.7, 0.86]),
            }
            for n in names
        }
        results[dataset] = {"modes": modes, "data": data, "runs": runs}
    gan_mixture._plot_samples(results, workdir)


def _gan_mnist(workdir):
    names = ("gan_nonsaturating", "wgan_gp")
    samples = {n: _images(64, 28, 28) for n in names}
    judged = {
        n: {
            "class_histogram_kl": 0.05,
            "classifier_confidence": 0.9,
            "counts": RNG.integers(1, 20, 10),
        }
        for n in names
    }
    gan_mnist._plot(samples, judged, workdir)


def _gan_theory(workdir):
    d = np.linspace(1e-3, 1 - 1e-3, 50)
    fig = gan_theory._gradients_figure(d, 1 / (1 - d), 1 / d)
    common.save_figure(fig, workdir, "generator_gradients")
    curves = {
        name: {
            "d_of_fake": [(0, 1e-3), (10, 0.01), (20, 0.2)],
            "g_mean": [(0, -4), (10, -2), (20, 0)],
        }
        for name in ("sgd_saturating", "sgd_nonsaturating", "adam_saturating", "adam_nonsaturating")
    }
    common.save_figure(gan_theory._saturation_figure(curves, 0.0), workdir, "saturation_runs")
    x = np.linspace(-5, 6, 100)
    p, q = np.exp(-(x**2) / 2), np.exp(-((x - 1.5) ** 2) / 1.0)
    fig = gan_theory._dstar_figure(x, p, q, p / (p + q), p / (p + q) + 0.01, (p + q) > 0.1)
    common.save_figure(fig, workdir, "optimal_discriminator")
    thetas = np.array([-1.0, -0.5, 0.5, 1.0])
    fig = gan_theory._parallel_lines_figure(thetas, [np.log(2)] * 4, np.abs(thetas), np.abs(thetas))
    common.save_figure(fig, workdir, "parallel_lines")


def _likelihood_estimators(workdir):
    config = types.SimpleNamespace(
        latent_dims=(2, 8), target_error_nats=1.0, data_dim=16, proposal="mean_field"
    )
    ns = [1, 10, 100]
    curves = {
        (e, d): (ns, RNG.random(3) * 10, RNG.random(3))
        for e in likelihood_estimators.ESTIMATORS
        for d in config.latent_dims
    }
    fig = likelihood_estimators._error_figure(curves, config)
    common.save_figure(fig, workdir, "estimator_error")


def _long_range(workdir):
    groups = []
    for name in ("adding_T50_lstm", "adding_T50_lstm_tbptt", "copy_T50_gru", "copy_T50_tanh"):
        d = Path(workdir) / "groups" / name
        d.mkdir(parents=True)
        records = [{"step": s, "split": "train", "loss": 1.0 / (s + 1)} for s in (0, 10, 20)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        groups.append(d)
    assert long_range.plot_training_curves(groups, workdir) is not None


def _tbptt_window(workdir):
    from experiments.configs import tbptt_window as tbptt_window_config

    config = tbptt_window_config.get_config("quick")
    steps = np.array([50, 100, 150])
    per_window = {k: RNG.random((3, config.num_seeds)) * 0.2 for k in config.windows}
    tbptt_window.plot(config, steps, per_window, workdir)


def _music(workdir):
    curves = {
        c: [{"step": s, "valid_nll": 10.0 - s / 10} for s in (0, 10, 20)] for c in ("tanh", "lstm")
    }
    music._plot_curves(curves, 12.0, "standard file JSB_Chorales", workdir, "valid_curves")
    rolls = RNG.random((2, 12, 88)) < 0.05
    music._plot_rolls(rolls[:, :6], rolls[:, 6:], rolls[:, 6:], "music21_chorales", "lstm",
                      workdir, "piano_roll")  # fmt: skip


def _pca_vs_linear_ae(workdir):
    k = 4
    bases = {"tied": RNG.standard_normal((k, 784)), "untied": RNG.standard_normal((k, 784))}
    fig = pca_vs_linear_ae._components_figure(RNG.standard_normal((k, 784)), bases, k)
    common.save_figure(fig, workdir, "components")
    curves = {
        (v, kk): [{"step": s, "max_principal_angle_deg": 90.0 / (s + 1)} for s in (0, 10, 20)]
        for v in ("tied", "untied")
        for kk in (2, 8)
    }
    common.save_figure(pca_vs_linear_ae._angles_figure(curves), workdir, "principal_angles")


def _rnn_gradients(workdir):
    lags = np.arange(21)
    curves = {
        name: np.exp(-0.1 * lags)
        for name in (
            "tanh rho=0.9",
            "tanh rho=1.1",
            "LSTM (forget bias 1.0)",
            "tanh rho=1.0, LSTM inputs",
        )  # fmt: skip
    }
    fig = rnn_gradients._grad_norms_figure(lags, curves)
    common.save_figure(fig, workdir, "grad_norms_vs_lag")


def _sequence_tasks(workdir):
    records = {
        "mnist": ["row_mnist", "row_mnist_stacked", "image_to_word"],
        "tagging": ["uni", "bi"],
        "seq2seq": ["addition", "reversal"],
    }
    histories = {
        g: [{"step": s, **{f"loss_{n}": 1.0 / (s + 1) for n in names}} for s in (0, 10, 20)]
        for g, names in records.items()
    }
    sequence_tasks._plot_curves(histories, workdir)
    config = sequence_tasks_config.get_config("quick")
    n = config.num_examples
    key = jax.random.PRNGKey(0)
    tagging = sequence_tasks._tagging_batch(config, key, n)
    addition = sequence_tasks._addition_batch(config, key, n, split="test")
    reversal = sequence_tasks._reversal_batch(config, key, n)
    examples = {
        "row_mnist": list(range(n)),
        "image_to_word": ["zero", "one", "two", "three", "four", "five"][:n],
        "tagging_uni": np.asarray(tagging.tags),
        "tagging_bi": np.asarray(tagging.tags),
        "addition": np.asarray(addition.targets),
        "reversal": np.asarray(reversal.targets),
    }
    mnist_test = (_images(n, 28, 28), np.arange(n))
    sequence_tasks._plot_examples(
        config, mnist_test, (tagging, addition, reversal), examples, workdir
    )


def _vae_mnist(workdir):
    fig = vae_mnist._reconstructions_figure(_images(32, 784), _images(32, 784))
    common.save_figure(fig, workdir, "reconstructions")
    digits = {n: _images(8, 8, 8, 8) for n in ("gaussian", "gaussian_learned", "categorical")}
    fig = vae_mnist._prior_samples_figure(_images(64, 784), _images(64, 784), digits, 20)
    common.save_figure(fig, workdir, "prior_samples")
    codes = {"VAE": RNG.standard_normal((100, 2)), "plain AE": RNG.standard_normal((100, 2))}
    grids = {name: _images(3, 3, 28, 28) for name in codes}
    labels = RNG.integers(0, 10, 100)
    fig = vae_mnist._manifold_figure(codes, grids, labels, (-2, -2), (2, 2), 3)
    common.save_figure(fig, workdir, "latent_manifold")


def _ae_latent_space(workdir):
    def dim_figures(dim):
        return {
            "lines": _images(8, 6, 28, 28),
            "gaussian": _images(16, 28, 28),
            "outside": _images(16, 28, 28),
            "test_codes": RNG.standard_normal((100, dim)),
            "decode": lambda z: jnp.zeros((z.shape[0], 28, 28)) + jnp.tanh(z[:, :1, None]),
        }

    figures = {2: dim_figures(2), 16: dim_figures(16)}
    config = types.SimpleNamespace(grid_size=3)
    ae_latent_space._plot(figures, RNG.integers(0, 10, 100), config, workdir)


CASES = {
    "stability": (_stability, {"stability"}),
    "gan_mixture": (_gan_mixture_samples, {"samples"}),
    "gan_mnist": (_gan_mnist, {"samples", "class_histograms"}),
    "gan_theory": (
        _gan_theory,
        {"generator_gradients", "saturation_runs", "optimal_discriminator", "parallel_lines"},
    ),
    "likelihood_estimators": (_likelihood_estimators, {"estimator_error"}),
    "long_range": (_long_range, {"training_curves"}),
    "tbptt_window": (_tbptt_window, {"window_sweep"}),
    "music": (_music, {"valid_curves", "piano_roll"}),
    "pca_vs_linear_ae": (_pca_vs_linear_ae, {"components", "principal_angles"}),
    "rnn_gradients": (_rnn_gradients, {"grad_norms_vs_lag"}),
    "sequence_tasks": (_sequence_tasks, {"training_curves", "examples"}),
    "vae_mnist": (_vae_mnist, {"reconstructions", "prior_samples", "latent_manifold"}),
    "ae_latent_space": (_ae_latent_space, {"latent_plane", "interpolations", "samples"}),
}


# ----------------------------------------------------------------------------- checks


def _is_colorbar(ax) -> bool:
    return getattr(ax, "_colorbar", None) is not None


def _shows_data(ax) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images)


def _labelled(ax, axis: str) -> bool:
    """Its own label, a shared axis's, or the figure's sup-label."""
    fig = ax.get_figure(root=True)
    get = f"get_{axis}label"
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    sup = getattr(fig, f"_sup{axis}label", None)
    return bool(
        getattr(ax, get)()
        or any(getattr(s, get)() for s in shared.get_siblings(ax))
        or (sup is not None and sup.get_text())
    )


def _in_labelled_grid(ax) -> bool:
    """A picture in a grid whose row has a y label and whose column a title or x label."""
    spec = ax.get_subplotspec()
    if spec is None:
        return False
    others = [o for o in ax.get_figure(root=True).axes if o.get_subplotspec() is not None]
    same = [o for o in others if o.get_subplotspec().get_gridspec() is spec.get_gridspec()]
    row = [o for o in same if o.get_subplotspec().rowspan == spec.rowspan]
    col = [o for o in same if o.get_subplotspec().colspan == spec.colspan]
    return any(o.get_ylabel() for o in row) and any(o.get_title() or o.get_xlabel() for o in col)


def _titles(fig) -> list[str]:
    out = [fig.get_suptitle()]
    for ax in fig.axes:
        out += [ax.get_title(loc=loc) for loc in ("left", "center", "right")]
    return [t for t in out if t]


def _labelled_series(ax) -> list[str]:
    handles, labels = ax.get_legend_handles_labels()
    return labels


def _colour_mapped(ax) -> bool:
    mapped = [c for c in ax.collections if c.get_array() is not None and c.get_array().size]
    images = [im for im in ax.images if im.get_cmap().name not in GRAY_MAPS]
    return bool(mapped or images)


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def _problems(name: str, fig, path: Path) -> list[str]:
    problems = []
    axes = [ax for ax in fig.axes if not _is_colorbar(ax)]
    has_colorbar = any(_is_colorbar(ax) for ax in fig.axes)
    for i, ax in enumerate(axes):
        where = f"{name} axes {i} ({ax.get_title()!r})"
        if not _shows_data(ax):
            continue
        if not (_labelled(ax, "x") and _labelled(ax, "y")):
            picture = ax.images and not ax.lines and not ax.collections
            if not (picture and (ax.get_title() or _in_labelled_grid(ax))):
                problems.append(f"{where}: no x or y label")
        if len(_labelled_series(ax)) > 1 and ax.get_legend() is None and not fig.legends:
            problems.append(f"{where}: several series and no legend")
        if _colour_mapped(ax) and not has_colorbar:
            problems.append(f"{where}: colour-mapped data and no colour bar")
        for label in _labelled_series(ax):
            if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", label):
                problems.append(f"{where}: legend entry in code: {label!r}")
    for title in _titles(fig):
        if "_" in title:
            problems.append(f"{name}: underscore in title {title!r}")
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip():
            if text.get_fontsize() < plotting.MIN_FONT_PT:
                problems.append(f"{name}: {text.get_text()!r} at {text.get_fontsize()} pt")
    width = _png_size(path)[0] / plotting.DPI  # nothing spills past the set width
    if width > min(fig.get_figwidth(), plotting.TEXT_WIDTH) + 0.15:
        problems.append(f"{name}: {width:.2f} in wide, set {fig.get_figwidth():.2f} in")
    return problems


@pytest.fixture
def caught(monkeypatch):
    """The (name, figure, path) of each figure `common.save_figure` saves."""
    saved = []
    save = common.save_figure

    def catch(fig, workdir, name):
        path = save(fig, workdir, name)
        saved.append((name, fig, path))
        return path

    monkeypatch.setattr(common, "save_figure", catch)
    return saved


@pytest.mark.parametrize("case", sorted(CASES))
def test_figures_are_fit_for_a_paper(case, caught, tmp_path):
    draw, names = CASES[case]
    draw(tmp_path)
    assert {name for name, _, _ in caught} == names
    problems = [p for name, fig, path in caught for p in _problems(f"{case}/{name}", fig, path)]
    assert not problems, "\n".join(problems)


def test_words_and_variant_names():
    assert plotting.gan_variant("gan_nonsaturating") == "non-saturating GAN"
    assert "minibatch discrimination (5 kernels)" in plotting.gan_variant(
        "unrolled_k3_minibatch5_d2"
    )
    swept = plotting.gan_variant("unrolled_k5_gen_learning_rate0.001")
    assert swept.startswith("unrolled GAN") and "gen learning rate = 0.001" in swept
    assert "_" not in plotting.words("some_code_name")
    assert plotting.words("lstm", plotting.RNN_CELLS) == "LSTM"


def test_style_is_readable():
    for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
                "ytick.labelsize", "legend.fontsize", "figure.titlesize"):  # fmt: skip
        assert plotting.STYLE[key] >= plotting.MIN_FONT_PT, key
    fig, ax = plotting.figure()
    assert tuple(fig.get_size_inches()) == pytest.approx(
        (plotting.COLUMN_WIDTH, 0.75 * plotting.COLUMN_WIDTH)
    )
    assert matplotlib.rcParams["savefig.dpi"] == plotting.DPI
    matplotlib.pyplot.close(fig)
