"""Polyphonic music: the data loaders, the piano rolls, and the next-frame model (3.1)."""

import json
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax.data import music
from genjax.rnn import architectures as arch
from genjax.rnn import polyphonic

KEY = jax.random.PRNGKey(0)


def _write(tmp_path, obj, name="set.json"):
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(obj))
    else:
        path.write_bytes(pickle.dumps(obj))
    return path


SMALL = {
    "train": [[[60, 64, 67], [], [21, 108]], [[62], [62, 65]]],
    "valid": [[[55], [57]]],
    "test": [[[48, 52], [50], [52, 55, 59]]],
}


@pytest.mark.parametrize("name", ["set.json", "set.pkl"])
def test_load_polyphonic_reads_the_standard_format(tmp_path, name):
    obj = (
        SMALL
        if name.endswith(".json")
        else {k: [[tuple(s) for s in p] for p in v] for k, v in SMALL.items()}
    )  # fmt: skip  (the original pickles hold tuples)
    ds = music.load_polyphonic(_write(tmp_path, obj, name))
    assert [len(ds.split(s)) for s in music.SPLITS] == [2, 1, 1]
    first = ds.train[0]
    assert first.shape == (3, 88) and first.dtype == np.float32
    assert np.flatnonzero(first[0]).tolist() == [60 - 21, 64 - 21, 67 - 21]
    assert first[1].sum() == 0  # a silent frame stays
    assert np.flatnonzero(first[2]).tolist() == [0, 87]  # both ends of the keyboard
    assert ds.num_frames("train") == 5


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("valid"), "expected an object with keys"),
        (lambda d: d["train"][0][0].append(20), "MIDI note 20 is outside 21..108"),
        (lambda d: d["test"][0][1].append(109), "test piece 0, time step 1: MIDI note 109"),
        (lambda d: d["train"][1][0].append(60.5), "MIDI note 60.5"),
        (lambda d: d["train"][1][0].append("C4"), "'C4' is not a MIDI note number"),
        (lambda d: d["valid"][0].__setitem__(0, 55), "expected a list of MIDI notes"),
        (lambda d: d["valid"].__setitem__(0, [[55]]), ">= 2 time steps"),
        (lambda d: d.__setitem__("test", []), "'test' must be a non-empty list"),
    ],
)
def test_load_polyphonic_names_what_is_wrong(tmp_path, mutate, message):
    bad = json.loads(json.dumps(SMALL))
    mutate(bad)
    with pytest.raises(ValueError, match=re.escape(message)):
        music.load_polyphonic(_write(tmp_path, bad))


def test_load_polyphonic_rejects_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        music.load_polyphonic(tmp_path / "none.json")
    (tmp_path / "broken.json").write_text('{"train": [')
    with pytest.raises(ValueError, match="not a readable JSON"):
        music.load_polyphonic(tmp_path / "broken.json")
    (tmp_path / "set.csv").write_text("1,2")
    with pytest.raises(ValueError, match="expected a .json"):
        music.load_polyphonic(tmp_path / "set.csv")


def test_pad_rolls_shifts_inputs_by_one_frame():
    rolls = [np.eye(88, dtype=np.float32)[[1, 2, 3]], np.eye(88, dtype=np.float32)[[7, 8]]]
    inputs, targets, lengths = music.pad_rolls(rolls)
    assert lengths.tolist() == [3, 2] and targets.shape == (2, 3, 88)
    np.testing.assert_array_equal(targets[0], rolls[0])
    np.testing.assert_array_equal(targets[1, 2], 0)  # padding
    np.testing.assert_array_equal(inputs[:, 0], 0)  # the first frame is predicted from nothing
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    with pytest.raises(ValueError, match="more than length=2"):
        music.pad_rolls(rolls, length=2)


def test_score_frames_samples_every_quarter_note():
    m21 = pytest.importorskip("music21")
    score = m21.stream.Score()
    # Soprano: C5 half note, then an eighth-note pair (only the first sounds on a beat).
    # Alto: a quarter rest, then E4 dotted half. Tenor: G3 whole. Bass: C3 quarter + chord.
    voices = [
        [("C5", 2.0), ("D5", 0.5), ("E5", 0.5), ("F5", 1.0)],
        [(None, 1.0), ("E4", 3.0)],
        [("G3", 4.0)],
        [("C3", 1.0), (("C2", "G2"), 1.0), ("B2", 2.0)],
    ]
    for notes in voices:
        part = m21.stream.Part()
        for pitch, length in notes:
            if pitch is None:
                part.append(m21.note.Rest(quarterLength=length))
            elif isinstance(pitch, tuple):
                part.append(m21.chord.Chord(list(pitch), quarterLength=length))
            else:
                part.append(m21.note.Note(pitch, quarterLength=length))
        score.insert(0, part)
    frames = music._score_frames(score)
    midi = {n: m21.pitch.Pitch(n).midi for n in ("C5", "D5", "F5", "E4", "G3", "C3", "C2", "G2",
                                                  "B2")}  # fmt: skip
    assert frames == [
        sorted([midi["C5"], midi["G3"], midi["C3"]]),
        sorted([midi["C5"], midi["E4"], midi["G3"], midi["C2"], midi["G2"]]),
        sorted([midi["D5"], midi["E4"], midi["G3"], midi["B2"]]),
        sorted([midi["F5"], midi["E4"], midi["G3"], midi["B2"]]),
    ]
    three_parts = m21.stream.Score([m21.stream.Part([m21.note.Note("C4")]) for _ in range(3)])
    assert music._score_frames(three_parts) is None


def test_bach_chorales_split_deduplicated_and_cached(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("GENJAX_CACHE_DIR", str(tmp_path))
    ds = music.load_bach_chorales(max_pieces=20)
    sizes = [len(ds.split(s)) for s in music.SPLITS]
    assert all(n >= 1 for n in sizes) and sizes[0] > sizes[1] + sizes[2]
    rolls = ds.train + ds.valid + ds.test
    assert all(r.shape[1] == 88 and set(np.unique(r)) <= {0.0, 1.0} for r in rolls)
    assert len({r.tobytes() for r in rolls}) == len(rolls)  # no duplicates
    notes = np.concatenate(rolls).sum(1)
    # Four voices per frame: at most four notes sound at once, and most frames hold
    # three or four (a rest or a unison takes one away).
    assert notes.max() <= 4 and 3.0 < notes.mean() <= 4.0
    cache = tmp_path / "bach_chorales_20.npz"
    assert cache.exists()
    cache.write_bytes(b"not a zip file")  # a corrupt cache is rebuilt, not trusted
    again = music.load_bach_chorales(max_pieces=20)
    assert all(np.array_equal(a, b) for a, b in zip(again.train, ds.train, strict=True))
    with pytest.raises(ValueError, match="max_pieces"):
        music.load_bach_chorales(max_pieces=3)


# ----------------------------------------------------------------------------- the model


@pytest.mark.parametrize("cell", ["lstm", "gru"])  # one code path; the cells differ in carry
def test_logits_match_many_to_many_and_nll_masks_padding(cell):
    params = polyphonic.init(KEY, cell, 16)
    rng = np.random.default_rng(0)
    rolls = [(rng.random((n, 88)) < 0.05).astype(np.float32) for n in (7, 4, 5)]
    inputs, targets, lengths = music.pad_rolls(rolls)
    np.testing.assert_allclose(
        polyphonic.logits(cell, params, inputs, lengths),
        arch.many_to_many(cell, params, inputs, lengths), atol=1e-6,
    )  # fmt: skip
    # Padded: the frame-weighted mean of each piece's own NLL, computed one piece at a time.
    per_frame = []  # [T_i] per piece
    for r in rolls:
        x, y, _ = music.pad_rolls([r])
        p = jax.nn.sigmoid(polyphonic.logits(cell, params, x))[0]
        per_frame.append(-stats.bernoulli.logpmf(y[0], np.asarray(p, np.float64)).sum(-1))
    expected = sum(f.sum() for f in per_frame) / sum(len(r) for r in rolls)
    got = polyphonic.nll_per_step(cell, params, inputs, targets, lengths)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Bai et al. 2018's protocol: frames 2..T of every piece, the first one unscored.
    expected = sum(f[1:].sum() for f in per_frame) / sum(len(r) - 1 for r in rolls)
    got = polyphonic.nll_per_step(cell, params, inputs, targets, lengths, skip_first=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="skip_first must be >= 0"):
        polyphonic.nll_per_step(cell, params, inputs, targets, lengths, skip_first=-1)


def test_fused_lstm_backward_gives_the_gradients_of_autodiff():
    """`polyphonic.logits(..., backward='fused')`: a 2-layer LSTM with dropout and ragged
    pieces has the loss and gradients of the autodiff path (float32 rounding)."""
    params = polyphonic.init(KEY, "lstm", 12, num_layers=2)
    rng = np.random.default_rng(1)
    rolls = [(rng.random((n, 88)) < 0.1).astype(np.float32) for n in (9, 3, 6)]
    inputs, targets, lengths = music.pad_rolls(rolls)

    def loss(params, backward):
        logits = polyphonic.logits(
            "lstm", params, inputs, lengths, key=KEY, input_dropout=0.2, output_dropout=0.3,
            backward=backward,
        )  # fmt: skip
        return arch.sequence_bernoulli_nll(logits, targets, lengths)

    grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    (v_auto, g_auto), (v_fused, g_fused) = grad(params, "autodiff"), grad(params, "fused")
    np.testing.assert_allclose(v_fused, v_auto, rtol=1e-6)
    for a, f in zip(jax.tree.leaves(g_auto), jax.tree.leaves(g_fused), strict=True):
        np.testing.assert_allclose(f, a, rtol=1e-4, atol=1e-6)
    assert max(float(jnp.abs(a).max()) for a in jax.tree.leaves(g_auto)) > 1e-3  # not vacuous
    with pytest.raises(ValueError, match="written for the LSTM"):
        polyphonic.logits("gru", polyphonic.init(KEY, "gru", 4), inputs, backward="fused")


def test_dropout_only_with_a_key_and_rates_checked():
    params = polyphonic.init(KEY, "gru", 8)
    x = jnp.ones((2, 5, 88))
    plain = polyphonic.logits("gru", params, x, input_dropout=0.5, output_dropout=0.5)
    np.testing.assert_allclose(plain, polyphonic.logits("gru", params, x))
    dropped = polyphonic.logits("gru", params, x, key=KEY, input_dropout=0.5, output_dropout=0.5)
    assert not np.allclose(dropped, plain)
    with pytest.raises(ValueError, match="output_dropout must be in"):
        polyphonic.logits("gru", params, x, key=KEY, output_dropout=1.0)
    with pytest.raises(ValueError, match="inputs must be"):
        polyphonic.logits("gru", params, jnp.ones((2, 5, 12)))


def test_transpose_shifts_each_piece_and_drops_notes_off_the_keyboard():
    rolls = np.zeros((64, 3, 88), np.float32)
    rolls[:, :, 40] = 1.0
    rolls[:, 0, 0] = 1.0  # the lowest key: lost by any downward shift
    out = np.asarray(polyphonic.transpose(KEY, jnp.asarray(rolls), 5))
    shifts = [int(np.flatnonzero(o[1])[0]) - 40 for o in out]
    assert set(shifts) == set(range(-5, 6))  # every shift in [-5, 5] drawn across 64 pieces
    for o, s in zip(out, shifts, strict=True):
        expected = np.zeros((3, 88), np.float32)
        expected[:, 40 + s] = 1.0
        if s >= 0:
            expected[0, s] = 1.0
        np.testing.assert_array_equal(o, expected)
    np.testing.assert_array_equal(polyphonic.transpose(KEY, rolls, 0), rolls)
    # The same key moves a piece's inputs and targets together.
    x, y, _ = music.pad_rolls(list(rolls))
    np.testing.assert_array_equal(
        polyphonic.transpose(KEY, x, 5)[:, 1:], polyphonic.transpose(KEY, y, 5)[:, :-1]
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_continue_piece_samples_from_the_model_after_the_primer(cell):
    params = polyphonic.init(KEY, cell, 16)
    params["readout"]["b"] = params["readout"]["b"] + 0.5  # frames with several notes
    rng = np.random.default_rng(1)
    primer = jnp.asarray((rng.random((3, 6, 88)) < 0.1).astype(np.float32))
    frames = polyphonic.continue_piece(KEY, cell, params, primer, 4, temperature=1e-6)
    assert frames.shape == (3, 4, 88) and set(np.unique(frames)) <= {0.0, 1.0}
    # At temperature -> 0 each frame is the sign of the model's logits given everything before.
    piece = jnp.concatenate([primer, frames], axis=1)
    inputs = jnp.concatenate([jnp.zeros_like(piece[:, :1]), piece[:, :-1]], axis=1)
    expected = polyphonic.logits(cell, params, inputs)[:, 6:] > 0
    np.testing.assert_array_equal(np.asarray(frames, bool), np.asarray(expected))
    one = polyphonic.continue_piece(KEY, cell, params, primer[:, :1], 2)
    assert one.shape == (3, 2, 88)
    with pytest.raises(ValueError, match="primer must be"):
        polyphonic.continue_piece(KEY, cell, params, primer[:, :0], 2)


def test_marginal_baseline_matches_scipy():
    rng = np.random.default_rng(2)
    train = [(rng.random((n, 88)) < 0.04).astype(np.float32) for n in (30, 50)]
    test = [(rng.random((n, 88)) < 0.04).astype(np.float32) for n in (20, 10)]
    counts = np.concatenate(train).sum(0)
    p = (counts + 1) / (80 + 2)
    frames = np.concatenate(test)
    expected = -stats.bernoulli.logpmf(frames, p).sum(1).mean()
    np.testing.assert_allclose(polyphonic.marginal_nll_per_step(train, test), expected, rtol=1e-8)
    frames = np.concatenate([t[1:] for t in test])  # each test piece's first frame unscored
    expected = -stats.bernoulli.logpmf(frames, p).sum(1).mean()
    got = polyphonic.marginal_nll_per_step(train, test, skip_first=1)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_training_with_ema_selects_and_returns_the_averaged_parameters():
    rng = np.random.default_rng(0)
    rolls = [(rng.random((12, music.NUM_PITCHES)) < 0.05).astype(np.float32) for _ in range(6)]
    arrays = {
        s: music.pad_rolls(rolls[i : i + 2]) for s, i in (("train", 0), ("valid", 2), ("test", 4))
    }
    params, step, evals, nll = polyphonic.fit(
        KEY, "lstm", arrays, hidden_dim=8, num_layers=1, batch_size=2, learning_rate=3e-3,
        clip_norm=1.0, num_steps=30, eval_every=10, log_every=10, ema_decay=0.8,
    )  # fmt: skip
    assert [r["step"] for r in evals] == [10, 20, 30]
    # The average is what is evaluated and kept; the last iterate is logged beside it.
    assert all(r["valid_nll"] != r["valid_nll_last_iterate"] for r in evals)
    best = min(evals, key=lambda r: r["valid_nll"])
    assert step == best["step"]
    np.testing.assert_allclose(float(nll(params, *arrays["valid"])), best["valid_nll"], rtol=1e-6)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("data_path", "/nonexistent/jsb.json", "is not a file"),
        ("output_dropout", 1.0, "config.output_dropout must be in [0, 1)"),
        ("cells", ("lstm", "rnn"), "config.cells must be a non-empty subset"),
        ("chorales_max_pieces", 5, "chorales_max_pieces must be 0"),
        ("transpose_max", 13, "transpose_max must be an integer in 0..12"),
        ("num_steps", 0, "config.num_steps must be positive"),
        ("ema_decay", 1.0, "config.ema_decay must be in [0, 1)"),
    ],
)
def test_music_config_errors_name_the_field(tmp_path, field, value, message):
    from experiments import common
    from experiments import music as music_exp
    from experiments.configs import music as music_config

    config = music_config.get_config("quick")
    config[field] = value
    with pytest.raises(common.ConfigError, match=re.escape(message)):
        music_exp.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_music_merge_reselects_across_runs(tmp_path):
    from experiments import common, music_merge

    base = {"profile": "full", "seed": 0, "hidden_dim": 8, "data_path": "jsb.json",
            "chorales": False}  # fmt: skip
    runs = []
    for cell, valid, test in (("tanh", 9.0, 9.1), ("lstm", 8.5, 8.7), ("gru", 8.6, 8.6)):
        d = tmp_path / cell
        common.write_json(d / "config.json", {**base, "cells": [cell]})
        m = {f"valid_nll_per_step_{cell}": valid, f"test_nll_per_step_{cell}": test,
             "valid_nll_per_step_selected": valid, "test_nll_per_step_selected": test}  # fmt: skip
        common.write_json(d / "metrics.json", m)
        runs.append(d)
    merged = music_merge.merge(runs, tmp_path / "out")
    assert merged["valid_nll_per_step_selected"] == 8.5  # the LSTM, by valid NLL
    assert merged["test_nll_per_step_selected"] == 8.7  # even though the GRU tests lower
    common.write_json(runs[2] / "config.json", {**base, "hidden_dim": 16, "cells": ["gru"]})
    with pytest.raises(ValueError, match="differs .* in \\['hidden_dim'\\]"):
        music_merge.merge(runs, tmp_path / "out2")


def test_music_merge_joins_runs_split_by_dataset(tmp_path):
    from experiments import common, music_merge

    base = {"profile": "full", "seed": 0, "hidden_dim": 8}
    runs = []
    for name, prefix, extra in (
        ("jsb", "", {"data_path": "jsb.json", "chorales": False}),
        ("chorales", "chorales_", {"data_path": "", "chorales": True}),
    ):
        for cell, valid in (("lstm", 8.5), ("gru", 8.4 if prefix else 8.6)):
            d = tmp_path / f"{name}_{cell}"
            common.write_json(d / "config.json", {**base, **extra, "cells": [cell]})
            common.write_json(
                d / "metrics.json",
                {
                    f"{prefix}valid_nll_per_step_{cell}": valid,
                    f"{prefix}test_nll_per_step_{cell}": valid,
                },
            )
            runs.append(d)
    merged = music_merge.merge(runs, tmp_path / "out")
    assert merged["valid_nll_per_step_selected"] == 8.5  # JSB: the LSTM
    assert merged["chorales_valid_nll_per_step_selected"] == 8.4  # chorales: the GRU
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (config["cells"], config["data_path"], config["chorales"]) == (
        ["lstm", "gru"], "jsb.json", True)  # fmt: skip
    with pytest.raises(ValueError, match="more than one run on chorales"):
        music_merge.merge([*runs, runs[2]], tmp_path / "out2")


def test_music_without_any_dataset_is_refused(tmp_path):
    from experiments import common, music
    from experiments.configs import music as music_config

    config = music_config.get_config("quick")
    config.chorales = False
    with pytest.raises(common.ConfigError, match="nothing to train"):
        music.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
