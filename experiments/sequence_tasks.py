"""Claim 3.1: the four recurrent architectures, one task each, on MNIST or generated data.

- many-to-one: MNIST digits read row by row (28 steps of 28 pixels) -> class
  (`row_mnist_test_accuracy`, on the 1,000 test digits), with one LSTM layer and
  with `stacked_layers` (`row_mnist_stacked_test_accuracy`).
- one-to-many: the flattened MNIST image sets the initial state; the decoder spells
  the digit's English name letter by letter then EOS, each letter fed back
  (`image_to_word_exact_match`: greedy generation equals the name, EOS included).
- many-to-many aligned: the toy tagging task of `genjax.rnn.sequence_tasks`, whose
  ambiguous words take the next word's tag; unidirectional vs bidirectional
  (`tagging_uni_accuracy`, `tagging_bi_accuracy`, `..._ambiguous_accuracy` on the
  future-dependent steps only; `tagging_causal_best_accuracy` is the best any
  left-to-right tagger can do, `tagging_chance_ambiguous_accuracy` = 1/K).
- encoder-decoder: "a+b" -> the digits of the sum (`seq2seq_addition_exact_match`
  on (a, b) pairs held out of training; `seq2seq_addition_seen_exact_match` on
  problems from the training distribution), and reversal of variable-length
  sequences (`seq2seq_reversal_exact_match`). Teacher forcing in training, greedy
  decoding at test.

The models train in three groups (MNIST, tagging, seq2seq), each group in one jitted
step (`_fit_group`): Adam with cosine decay and clipping by global norm per model. The
generated tasks' examples are drawn up front (`_generated_data`), fresh for every
training step. Variable lengths are handled by masking (`lengths`): padded steps
change no carry and no loss.
Also written: `seconds_{group}`, figures `examples.png` (test predictions and
decodes) and `training_curves.png`.

    python -m experiments.sequence_tasks --workdir runs/sequence_tasks_quick \\
        --config=experiments/configs/sequence_tasks.py:quick
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from experiments import common
from genjax import data, train
from genjax.rnn import architectures as arch
from genjax.rnn import sequence_tasks as st
from genjax.rnn.cells import CELL_NAMES
from genjax.rnn.sequences import sequence_mask
from genjax.typing import Array, Params, PRNGKey

log = logging.getLogger("genjax")

MNIST_TEST_SIZE = 1000


def _run_once(fn: Callable) -> Callable:
    """`jax.jit` for a program that runs once (init, data, evaluation): LLVM at -O0.

    On CPU such programs cost their compile time, not their run time, and -O0 halves it
    (the training steps keep the default optimisation: they run thousands of times).
    """
    return jax.jit(fn, compiler_options={"xla_backend_optimization_level": 0})


def _require_int(config, name: str, low: int, high: int | None = None) -> None:
    value = config[name]
    bad = isinstance(value, bool) or not isinstance(value, int) or value < low
    if bad or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise common.ConfigError(f"config.{name} must be an integer {bound}, got {value!r}")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_choice(config, "cell", CELL_NAMES)
    common.require_positive(config, "learning_rate", "clip_norm")
    for name in ("batch_size", "embed_dim", "mnist_hidden", "word_hidden", "mnist_steps",
                 "tagging_hidden", "tagging_steps", "seq2seq_steps", "seq2seq_batch_size",
                 "addition_hidden", "reversal_hidden", "test_size", "log_every"):  # fmt: skip
        _require_int(config, name, 1)
    _require_int(config, "stacked_layers", 2)
    _require_int(config, "addition_digits", 1, st.MAX_ADDITION_DIGITS)
    _require_int(config, "tagging_num_tags", 2)
    _require_int(config, "tagging_vocab", 2)
    if config.tagging_vocab % 2 or config.tagging_vocab % config.tagging_num_tags:
        raise common.ConfigError(
            f"config.tagging_vocab={config.tagging_vocab} must be even and a multiple of "
            f"config.tagging_num_tags={config.tagging_num_tags}"
        )
    _require_int(config, "reversal_vocab", 2, 26)  # shown as letters a-z
    for task in ("tagging", "reversal"):
        _require_int(config, f"{task}_min_length", 1)
        _require_int(config, f"{task}_max_length", config[f"{task}_min_length"])
    _require_int(config, "num_examples", 1, min(config.test_size, 12))


# ----------------------------------------------------------------------------- models


class Model(NamedTuple):
    """One network of a group: `init(key) -> params`, `loss(params, batch) -> scalar`."""

    init: Callable[[PRNGKey], Params]
    loss: Callable[[Params, Any], Array]


# ----------------------------------------------------------------------------- training


def _fit_group(
    tag: str,
    models: dict[str, Model],
    batch_fn: Callable[[int], Any],
    num_steps: int,
    config: ml_collections.ConfigDict,
    key: PRNGKey,
    workdir: Path,
) -> tuple[dict[str, Array], Callable[[dict[str, Array]], dict[str, Params]], list[dict]]:
    """Trains the models of a group together on the same batches, each with its own optimizer.

    The group's loss is the sum of the models' losses, so each model gets exactly its
    own gradient; each is clipped to global norm `clip_norm` and updated by its own
    Adam (optax.multi_transform): the same as training them one by one, with one
    compiled step per group. Each model's parameters are raveled into one vector for
    the optimizer (a few large leaves instead of dozens of small ones): on CPU the
    compile time of the step, which dominates the quick profile, drops by a quarter.

    Args:
      batch_fn: the host batch at each step (`genjax.train.train`'s contract); each
        model's loss reads its part of it.

    Returns:
      ({name: trained parameter vector}, `unflatten(vectors) -> {name: params}` (pure: call
      it inside the jitted evaluation), the logged training records with `loss_{name}`).
    """
    names = sorted(models)
    unravel = {}

    def init(key):
        flat = {}
        for n, k in zip(names, jax.random.split(key, len(names)), strict=True):
            # The unravel functions hold only shapes: safe to keep from the trace.
            flat[n], unravel[n] = ravel_pytree(models[n].init(k))
        return flat

    flat = _run_once(init)(key)
    schedule = optax.cosine_decay_schedule(config.learning_rate, num_steps)
    per_model = optax.chain(optax.clip_by_global_norm(config.clip_norm), optax.adam(schedule))
    optimizer = optax.multi_transform({n: per_model for n in names}, {n: n for n in names})

    def unflatten(flat):
        return {n: unravel[n](flat[n]) for n in names}

    def loss_fn(flat, batch, step_key):
        del step_key  # the models are deterministic; the data are drawn beforehand
        params = unflatten(flat)
        losses = {f"loss_{n}": models[n].loss(params[n], batch) for n in names}
        return sum(losses.values()), losses

    state = train.create_train_state(flat, optimizer, key)
    result = train.train(
        state, train.make_train_step(loss_fn, optimizer), batch_fn, num_steps,
        workdir=workdir / tag, log_every=min(config.log_every, num_steps),
        checkpoint_every_secs=config.checkpoint_every_secs, tensorboard=False,
    )  # fmt: skip
    return result.state.params, unflatten, [r for r in result.history if r["split"] == "train"]


def _decode_report(sources: list[str], predicted: list[str], truth: list[str]) -> list[str]:
    return [
        f"{s:>12} -> {p:<11} {'ok' if p == t else 'want ' + t}"
        for s, p, t in zip(sources, predicted, truth, strict=True)
    ]


# ----------------------------------------------------------------------------- tasks


def _mnist_group(config, key, workdir, mnist):
    """many-to-one (row-MNIST class; one layer and stacked) and one-to-many (image -> spelled
    name), trained together on the same batches."""
    cell = config.cell
    (train_images, train_labels), (test_images, test_labels) = mnist
    models = {
        "row_mnist": Model(
            lambda k: arch.init_many_to_one(k, cell, 28, config.mnist_hidden, 10),
            functools.partial(st.row_classification_loss, cell),
        ),
        "row_mnist_stacked": Model(
            lambda k: arch.init_many_to_one(
                k, cell, 28, config.mnist_hidden, 10, num_layers=config.stacked_layers
            ),
            functools.partial(st.row_classification_loss, cell),
        ),  # fmt: skip
        "image_to_word": Model(
            lambda k: arch.init_one_to_many(
                k, cell, 28 * 28, config.word_hidden, st.WORD_VOCAB, embed_dim=config.embed_dim
            ),
            functools.partial(st.digit_name_loss, cell),
        ),  # fmt: skip
    }
    batch_fn = data.make_batch_fn((train_images, train_labels), config.batch_size, key)
    flat, unflatten, history = _fit_group("mnist", models, batch_fn, config.mnist_steps, config,
                                          key, workdir)  # fmt: skip

    @_run_once
    def evaluate(flat, images, labels):
        params = unflatten(flat)
        classes = {
            n: jnp.argmax(arch.many_to_one(cell, params[n], images), -1)
            for n in ("row_mnist", "row_mnist_stacked")
        }
        vectors = images.reshape(images.shape[0], -1)
        words = arch.one_to_many_generate(cell, params["image_to_word"], vectors, st.WORD_LENGTH)
        targets, lengths = st.digit_name_targets(labels)
        return classes, words, st.exact_match(words, targets, lengths)

    classes, words, match = jax.device_get(evaluate(flat, test_images, test_labels))
    metrics = {f"{n}_test_accuracy": float(np.mean(c == test_labels)) for n, c in classes.items()}
    metrics["image_to_word_exact_match"] = float(np.mean(match))
    examples = {"row_mnist": classes["row_mnist"],
                "image_to_word": [st.word_text(w) for w in words]}  # fmt: skip
    return metrics, history, examples


def _tagging_group(config, key, workdir, data: dict[str, Any]):
    """many-to-many aligned: unidirectional and bidirectional taggers, same batches."""
    cell, vocab, tags = config.cell, config.tagging_vocab, config.tagging_num_tags
    models = {
        name: Model(
            functools.partial(
                arch.init_many_to_many,
                cell=cell,
                input_dim=vocab,
                hidden_dim=config.tagging_hidden,
                output_dim=tags,
                bidirectional=name == "bi",
            ),
            functools.partial(st.tagging_loss, cell, vocab_size=vocab),
        )  # fmt: skip
        for name in ("uni", "bi")
    }
    batch_fn = _stream(data["tagging_train"], config.batch_size)
    flat, unflatten, history = _fit_group("tagging", models, batch_fn, config.tagging_steps,
                                          config, key, workdir)  # fmt: skip

    @_run_once
    def evaluate(flat, test):
        params = unflatten(flat)
        real = sequence_mask(test.lengths, test.tokens.shape[1])
        out = {}
        causal = st.tagging_causal_predictions(test.tokens, vocab, tags)
        for name, predicted in [("causal_best", causal)] + [
            (n, jnp.argmax(st.tagging_logits(cell, params[n], test, vocab_size=vocab), -1))
            for n in models
        ]:
            out[f"tagging_{name}_accuracy"] = st.masked_accuracy(predicted, test.tags, real)
            out[f"tagging_{name}_ambiguous_accuracy"] = st.masked_accuracy(
                predicted, test.tags, test.ambiguous
            )
            out[name] = predicted
        out["tagging_ambiguous_fraction"] = jnp.sum(test.ambiguous) / jnp.sum(real)
        return out

    out = jax.device_get(evaluate(flat, data["tagging_test"]))
    examples = {f"tagging_{n}": out.pop(n) for n in ("causal_best", *models)}
    metrics = {k: float(v) for k, v in out.items()}
    metrics["tagging_chance_ambiguous_accuracy"] = 1.0 / tags
    return metrics, history, examples


def _seq2seq_group(config, key, workdir, data: dict[str, Any]):
    """encoder-decoder: addition and reversal, trained together with teacher forcing (each
    on its own task's batches), greedy-decoded on the test sets."""
    cell, vocab = config.cell, config.reversal_vocab

    def model(task, src_vocab, tgt_vocab, hidden):
        return Model(
            lambda k: arch.init_seq2seq(k, cell, src_vocab, tgt_vocab, hidden,
                                        embed_dim=config.embed_dim),
            lambda params, batch: st.seq2seq_loss(cell, params, batch[task]),
        )  # fmt: skip

    models = {
        "addition": model("addition", st.ADD_SRC_VOCAB, st.ADD_TGT_VOCAB, config.addition_hidden),
        "reversal": model("reversal", vocab + 1, vocab + 1, config.reversal_hidden),
    }

    streams = {task: data[f"{task}_train"] for task in models}
    batch_fn = _stream(streams, config.seq2seq_batch_size)
    flat, unflatten, history = _fit_group("seq2seq", models, batch_fn, config.seq2seq_steps,
                                          config, key, workdir)  # fmt: skip
    # Seen: the first problems of the training stream (each trained on once).
    seen = jax.tree_util.tree_map(lambda a: a[: config.test_size], streams["addition"])
    tests = {"addition": data["addition_test"], "addition_seen": seen,
             "reversal": data["reversal_test"]}  # fmt: skip

    @_run_once
    def evaluate(flat, tests):
        params = unflatten(flat)

        def decode(name, test):
            tokens = arch.seq2seq_greedy_decode(
                cell, params[name], test.src, test.targets.shape[1], test.src_lengths
            )
            return tokens, st.exact_match(tokens, test.targets, test.target_lengths)  # fmt: skip

        # Held-out and seen addition problems in one decode (one scan to compile, not two).
        held_out, seen = tests["addition"], tests["addition_seen"]
        both = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), held_out, seen)
        tokens, match = decode("addition", both)
        n = held_out.src.shape[0]
        return {
            "addition": (tokens[:n], match[:n]),
            "addition_seen": (tokens[n:], match[n:]),
            "reversal": decode("reversal", tests["reversal"]),
        }

    out = jax.device_get(evaluate(flat, tests))
    metrics = {f"seq2seq_{n}_exact_match": float(np.mean(match)) for n, (_, match) in out.items()}
    return metrics, history, {n: tokens for n, (tokens, _) in out.items()}


def _stream(stream: Any, batch_size: int) -> Callable[[int], Any]:
    """batch_fn(step): the step-th slice of a pre-drawn stream of fresh examples (host arrays)."""
    return lambda step: jax.tree_util.tree_map(
        lambda a: a[step * batch_size : (step + 1) * batch_size], stream
    )


def _tagging_batch(config, key, batch_size):
    return st.tagging_batch(
        key, batch_size, config.tagging_max_length, min_length=config.tagging_min_length,
        vocab_size=config.tagging_vocab, num_tags=config.tagging_num_tags,
    )  # fmt: skip


def _addition_batch(config, key, batch_size, split="train"):
    return st.addition_batch(key, batch_size, config.addition_digits, split=split)


def _reversal_batch(config, key, batch_size):
    return st.reversal_batch(
        key, batch_size, config.reversal_min_length, config.reversal_max_length,
        config.reversal_vocab,
    )  # fmt: skip


# ----------------------------------------------------------------------------- figures


def _plot_curves(histories: dict[str, list[dict[str, Any]]], workdir: Path) -> None:
    """Each model's teacher-forced training loss against the step."""
    from experiments import plotting

    fig, ax = plotting.figure(height=3.8)
    for records in histories.values():
        steps = [r["step"] for r in records]
        for name in sorted(k for k in records[0] if k.startswith("loss_")):
            label = plotting.words(name.removeprefix("loss_"), plotting.SEQUENCE_MODELS)
            ax.plot(steps, [r[name] for r in records], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (nats per output)")
    plotting.set_title(ax, "Four recurrent architectures: teacher-forced training losses")
    fig.legend(loc="outside lower center", ncol=1)
    common.save_figure(fig, workdir, "training_curves")


def _plot_examples(config, mnist_test, tests, examples: dict[str, Any], workdir: Path) -> None:
    """Test digits with their row-MNIST class and spelled name; tags and decodes as text."""
    from experiments import plotting

    n = config.num_examples
    images, labels = mnist_test
    fig = plotting.figure(width=plotting.TEXT_WIDTH, height=5.0, panels=False)
    grid = fig.add_gridspec(2, n, height_ratios=[1, 2.5])
    for i in range(n):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(images[i], cmap="gray_r")
        plotting.image_panel(ax)
        ax.set_title(
            f"class {examples['row_mnist'][i]} (true {labels[i]})\n"
            f"'{examples['image_to_word'][i]}'",
            fontsize=8,
        )
    tagging, addition, reversal = tests
    length = int(tagging.lengths[0])

    def row(a):
        return " ".join(f"{int(v):>2}" for v in np.asarray(a)[:length])

    lines = [f"tagging (words >= {config.tagging_vocab // 2} take the next word's tag):",
             f"  words           {row(tagging.tokens[0])}",
             f"  true tags       {row(tagging.tags[0])}",
             f"  unidirectional  {row(examples['tagging_uni'][0])}",
             f"  bidirectional   {row(examples['tagging_bi'][0])}", ""]  # fmt: skip
    add_src = [st.addition_text(s, n) for s, n in zip(addition.src, addition.src_lengths,
                                                      strict=True)]  # fmt: skip
    add_truth = [st.digits_text(t) for t in addition.targets]
    lines += ["sequence-to-sequence addition (source -> decoded):"] + _decode_report(
        add_src[:n], [st.digits_text(t) for t in examples["addition"][:n]], add_truth[:n]
    ) + [""]  # fmt: skip
    vocab = config.reversal_vocab

    def text(tokens):  # pad and EOS are both id V
        return "".join("abcdefghijklmnopqrstuvwxyz"[t] for t in st.tokens_until(tokens, vocab))

    lines += ["sequence-to-sequence reversal (source -> decoded):"] + _decode_report(
        [text(s) for s in reversal.src[:n]],
        [text(t) for t in examples["reversal"][:n]],
        [text(t) for t in reversal.targets[:n]],
    )
    ax = fig.add_subplot(grid[1, :])
    ax.set_axis_off()
    ax.text(0, 1, "\n".join(lines), family="monospace", fontsize=8, va="top")
    fig.suptitle(
        "Sequence tasks on test data. Top: each digit's row-MNIST class and spelled name;\n"
        "bottom: the taggers' tags and the sequence-to-sequence decodes"
    )
    common.save_figure(fig, workdir, "examples")


# ----------------------------------------------------------------------------- main


def _generated_data(config, key: PRNGKey) -> dict[str, Any]:
    """Every generated example the run uses, drawn in one compiled program.

    `{task}_train`: a stream of steps x batch_size fresh examples (each trained on once);
    `{task}_test`: test_size more. The addition test problems are the held-out (a, b)
    pairs, which the training stream never contains.
    """
    k_tag, k_add, k_add_test, k_rev = jax.random.split(key, 4)
    size = config.test_size
    n_tag = config.tagging_steps * config.batch_size
    n_seq = config.seq2seq_steps * config.seq2seq_batch_size
    tagging = _tagging_batch(config, k_tag, n_tag + size)
    reversal = _reversal_batch(config, k_rev, n_seq + size)

    def head(batch, n):
        return jax.tree_util.tree_map(lambda a: a[:n], batch)

    def tail(batch, n):
        return jax.tree_util.tree_map(lambda a: a[n:], batch)

    return {
        "tagging_train": head(tagging, n_tag),
        "tagging_test": tail(tagging, n_tag),
        "addition_train": _addition_batch(config, k_add, n_seq),
        "addition_test": _addition_batch(config, k_add_test, size, split="test"),
        "reversal_train": head(reversal, n_seq),
        "reversal_test": tail(reversal, n_seq),
    }


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains one model per architecture (and the variants); writes metrics.json and figures."""
    validate_config(config)
    train_set, test_set = common.load_mnist(config)
    common.require_batch_fits(config.batch_size, train_set.num_examples, "MNIST's training set")
    workdir = common.prepare_workdir(workdir, config)
    # 'rbg' keys: XLA's RngBitGenerator draws the initial weights and the generated
    # data; it compiles in about half the time of threefry on CPU.
    key = jax.random.key(config.seed, impl="rbg")
    k_data, k_mnist, k_tag, k_seq = jax.random.split(key, 4)
    mnist = (
        (train_set.images, train_set.labels),
        (test_set.images[:MNIST_TEST_SIZE], test_set.labels[:MNIST_TEST_SIZE]),
    )
    generated = jax.device_get(_run_once(functools.partial(_generated_data, config))(k_data))
    metrics: dict[str, float] = {}
    histories: dict[str, list[dict[str, Any]]] = {}
    examples: dict[str, Any] = {}

    def run(tag, fn, *args):
        t0 = time.perf_counter()
        group_metrics, histories[tag], group_examples = fn(*args)
        metrics.update(group_metrics)
        examples.update(group_examples)
        metrics[f"seconds_{tag}"] = time.perf_counter() - t0
        log.info("%s done in %.1f s", tag, metrics[f"seconds_{tag}"])

    run("mnist", _mnist_group, config, k_mnist, workdir, mnist)
    run("tagging", _tagging_group, config, k_tag, workdir, generated)
    run("seq2seq", _seq2seq_group, config, k_seq, workdir, generated)
    _plot_curves(histories, workdir)
    tests = tuple(generated[f"{t}_test"] for t in ("tagging", "addition", "reversal"))
    _plot_examples(config, mnist[1], tests, examples, workdir)
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
