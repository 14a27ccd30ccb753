"""What every experiment shares: flags, config validation, metrics.json / config.json, figures.

An experiment module defines `train_and_evaluate(config, workdir) -> metrics`
(importable and testable on its own) and ends with

    if __name__ == "__main__":
        common.run_experiment(__name__, train_and_evaluate)
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ml_collections

PROFILES = ("quick", "full")
CONFIGS_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A config value that cannot work; raised before anything is compiled."""


def get_config(name: str, profile: str = "full") -> ml_collections.ConfigDict:
    """The config of experiment `name` in a profile ('quick' or 'full')."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    module = importlib.import_module(f"experiments.configs.{name}")
    return module.get_config(profile)


def main_job_profiles(name: str) -> tuple[str, ...]:
    """The profiles in which the main job (experiments.reproduce) runs experiment `name`.

    Every profile, unless its config module says otherwise in `MAIN_JOB_PROFILES`
    (music_jsb: its quick profile needs a data file that a clean checkout lacks).
    Criteria reading such an experiment are judged only in those profiles.
    """
    module = importlib.import_module(f"experiments.configs.{name}")
    return tuple(getattr(module, "MAIN_JOB_PROFILES", PROFILES))


def check_same_config(
    workdirs: list[Path], configs: list[dict[str, Any]], split_fields: tuple[str, ...]
) -> None:
    """ValueError naming the fields, unless every config equals the first outside `split_fields`
    (the fields by which the runs of one experiment may divide its work)."""
    base = {k: v for k, v in configs[0].items() if k not in split_fields}
    for w, c in zip(workdirs, configs, strict=True):
        other = {k: v for k, v in c.items() if k not in split_fields}
        if other != base:
            diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
            raise ValueError(f"{w}: config differs from {workdirs[0]} in {diff}")


def parse_profile(arg: str | None) -> str:
    """The profile named after the ':' of `--config=path.py:PROFILE` (default 'full')."""
    profile = arg or "full"
    if profile not in PROFILES:
        raise ConfigError(f"unknown config variant {profile!r}; choose one of {PROFILES}")
    return profile


def new_config(arg: str | None) -> tuple[ml_collections.ConfigDict, bool]:
    """(a config holding `profile` and `seed = 0`, whether the profile is 'quick').

    The first lines of every `experiments/configs/*.get_config(arg)`.
    """
    profile = parse_profile(arg)
    config = ml_collections.ConfigDict()
    config.profile = profile
    config.seed = 0
    return config, profile == "quick"


# Validation helpers: each raises ConfigError naming the field.
def require_positive(config: Mapping[str, Any], *names: str) -> None:
    for name in names:
        value = config[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"config.{name} must be positive, got {value!r}")


def require_fields(config: Mapping[str, Any], fields: set[str]) -> None:
    """Raises ConfigError when the config has fields outside `fields` or lacks some of them."""
    unknown = sorted(set(config.keys()) - fields)
    missing = sorted(fields - set(config.keys()))
    if unknown or missing:
        raise ConfigError(f"unknown config fields {unknown}, missing {missing}")


def require_choice(config: Mapping[str, Any], name: str, choices) -> None:
    if config[name] not in choices:
        raise ConfigError(f"config.{name}={config[name]!r} is not one of {sorted(choices)}")


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_metrics(workdir: str | Path, metrics: Mapping[str, Any]) -> dict[str, float]:
    """Writes the flat `workdir/metrics.json` of named numbers and returns it."""
    flat = {}
    for name, value in metrics.items():
        value = float(value)
        flat[name] = value
    write_json(Path(workdir) / "metrics.json", flat)
    return flat


def write_config(workdir: str | Path, config: ml_collections.ConfigDict) -> None:
    """Writes `workdir/config.json`, the config the run used."""
    write_json(Path(workdir) / "config.json", _as_json(config))


def _as_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The config as config.json holds it (tuples as lists), for writing and comparing."""
    return json.loads(config.to_json_best_effort())


# Keys that may change between a run and its resumption: they change no number.
RESUME_SAFE_KEYS = frozenset({"log_every"})


def check_resumable(workdir: Path, config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError if `workdir` holds checkpoints saved under a different config.

    Training resumes from the checkpoints it finds in its workdir; resuming state
    trained with other seeds, rates or sizes would silently mix two runs in one
    metrics.json. Without checkpoints a rerun just overwrites, so any change is fine.
    """
    if not workdir.is_dir() or next(workdir.rglob("checkpoints"), None) is None:
        return
    path = workdir / "config.json"
    try:
        old = json.loads(path.read_text())
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{workdir} holds checkpoints but its config.json cannot be read ({e}), so they "
            "cannot be checked against this config: use a fresh --workdir or delete that one"
        ) from e
    new = _as_json(config)
    missing = object()
    changed = sorted(
        k for k in set(old) | set(new)
        if k not in RESUME_SAFE_KEYS and old.get(k, missing) != new.get(k, missing)
    )  # fmt: skip
    if changed:
        diffs = ", ".join(f"{k}: {old.get(k, '(absent)')!r} -> {new.get(k, '(absent)')!r}"
                          for k in changed[:6])  # fmt: skip
        more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        raise ConfigError(
            f"{workdir} holds checkpoints of a run with a different config ({diffs}{more}); "
            "resuming them would mix two runs: use a fresh --workdir or delete that one"
        )


def prepare_workdir(workdir: str | Path, config: ml_collections.ConfigDict) -> Path:
    """Creates the run directory and writes its config.json; call after validating the config.

    A workdir with checkpoints of a run under another config is refused
    (`check_resumable`): a rerun with the same config resumes, a changed one starts fresh
    elsewhere.
    """
    workdir = Path(workdir)
    check_resumable(workdir, config)
    workdir.mkdir(parents=True, exist_ok=True)
    write_config(workdir, config)
    return workdir


def read_metrics_json(workdir: str | Path) -> dict[str, float]:
    return json.loads((Path(workdir) / "metrics.json").read_text())


def finite_or_nan(x: float) -> float:
    return float(x) if math.isfinite(float(x)) else float("nan")


def save_figure(fig, workdir: str | Path, name: str) -> Path:
    """Saves a matplotlib figure as `workdir/name.png` and closes it."""
    import matplotlib.pyplot as plt

    path = Path(workdir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def fit_adam(
    loss_fn, params, learning_rate: float, train_key, data_key, batch_data, config,
    num_steps: int, workdir: str | Path,
):  # fmt: skip
    """Adam on `loss_fn` over batches (config.batch_size) of `batch_data`: the final TrainState.

    Logs every config.log_every steps and checkpoints into `workdir` (a rerun resumes).
    """
    import optax

    from genjax import data, train

    optimizer = optax.adam(learning_rate)
    state = train.create_train_state(params, optimizer, train_key)
    batch_fn = data.make_batch_fn(batch_data, config.batch_size, data_key)
    step = train.make_train_step(loss_fn, optimizer)
    return train.train(
        state, step, batch_fn, num_steps, workdir=workdir, log_every=config.log_every,
        tensorboard=False,
    ).state  # fmt: skip


def setup_logging() -> None:
    """genjax's progress lines at INFO; the checkpoint library's chatter at WARNING."""
    logging.getLogger("genjax").setLevel(logging.INFO)
    logging.getLogger("absl").setLevel(logging.WARNING)


def run_experiment(module_name: str, train_and_evaluate: Callable[..., Mapping[str, float]]):
    """The thin `main` of an experiment: the only place that defines flags."""
    import matplotlib

    matplotlib.use("Agg")
    from absl import app, flags
    from ml_collections import config_flags

    name = module_name.rsplit(".", 1)[-1] if module_name != "__main__" else None
    if name is None:
        name = Path(sys.argv[0]).stem
    flags.DEFINE_string("workdir", None, "Directory for metrics.json, config.json, figures, logs.")
    flags.mark_flag_as_required("workdir")
    config_flags.DEFINE_config_file(
        "config",
        str(CONFIGS_DIR / f"{name}.py"),
        f"Config file; append ':quick' for the small variant, e.g. "
        f"--config=experiments/configs/{name}.py:quick --config.seed=1",
        lock_config=True,
    )

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        setup_logging()
        config = flags.FLAGS.config
        workdir = Path(flags.FLAGS.workdir)
        try:
            metrics = train_and_evaluate(config, workdir)
        except ConfigError as e:
            print(f"error: bad config: {e}", file=sys.stderr)
            sys.exit(2)
        width = max(len(k) for k in metrics) if metrics else 0
        for key in sorted(metrics):
            print(f"{key:<{width}}  {metrics[key]:.6g}")
        print(f"wrote {workdir / 'metrics.json'}")

    try:
        app.run(main)
    except ConfigError as e:  # raised while parsing the config file itself
        print(f"error: bad config: {e}", file=sys.stderr)
        sys.exit(2)
