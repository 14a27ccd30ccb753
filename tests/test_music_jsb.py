"""experiments.music_jsb: the model is chosen on the valid split alone, the test split read after.

The runs here use a small synthetic file of the standard format, never the JSB file.
"""

import json
import re

import jax
import numpy as np
import pytest

from experiments import common, music_jsb
from genjax.data import music
from genjax.rnn import polyphonic


def _pieces(rng, n):
    def chord():
        return sorted({int(p) for p in rng.integers(48, 72, size=3)})

    return [[chord() for _ in range(int(rng.integers(5, 9)))] for _ in range(n)]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return {"train": _pieces(rng, 6), "valid": _pieces(rng, 3), "test": _pieces(rng, 3)}


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def _tiny_config(data_path):
    config = common.get_config("music_jsb", "quick")
    config.data_path = str(data_path)
    config.hidden_dims, config.eval_every, config.log_every = (4,), 2, 2
    config.selection_steps, config.final_steps, config.batch_size = 4, 6, 2
    return config


def _table(workdir):
    """selection.json without the seconds each run took."""
    selection = json.loads((workdir / music_jsb.SELECTION_FILE).read_text())
    for row in selection["candidates"] + selection["final"]:
        row.pop("seconds")
    return selection


def test_the_choice_is_made_before_the_test_split_is_read(tmp_path):
    data = _data()
    config = _tiny_config(_write(tmp_path / "jsb.json", data))
    metrics = music_jsb.train_and_evaluate(config, tmp_path / "run")
    table = _table(tmp_path / "run")
    assert [(r["cell"], r["hidden_dim"]) for r in table["candidates"]] == [("tanh", 4), ("lstm", 4)]
    chosen = table["candidates"][table["chosen"]]
    assert chosen["valid_nll"] == min(r["valid_nll"] for r in table["candidates"])
    assert metrics["selected_candidate_index"] == table["chosen"]
    assert metrics["num_params_selected"] == chosen["num_params"] > 0
    (final,) = table["final"]  # the chosen candidate trained again, longer
    assert (final["cell"], final["steps_trained"]) == (chosen["cell"], 6)
    np.testing.assert_allclose(metrics["valid_nll_per_step_selected"], final["valid_nll"], 1e-5)
    assert np.isfinite(metrics["test_nll_per_step_selected"])
    assert metrics["test_nll_per_step_seed0"] == metrics["test_nll_per_step_selected"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data_path"] == "jsb.json"
    # The same train and valid splits with a test split that cannot even be read: the
    # selection and the final run are made and written, the same, and only then does
    # reading the test split fail.
    data["test"][0][1].append(200)
    config.data_path = str(_write(tmp_path / "corrupt.json", data))
    with pytest.raises(common.ConfigError, match=re.escape("test piece 0, time step 1")):
        music_jsb.train_and_evaluate(config, tmp_path / "run2")
    assert _table(tmp_path / "run2") == table
    assert not (tmp_path / "run2" / "metrics.json").exists()


def test_select_is_given_the_train_and_valid_splits_only(tmp_path):
    config = _tiny_config(tmp_path / "unused.json")
    arrays = {s: music.pad_rolls([np.zeros((3, 88), np.float32)] * 2) for s in music.SPLITS}
    with pytest.raises(ValueError, match="select takes the splits"):
        music_jsb.select(config, arrays, jax.random.PRNGKey(0))


def test_load_polyphonic_split_reads_one_split_and_checks_only_it(tmp_path):
    data = _data()
    data["test"][0][0].append(200)
    path = _write(tmp_path / "set.json", data)
    valid = music.load_polyphonic_split(path, "valid")
    assert len(valid) == 3 and valid[0].shape == (len(data["valid"][0]), 88)
    with pytest.raises(ValueError, match="MIDI note 200"):
        music.load_polyphonic_split(path, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        music.load_polyphonic_split(path, "dev")


def test_configs_hold_a_grid_and_read_the_path_from_the_environment(monkeypatch):
    monkeypatch.setenv("GENJAX_JSB_PATH", "/data/jsb_chorales_quarter.json")
    for profile in common.PROFILES:
        config = common.get_config("music_jsb", profile)
        assert config.data_path == "/data/jsb_chorales_quarter.json"
        assert len(config.cells) >= 2 and len(config.hidden_dims) >= 2
        assert len(music_jsb.candidates(config)) == len(config.cells) * len(
            config.hidden_dims) * len(config.learning_rates)  # fmt: skip
    full = common.get_config("music_jsb", "full")
    assert set(full.cells) == {"tanh", "gru", "lstm"} and full.patience > 0
    assert common.main_job_profiles("music_jsb") == ("full",)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("data_path", "", "config.data_path is empty"),
        ("data_path", "/nonexistent/jsb.json", "is not a file"),
        ("hidden_dims", (8, 8), "config.hidden_dims repeats a value"),
        ("learning_rates", (), "config.learning_rates must be non-empty"),
        ("cells", ("lstm", "rnn"), "config.cells must be a non-empty subset"),
        ("patience", -1, "config.patience must be an integer >= 0"),
        ("final_steps", -1, "config.final_steps must be an integer >= 0"),
        ("num_seeds", 0, "config.num_seeds must be positive"),
    ],
)
def test_config_errors_name_the_field(tmp_path, field, value, message):
    config = _tiny_config(_write(tmp_path / "jsb.json", _data()))
    config[field] = value
    with pytest.raises(common.ConfigError, match=re.escape(message)):
        music_jsb.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_fit_stops_once_patience_passes_without_a_better_valid_nll():
    rng = np.random.default_rng(1)
    rolls = {s: [music.piano_roll(p) for p in _pieces(rng, n)] for s, n in
             (("train", 2), ("valid", 2))}  # fmt: skip
    arrays = {s: music.pad_rolls(r) for s, r in rolls.items()}
    fit = polyphonic.fit(
        jax.random.PRNGKey(0), "tanh", arrays, hidden_dim=16, num_layers=1, batch_size=2,
        learning_rate=0.05, clip_norm=1.0, num_steps=400, eval_every=5, log_every=5,
        patience=20,
    )  # fmt: skip
    last = fit.evals[-1]["step"]
    assert last < 400  # two training pieces: the valid NLL turns up long before step 400
    assert last - fit.best_step >= 20
    assert all(r["valid_nll"] > min(e["valid_nll"] for e in fit.evals) for r in fit.evals
               if r["step"] > fit.best_step)  # fmt: skip
    with pytest.raises(ValueError, match="patience must be >= 0"):
        polyphonic.fit(jax.random.PRNGKey(0), "tanh", arrays, hidden_dim=4, num_layers=1,
                       batch_size=2, learning_rate=0.05, clip_norm=1.0, num_steps=4,
                       eval_every=2, log_every=2, patience=-1)  # fmt: skip
