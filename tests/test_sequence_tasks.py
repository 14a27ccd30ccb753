"""Claim 3.1's generated data (genjax.rnn.sequence_tasks) and its experiment end to end."""

import functools
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import common, sequence_tasks
from experiments.configs import sequence_tasks as sequence_tasks_config
from genjax.rnn import architectures as arch
from genjax.rnn import sequence_tasks as st
from genjax.rnn import tasks

KEY = jax.random.PRNGKey(0)
ROOT = Path(__file__).resolve().parents[1]


def test_tagging_tags_follow_the_next_token():
    vocab, tags = 12, 4
    draw = functools.partial(st.tagging_batch, batch_size=300, max_length=9, min_length=3,
                             vocab_size=vocab, num_tags=tags)  # fmt: skip
    batch = jax.device_get(jax.jit(draw)(KEY))
    tokens, labels, lengths = batch.tokens, batch.tags, batch.lengths
    assert lengths.min() >= 3 and lengths.max() <= 9 and set(np.unique(lengths)) > {3, 9}
    for b in range(300):
        n = lengths[b]
        for t in range(9):
            if t >= n:  # padding
                assert tokens[b, t] == 0 and labels[b, t] == 0 and not batch.ambiguous[b, t]
            elif tokens[b, t] < vocab // 2:
                assert labels[b, t] == tokens[b, t] % tags and not batch.ambiguous[b, t]
            else:
                following = tokens[b, t + 1] if t + 1 < n else 0
                assert labels[b, t] == following % tags and batch.ambiguous[b, t]
    # Changing only the NEXT token changes an ambiguous word's tag, and nothing before it.
    ambiguous = np.argwhere(batch.ambiguous[:, :-1] & (np.arange(8) + 1 < lengths[:, None]))
    b, t = ambiguous[0]
    changed = tokens.copy()
    changed[b, t + 1] = (tokens[b, t + 1] + 1) % vocab
    new = np.asarray(st.tagging_tags(jnp.asarray(changed), jnp.asarray(lengths), vocab, tags))
    assert new[b, t] != labels[b, t]
    np.testing.assert_array_equal(new[b, :t], labels[b, :t])
    # The best left-to-right tagger is right on every unambiguous word and near chance (1/K)
    # on the ambiguous ones.
    causal = np.asarray(st.tagging_causal_predictions(jnp.asarray(tokens), vocab, tags))
    real = np.arange(9)[None, :] < lengths[:, None]
    unambiguous = real & ~batch.ambiguous
    np.testing.assert_array_equal(causal[unambiguous], labels[unambiguous])
    assert 0.2 < np.mean(causal[batch.ambiguous] == labels[batch.ambiguous]) < 0.45


def test_addition_strings_parse_back_to_their_sums():
    for split in ("train", "test"):
        draw = functools.partial(st.addition_batch, batch_size=2000, max_digits=3, split=split)
        batch = jax.device_get(jax.jit(draw)(KEY))
        held_out = set(st.addition_held_out(3).tolist())
        assert batch.src.shape == (2000, 7) and batch.targets.shape == (2000, 5)
        for b in range(2000):
            text = st.addition_text(batch.src[b], batch.src_lengths[b])
            a, c = (int(x) for x in text.split("+"))
            total = st.digits_text(batch.targets[b])
            assert int(total) == a + c and str(a + c) == total, (text, total)
            assert batch.target_lengths[b] == len(total) + 1
            assert batch.targets[b, len(total)] == st.ADD_EOS
            assert np.all(batch.src[b, batch.src_lengths[b] :] == st.ADD_PAD)
            assert ((a * 1000 + c) in held_out) == (split == "test")
    # 1/16 of the pairs are held out; every digit count and the carry into a new digit occur.
    assert st.addition_held_out(2).size == pytest.approx(10**4 / 16, rel=0.01)
    assert set(batch.src_lengths.tolist()) >= {5, 6, 7}
    assert set(batch.target_lengths.tolist()) >= {4, 5}
    with pytest.raises(ValueError, match="max_digits"):
        st.addition_batch(KEY, 2, 4)
    with pytest.raises(ValueError, match="split"):
        st.addition_batch(KEY, 2, 2, split="valid")


def test_reversal_targets_are_reversed_sources():
    draw = functools.partial(st.reversal_batch, batch_size=200, min_length=1, max_length=7,
                             vocab_size=5)  # fmt: skip
    batch = jax.device_get(jax.jit(draw)(KEY))
    assert batch.src.shape == (200, 7) and batch.targets.shape == (200, 8)
    assert set(batch.src_lengths.tolist()) == set(range(1, 8))
    for b in range(200):
        n = batch.src_lengths[b]
        np.testing.assert_array_equal(batch.targets[b, :n], batch.src[b, :n][::-1])
        assert np.all(batch.targets[b, n:] == 5) and np.all(batch.src[b, n:] == 5)
        assert batch.target_lengths[b] == n + 1
        assert st.tokens_until(batch.targets[b], 5) == st.tokens_until(batch.src[b], 5)[::-1]
    with pytest.raises(ValueError, match="min_length"):
        st.reversal_batch(KEY, 2, 4, 3, 5)


def test_digit_names_round_trip():
    tokens, lengths = jax.device_get(st.digit_name_targets(jnp.arange(10)))
    assert tokens.shape == (10, st.WORD_LENGTH) == (10, 6)
    assert [st.word_text(t) for t in tokens] == list(st.DIGIT_NAMES)
    np.testing.assert_array_equal(lengths, [len(n) + 1 for n in st.DIGIT_NAMES])
    assert np.all(tokens[np.arange(10), lengths - 1] == st.WORD_EOS)
    assert st.WORD_VOCAB == len(set("".join(st.DIGIT_NAMES))) + 1


def test_exact_match_and_masked_accuracy():
    targets = jnp.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 4, 4, 0]])
    lengths = jnp.array([3, 2, 4])
    predictions = jnp.array([[1, 2, 0, 7], [3, 5, 0, 0], [4, 4, 4, 0]])
    # Row 0 stops at EOS (what follows is ignored); row 1 does not stop.
    np.testing.assert_array_equal(st.exact_match(predictions, targets, lengths), [1, 0, 1])
    with pytest.raises(ValueError, match="cover"):
        st.exact_match(predictions[:, :3], targets, lengths)
    mask = jnp.array([[True, False, False, False]] * 3)
    assert float(st.masked_accuracy(predictions, targets, mask)) == 1.0
    assert float(st.masked_accuracy(predictions, targets, ~mask)) == pytest.approx(7 / 9)


def test_generators_and_architectures_reject_bad_input():
    with pytest.raises(ValueError, match="multiple of num_tags"):
        st.tagging_batch(KEY, 2, 5, vocab_size=10, num_tags=4)
    with pytest.raises(ValueError, match="batch_size"):
        st.tagging_batch(KEY, 0, 5)
    # Bad input on the paths the experiment uses (the checks live in genjax.rnn.sequences,
    # architectures, cells and tbptt; tests/test_rnn_cells.py covers the lower layers).
    # Zero weights of the right shapes (no compile): every check fires before any compute.
    shapes = jax.eval_shape(lambda k: arch.init_seq2seq(k, "lstm", 5, 4, 3, embed_dim=2), KEY)
    params = jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), shapes)
    src = jnp.zeros((2, 4), jnp.int32)
    with pytest.raises(ValueError, match="padded length"):
        arch.seq2seq_greedy_decode("lstm", params, src, 3, jnp.array([5, 1]))
    with pytest.raises(ValueError, match=">= 0"):
        arch.seq2seq_logits("lstm", params, src, src, jnp.array([-1, 1]))
    with pytest.raises(ValueError, match="batch sizes differ"):
        arch.seq2seq_logits("lstm", params, src, jnp.zeros((3, 4), jnp.int32))
    with pytest.raises(ValueError, match="lengths must have shape"):
        arch.seq2seq_logits("lstm", params, src, src, jnp.array([1, 1, 1]))
    tagger = {"rnn": params["encoder"], "readout": params["readout"]}  # an LSTM tagger
    xs = jnp.zeros((2, 4, 2))
    with pytest.raises(ValueError, match="padded length"):
        arch.many_to_many("lstm", tagger, xs, jnp.array([2, 9]))
    with pytest.raises(ValueError, match="window"):
        arch.many_to_one("lstm", tagger, xs, window=0)
    with pytest.raises(ValueError, match="unknown cell name"):
        arch.init_seq2seq(KEY, "transformer", 5, 4, 3)


def test_sequence_losses_name_the_batch_they_expect():
    """A batch of the wrong kind (an array, a dict) is a TypeError saying what was expected."""
    params = jax.eval_shape(lambda k: arch.init_seq2seq(k, "lstm", 5, 4, 3, embed_dim=2), KEY)
    tokens = jnp.zeros((2, 4), jnp.int32)
    with pytest.raises(TypeError, match=r"seq2seq_loss: batch must be a Seq2SeqBatch \(src, "):
        st.seq2seq_loss("lstm", params, tokens)
    with pytest.raises(TypeError, match="TaggingBatch .* got an array of shape \\(2, 4\\)"):
        st.tagging_loss("lstm", params, tokens, vocab_size=5)
    with pytest.raises(TypeError, match="batch must be a pair .* got a dict with keys"):
        st.row_classification_loss("lstm", params, {"image": tokens, "label": tokens})
    with pytest.raises(TypeError, match="digit_name_loss: batch must be a pair"):
        st.digit_name_loss("lstm", params, tokens)
    with pytest.raises(TypeError, match="adding_loss: batch must be an AddingBatch"):
        tasks.adding_loss("lstm", params, tokens)
    with pytest.raises(TypeError, match="copy_loss: batch must be a CopyBatch"):
        tasks.copy_loss("lstm", params, {"inputs": tokens})


def _tiny_config():
    config = sequence_tasks_config.get_config("quick")
    config.batch_size = 8
    config.cell = "tanh"  # the cheapest cell to compile; the quick profile runs the LSTM
    config.embed_dim = 3
    config.mnist_hidden = config.word_hidden = config.tagging_hidden = 3
    config.addition_hidden = config.reversal_hidden = 3
    config.mnist_steps = config.tagging_steps = config.seq2seq_steps = 2
    config.seq2seq_batch_size = 4
    config.addition_digits = 1
    config.tagging_min_length, config.tagging_max_length = 2, 3
    config.reversal_min_length, config.reversal_max_length = 1, 2
    config.test_size = 8
    config.num_examples = 2
    config.log_every = 1
    return config


def test_sequence_tasks_end_to_end(tmp_path):
    metrics = sequence_tasks.train_and_evaluate(_tiny_config(), tmp_path)
    np.testing.assert_equal(metrics, common.read_metrics_json(tmp_path))
    for key in ("row_mnist_test_accuracy", "row_mnist_stacked_test_accuracy",
                "image_to_word_exact_match", "tagging_uni_accuracy", "tagging_bi_accuracy",
                "tagging_uni_ambiguous_accuracy", "tagging_bi_ambiguous_accuracy",
                "tagging_causal_best_accuracy", "seq2seq_addition_exact_match",
                "seq2seq_addition_seen_exact_match", "seq2seq_reversal_exact_match"):  # fmt: skip
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["tagging_chance_ambiguous_accuracy"] == 0.25
    assert all(math.isfinite(v) for v in metrics.values())
    assert (tmp_path / "examples.png").exists() and (tmp_path / "training_curves.png").exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("cell", "transformer", "config.cell='transformer'"),
        ("mnist_steps", 0, "config.mnist_steps must be an integer >= 1"),
        ("stacked_layers", 1, "config.stacked_layers must be an integer >= 2"),
        ("addition_digits", 4, "config.addition_digits must be an integer in [1, 3]"),
        ("tagging_vocab", 10, "must be even and a multiple of config.tagging_num_tags"),
        ("tagging_max_length", 1, "config.tagging_max_length must be an integer >= 4"),
        ("learning_rate", -1.0, "config.learning_rate must be positive"),
        ("batch_size", 5000, "config.batch_size must be at most 4000 (the examples in MNIST"),
    ],
)
def test_bad_config_is_rejected_before_any_work(tmp_path, field, value, message):
    config = sequence_tasks_config.get_config("quick")
    config[field] = value
    with pytest.raises(common.ConfigError) as error:
        sequence_tasks.train_and_evaluate(config, tmp_path / "run")
    assert message in str(error.value)
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_cli_reports_bad_config(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.sequence_tasks", f"--workdir={tmp_path / 'run'}",
         "--config=experiments/configs/sequence_tasks.py:quick", "--config.seq2seq_steps=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "config.seq2seq_steps must be an integer >= 1" in proc.stderr
    assert not (tmp_path / "run").exists()
