"""The shared look of the experiments' figures, and the words their labels use.

Every figure function starts with `figure(...)`, which applies `STYLE` (font sizes of
at least `MIN_FONT_PT` at the saved size, line widths, a light grid, `DPI`) and sizes
the figure for a paper: `COLUMN_WIDTH` (one column) or `TEXT_WIDTH` (both columns),
so the saved text is read at its set size. Names from the code (variants, cells,
estimators) reach titles and legends through the dicts below (`words`), never as is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
TEXT_WIDTH = 7.0  # inches: the full text width
MIN_FONT_PT = 8  # no text smaller, at the saved size
DPI = 300  # what `common.save_figure` writes

STYLE: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "figure.titlesize": 10,
    "figure.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "legend.borderaxespad": 0.3,
    "lines.linewidth": 1.3,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
    "axes.linewidth": 0.7,
    "axes.titlepad": 4,
    "axes.labelpad": 2,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "xtick.major.width": 0.7,
    "ytick.major.width": 0.7,
    "xtick.minor.width": 0.5,
    "ytick.minor.width": 0.5,
    "image.interpolation": "nearest",
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
}


def apply_style() -> None:
    """Sets `STYLE` in matplotlib's rcParams (the figures are drawn and saved under it)."""
    import matplotlib

    matplotlib.rcParams.update(STYLE)


def figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float = COLUMN_WIDTH,
    height: float | None = None,
    panels: bool = True,
    **subplots_kw,
):
    """A new figure in `STYLE`, `width` x `height` inches, with constrained layout.

    Args:
      nrows, ncols, subplots_kw: as `plt.subplots` (e.g. squeeze=False, sharey=True).
      height: default 0.75 x width for one panel, else each panel's share of `width`, square.
      panels: False gives the bare figure (for a figure laid out with its own gridspec).

    Returns:
      (fig, axes), or fig where `panels` is False.
    """
    import matplotlib.pyplot as plt

    apply_style()
    if height is None:
        height = 0.75 * width if nrows == ncols == 1 else width * nrows / ncols
    fig = plt.figure(figsize=(width, height), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.03, hspace=0.03)
    if not panels:
        return fig
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def wrap(text: str, inches: float, size: float = STYLE["axes.titlesize"]) -> str:
    """`text` broken into lines that fit `inches` at `size` pt (its own line breaks kept)."""
    import textwrap

    chars = max(8, int(inches * 72 / (0.52 * size)))
    return "\n".join(
        textwrap.fill(line, chars, break_on_hyphens=False) for line in text.split("\n")
    )


def set_title(ax, text: str, **kw) -> None:
    """`ax.set_title(text)`, its lines wrapped to the axes' width."""
    size = kw.get("fontsize", STYLE["axes.titlesize"])
    fig_width = ax.get_figure(root=True).get_figwidth()
    spec = ax.get_subplotspec()
    if spec is None:
        inches = ax.get_position().width * fig_width
    else:  # the axes' share of the figure's width, less the labels' room
        _, ncols = spec.get_geometry()[:2]
        share = len(spec.colspan) / ncols
        inches = fig_width * share - (0.5 if share == 1 else 0.15)
    ax.set_title(wrap(text, inches, size), **kw)


def suptitle(fig, text: str, **kw) -> None:
    """`fig.suptitle(text)`, its lines wrapped to the figure's width."""
    size = kw.get("fontsize", STYLE["figure.titlesize"])
    fig.suptitle(wrap(text, fig.get_figwidth() - 0.1, size), **kw)


def image_panel(ax, *, frame: bool = False) -> None:
    """An axes that shows a picture: no grid, no ticks; no frame unless `frame`."""
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    if not frame:
        for spine in ax.spines.values():
            spine.set_visible(False)


def digit_colorbar(fig, mappable, ax, **kw):
    """The colour bar of a scatter coloured by digit class (tab10, vmin -0.5, vmax 9.5)."""
    bar = fig.colorbar(mappable, ax=ax, ticks=range(10), **kw)
    bar.set_label("digit class")
    bar.ax.tick_params(length=0)
    return bar


# ----------------------------------------------------------------------------- names -> words

# genjax.gan.variants' presets.
GAN_VARIANTS = {
    "gan_minimax": "minimax GAN",
    "gan_nonsaturating": "non-saturating GAN",
    "unrolled_k5": "unrolled GAN, 5\N{NO-BREAK SPACE}steps",
    "unrolled_k10": "unrolled GAN, 10\N{NO-BREAK SPACE}steps",
    "unrolled_k5_nonsaturating": "unrolled non-saturating GAN, 5\N{NO-BREAK SPACE}steps",
    "minibatch_discrimination": "minibatch discrimination",
    "wgan_clip": "WGAN, weight clipping",
    "wgan_gp": "WGAN-GP",
}
GAN_OBJECTIVES = {
    "minimax": "minimax GAN",
    "nonsaturating": "non-saturating GAN",
    "wgan_clip": "WGAN, weight clipping",
    "wgan_gp": "WGAN-GP",
}
# gan_theory's generator runs: optimizer and generator loss.
GAN_THEORY_RUNS = {
    "sgd_saturating": "SGD, saturating loss",
    "sgd_nonsaturating": "SGD, non-saturating loss",
    "adam_saturating": "Adam, saturating loss",
    "adam_nonsaturating": "Adam, non-saturating loss",
}
MIXTURES = {"ring": "ring of 8 Gaussians", "grid": "5 × 5 grid of Gaussians"}
RNN_CELLS = {"tanh": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
# long_range's groups (the workdir name after `{task}_T{length}_`).
LONG_RANGE_GROUPS = {
    **RNN_CELLS,
    "lstm_tbptt": "LSTM, truncated backpropagation",
    "lstm_readout_only": "LSTM, readout only trained",
    "sgd_tanh": "tanh RNN, SGD",
    "sgd_lstm": "LSTM, SGD",
    "sgd_gru": "GRU, SGD",
}
LONG_RANGE_TASKS = {"adding": "adding task", "copy": "copy task"}
LIKELIHOOD_ESTIMATORS = {"naive": "naive (prior samples)", "importance": "importance sampling"}
PROPOSALS = {
    "mean_field": "mean-field Gaussian",
    "marginal": "exact-marginal Gaussian",
    "exact": "exact-posterior",
}
LINEAR_AE_VARIANTS = {"tied": "tied weights", "untied": "untied weights"}
# sequence_tasks' models (the `loss_{name}` records) and groups.
SEQUENCE_MODELS = {
    "row_mnist": "row-MNIST classifier",
    "row_mnist_stacked": "row-MNIST classifier, stacked",
    "image_to_word": "image to spelled name",
    "uni": "unidirectional tagger",
    "bi": "bidirectional tagger",
    "addition": "sequence-to-sequence addition",
    "reversal": "sequence-to-sequence reversal",
}
# vae_mnist's 8x8-digits decoders.
DIGIT_DECODERS = {
    "gaussian": "Gaussian decoder, fixed variance",
    "gaussian_learned": "Gaussian decoder, learned variance",
    "categorical": "categorical decoder",
}


def words(name: str, table: Mapping[str, str] | None = None) -> str:
    """`table[name]`, else `name` with its underscores as spaces."""
    if table is not None and name in table:
        return table[name]
    return name.replace("_", " ")


def gan_variant(name: str) -> str:
    """A GAN variant's name in words: a preset's (`GAN_VARIANTS`), one that
    `genjax.gan.variants.variant_name` writes, and any suffix after it (a sweep's
    '_FIELDVALUE') in words."""
    if name in GAN_VARIANTS:
        return GAN_VARIANTS[name]
    parts = name.split("_")
    for i in range(len(parts), 0, -1):  # the longest prefix that names a variant
        head = _gan_combination("_".join(parts[:i]))
        if head is not None:
            # a sweep's suffix: '_FIELDVALUE', e.g. 'gen_learning_rate0.001'
            rest = re.sub(r"(?<=[a-z])(?=-?\d)", " = ", words("_".join(parts[i:])))
            return f"{head}, {rest}" if rest else head
    return words(name)


def _gan_combination(name: str) -> str | None:
    if name in GAN_VARIANTS:
        return GAN_VARIANTS[name]
    from genjax.gan import variants

    try:
        v = variants.get_variant(name)
    except ValueError:
        return None
    text = GAN_OBJECTIVES.get(v.objective, words(v.objective))
    if v.unroll_steps:
        text = f"unrolled {text}, {v.unroll_steps}\N{NO-BREAK SPACE}steps"
    if v.minibatch_kernels:
        text += f", minibatch discrimination ({v.minibatch_kernels} kernels)"
    if v.disc_steps != 1:
        text += f", {v.disc_steps} discriminator steps"
    return text
