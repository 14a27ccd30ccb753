"""What every experiment shares: flags, config validation, metrics.json / config.json, figures.

An experiment module defines `train_and_evaluate(config, workdir) -> metrics`
(importable and testable on its own) and ends with

    if __name__ == "__main__":
        common.run_experiment(__name__, train_and_evaluate)

An experiment whose finished runs may be extended declares `EXTENDABLE`, the config
fields that are total step counts of training loops that resume from their checkpoints
(see `check_resumable`), and passes it to `prepare_workdir`: rerunning into the same
workdir with a larger count trains on instead of being refused as a changed config.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ml_collections

from genjax import provenance
from genjax.train.lock import WorkdirLock, WorkdirLockedError
from genjax.train.sharding import is_primary_process

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
    # Training checkpoints at least this often (and on Ctrl-C / SIGTERM), so a preempted
    # run loses at most a few minutes; it changes no number, so a rerun may change it.
    config.checkpoint_every_secs = 300.0
    return config, profile == "quick"


# Validation helpers: each raises ConfigError naming the field.
def require_positive(config: Mapping[str, Any], *names: str) -> None:
    for name in names:
        value = config[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"config.{name} must be positive, got {value!r}")


def require_choice(config: Mapping[str, Any], name: str, choices) -> None:
    if config[name] not in choices:
        raise ConfigError(f"config.{name}={config[name]!r} is not one of {sorted(choices)}")


def require_batch_fits(
    batch_size: int, num_examples: int, what: str, field: str = "batch_size"
) -> None:
    """Raises ConfigError unless a batch of `batch_size` fits in the `num_examples` of `what`.

    Minibatches are drawn without replacement within each epoch, so a batch larger
    than a fixed data set (`what`, e.g. "MNIST's training set") cannot be drawn.
    Call it right after loading the data, before training.
    """
    if batch_size > num_examples:
        raise ConfigError(
            f"config.{field} must be at most {num_examples} (the examples in {what}), "
            f"got {batch_size}"
        )


def load_mnist(config: Mapping[str, Any]):
    """MNIST's (train, test) `ImageDataset`s from `config.mnist_source` (`genjax.data.load_mnist`).

    A source that cannot be read (a missing folder or file, a malformed file, a library
    that is not installed) is a ConfigError naming the field.
    """
    from genjax import data

    source = config["mnist_source"]
    try:
        return data.load_mnist("train", source=source), data.load_mnist("test", source=source)
    except (OSError, ValueError, TypeError, ImportError) as e:
        raise ConfigError(f"config.mnist_source={source!r} cannot be read: {e}") from e


def write_json(path: Path, obj: Any) -> None:
    """Writes `obj` to `path` whole (through a temporary file); in a multi-process run
    (`--distributed`) process 0 alone writes."""
    if not is_primary_process():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")
    tmp.replace(path)


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
RESUME_SAFE_KEYS = frozenset({"log_every", "checkpoint_every_secs"})


def check_resumable(
    workdir: Path, config: ml_collections.ConfigDict, extendable: tuple[str, ...] = ()
) -> None:
    """Raises ConfigError if `workdir` holds checkpoints saved under a different config.

    Training resumes from the checkpoints it finds in its workdir; resuming state
    trained with other seeds, rates or sizes would silently mix two runs in one
    metrics.json. Without checkpoints a rerun just overwrites, so any change is fine.

    Args:
      extendable: the experiment's `EXTENDABLE` fields, which may grow (never shrink):
        each is the total step count of training loops that resume from their
        checkpoints and whose steps do not depend on that total (no schedule, no data
        drawn over it), so the rerun trains on to the new count and ends where a run
        asked for that many steps from the start would.
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
        and not (k in extendable and _grew(old.get(k), new.get(k)))
    )  # fmt: skip
    if changed:
        diffs = ", ".join(f"{k}: {old.get(k, '(absent)')!r} -> {new.get(k, '(absent)')!r}"
                          for k in changed[:6])  # fmt: skip
        more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        raise ConfigError(
            f"{workdir} holds checkpoints of a run with a different config ({diffs}{more}); "
            "resuming them would mix two runs: use a fresh --workdir or delete that one"
        )


def _grew(old: Any, new: Any) -> bool:
    """Whether a step count went up (ints only: anything else is a change)."""
    counts = [v for v in (old, new) if isinstance(v, int) and not isinstance(v, bool)]
    return len(counts) == 2 and new > old


def check_workdir(path: str | Path) -> Path:
    """`path` as a Path, once it is a directory that files can be written to.

    Creates the directory (and its parents) when absent, then writes and deletes a
    probe file in it. Raises ConfigError naming --workdir when `path` is an existing
    file, or when the directory cannot be created or written (no permission, a
    read-only file system, a parent that is a file).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--workdir must be a directory, got {str(path)!r}, an existing file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(
            f"--workdir must be a writable directory, got {str(path)!r} ({e.strerror or e})"
        ) from e
    return path


def prepare_workdir(
    workdir: str | Path, config: ml_collections.ConfigDict, extendable: tuple[str, ...] = ()
) -> Path:
    """Creates the run directory, writes config.json and environment.json; call after validating.

    A workdir with checkpoints of a run under another config is refused
    (`check_resumable`): a rerun with the same config resumes, a changed one starts fresh
    elsewhere; a larger step count in one of the `extendable` fields (the experiment's
    `EXTENDABLE`) trains on from the checkpoints. A workdir that is a file or cannot be
    written is refused (`check_workdir`), and so is one that another live process holds
    (`genjax.train.WorkdirLock`): two runs in one folder would mix their metrics. The
    lock is held until `release_workdirs`.
    """
    workdir = check_workdir(Path(workdir))
    _workdir_locks.append(WorkdirLock(workdir).acquire())  # before anything is read or written
    check_resumable(workdir, config, extendable)
    write_config(workdir, config)
    if is_primary_process():
        provenance.write_environment(workdir)
    return workdir


# The experiments' workdir locks, taken by `prepare_workdir` and held until the run ends.
_workdir_locks: list[WorkdirLock] = []


def release_workdirs() -> None:
    """Releases the workdir locks `prepare_workdir` took (also at interpreter exit)."""
    while _workdir_locks:
        _workdir_locks.pop().release()


atexit.register(release_workdirs)


def read_metrics_json(workdir: str | Path) -> dict[str, float]:
    return json.loads((Path(workdir) / "metrics.json").read_text())


def finite_or_nan(x: float) -> float:
    return float(x) if math.isfinite(float(x)) else float("nan")


def save_figure(fig, workdir: str | Path, name: str) -> Path:
    """Saves a matplotlib figure as `workdir/name.png` (at `plotting.DPI`) and closes it
    (process 0 alone saves in a multi-process run)."""
    import matplotlib.pyplot as plt

    from experiments import plotting

    path = Path(workdir) / f"{name}.png"
    if is_primary_process():
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=plotting.DPI, bbox_inches="tight", pad_inches=0.03)
    plt.close(fig)
    return path


def plot_stability(rows, methods, depths, lrs, workdir: str | Path) -> Path:
    """`workdir/stability.png`: per method, a (D depth x learning rate) table of a stability
    study (gan_mixture's sweep): success fraction, coloured (with a colour bar); the mean
    modes captured and high-quality fraction over the cell's seeds written in it.

    Args:
      rows: (method, depth, lr, seed, modes, hq, success) per run.
      methods: the methods' order (those without rows are left out).
    """
    import collections
    import itertools

    import numpy as np

    from experiments import plotting

    names = [m for m in methods if any(r[0] == m for r in rows)]
    depths, lrs = tuple(depths), tuple(lrs)
    counts = collections.Counter((r[0], r[1], r[2]) for r in rows)
    fig, axes = plotting.figure(
        1, len(names), width=plotting.TEXT_WIDTH if len(names) > 1 else plotting.COLUMN_WIDTH,
        height=0.6 * len(depths) + 1.3, squeeze=False, sharey=True,
    )  # fmt: skip
    image = None
    for ax, name in zip(axes[0], names, strict=True):
        shape = (len(depths), len(lrs))
        success, modes, hq = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        for method, depth, lr, _, m, h, ok in rows:
            if method == name:
                cell = depths.index(depth), lrs.index(lr)
                n = counts[method, depth, lr]
                success[cell] += ok / n
                modes[cell] += m / n
                hq[cell] += h / n
        image = ax.imshow(success, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.tick_params(length=0)
        ax.set_xlabel("learning rate")
        if ax is axes[0, 0]:
            ax.set_ylabel("discriminator hidden layers")
        rate = np.mean([r[-1] for r in rows if r[0] == name])
        ax.set_title(f"{plotting.gan_variant(name)}\n{rate:.0%} of runs succeed")
        for i, j in itertools.product(range(len(depths)), range(len(lrs))):
            text = f"{success[i, j]:.2f}\n{modes[i, j]:.1f}\n{hq[i, j]:.0%}"
            color = "k" if success[i, j] > 0.6 else "w"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8,
                    linespacing=1.1)  # fmt: skip
    fig.colorbar(image, ax=axes[0, :], label="success rate (share of seeds)", shrink=0.9)
    fig.suptitle(
        "Success rate by learning rate and discriminator depth\n"
        "cell text: success rate; mean modes captured; mean share of high-quality samples\n"
        "(a sample is high-quality within 3 standard deviations of its nearest mode)"
    )
    return save_figure(fig, workdir, "stability")


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
        checkpoint_every_secs=config.checkpoint_every_secs,
        tensorboard=False,
    ).state  # fmt: skip


def experiment_fn(name: str) -> Callable[..., Mapping[str, float]]:
    """`train_and_evaluate` of experiment `name`, imported when called for.

    The one way the main job (or an experiment) runs an experiment: experiments import no
    other experiment's internals.
    """
    return importlib.import_module(f"experiments.{name}").train_and_evaluate


# Shared by experiments.music and experiments.music_merge, which joins music runs.
def music_dataset_prefixes(config: Mapping[str, Any]) -> list[str]:
    """The metric prefixes of the datasets a music config trains: '' for the data_path file,
    'chorales_' for music21's chorales. Takes the ConfigDict or a run's saved config.json
    (those written before the `chorales` field trained the chorales always)."""
    wanted = (("", config.get("data_path")), ("chorales_", config.get("chorales", True)))
    return [prefix for prefix, on in wanted if on]


def select_music_cell(metrics: dict[str, float], cells, prefix: str = "") -> str:
    """The cell with the lowest `{prefix}valid_nll_per_step_{cell}`; writes its valid and test
    NLL as `{prefix}{split}_nll_per_step_selected` (and `..._selected_all_frames` where the
    cell has them) and `{prefix}selected_cell_index` (its index in `genjax.rnn.CELL_NAMES`)."""
    from genjax.rnn.cells import CELL_NAMES

    selected = min(cells, key=lambda c: metrics[f"{prefix}valid_nll_per_step_{c}"])
    for split in ("valid", "test"):
        metrics[f"{prefix}{split}_nll_per_step_selected"] = metrics[
            f"{prefix}{split}_nll_per_step_{selected}"
        ]
        all_frames = f"{prefix}{split}_nll_per_step_{selected}_all_frames"
        if all_frames in metrics:
            metrics[f"{prefix}{split}_nll_per_step_selected_all_frames"] = metrics[all_frames]
    metrics[f"{prefix}selected_cell_index"] = float(CELL_NAMES.index(selected))
    return selected


# `--runs_devices`: how many devices `runs_mesh` spans (0: every device of every process).
_runs_devices = 0


def runs_mesh():
    """The mesh that multi-run training splits its runs over (`genjax.train.runs_mesh`):
    every device of every process, or the first `--runs_devices`; None for one device."""
    import jax

    from genjax import train

    count = _runs_devices or jax.device_count()
    return train.runs_mesh(count) if count > 1 else None


def _start_devices(
    distributed: bool, runs_devices: int, process: dict[str, Any], cpu_devices: int = 1
) -> None:
    """Splits the CPU into `--cpu_devices` devices, joins the processes of a multi-process
    run (`jax.distributed.initialize`), both before anything touches a device, and checks
    `--runs_devices` against the devices there are."""
    import jax

    from genjax import train

    global _runs_devices
    if cpu_devices < 0:
        _exit_bad_input(f"--cpu_devices must be >= 0 (0: one per core), got {cpu_devices}")
    if cpu_devices != 1:
        try:
            train.use_cpu_devices(cpu_devices or None)
        except ValueError as e:
            _exit_bad_input(f"--cpu_devices: {e}")
    if distributed:
        try:
            jax.distributed.initialize(**{k: v for k, v in process.items() if v is not None})
        except (ValueError, RuntimeError) as e:  # e.g. no cluster found and no flags given
            _exit_bad_input(f"--distributed: {e}")
    elif any(v is not None for v in process.values()):
        _exit_bad_input(f"--{', --'.join(k for k, v in process.items() if v is not None)} "
                        "need --distributed")  # fmt: skip
    # Only a nonzero count is checked against the devices: touching them logs (e.g. a
    # missing TPU runtime), and a bad-input error must stay one line.
    if runs_devices < 0 or (runs_devices and runs_devices > jax.device_count()):
        _exit_bad_input(
            f"--runs_devices must be in [0, {jax.device_count()}] (0: all), got {runs_devices}"
        )
    _runs_devices = runs_devices


def setup_logging() -> None:
    """genjax's progress lines at INFO; the checkpoint library's chatter at WARNING."""
    logging.getLogger("genjax").setLevel(logging.INFO)
    logging.getLogger("absl").setLevel(logging.WARNING)


def _exit_bad_input(message: str) -> None:
    """Ends the process with one line `error: message` on stderr and exit status 2."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr)
    sys.exit(2)


def _exception_chain(e: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


def _flag_value(argv: list[str], flag: str) -> str | None:
    """The value given to `--flag` in argv (`--flag=v` or `--flag v`), the last one wins."""
    value = None
    for i, arg in enumerate(argv):
        if arg in (f"--{flag}", f"-{flag}") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith((f"--{flag}=", f"-{flag}=")):
            value = arg.split("=", 1)[1]
    return value


def _bad_flags_message(e: BaseException, argv: list[str]) -> str:
    """One line saying which flag, config file or config field the parsing failed on."""
    chain = _exception_chain(e)
    config_errors = [x for x in chain if isinstance(x, ConfigError)]
    if config_errors:  # raised by a config file's get_config, e.g. an unknown profile
        return str(config_errors[-1])
    key_errors = [x for x in chain if isinstance(x, KeyError) and x.args]
    if key_errors and isinstance(chain[0], (AttributeError, KeyError)):
        # An override of a field the config lacks, e.g. --config.nonexistent=3.
        key = str(key_errors[-1].args[0])
        path = key
        for arg in argv:
            m = re.match(r"--?(?:no)?config\.([\w.]+)", arg)
            if m and key in m.group(1).split("."):
                path = m.group(1)
        hint = re.search(r'Did you mean "([^"]+)"', " ".join(str(x.args[0]) for x in key_errors))
        message = f"--config.{path} must name a field of the config, got unknown field {key!r}"
        return message + (f" (did you mean {hint.group(1)!r}?)" if hint else "")
    loading = [x for x in chain if isinstance(x, OSError) and "config file" in str(x)]
    if loading:  # the --config file is missing or unreadable
        reason = re.search(r"\[Errno \d+\] ([^:\n]+)", str(loading[-1]))
        value = _flag_value(argv, "config")
        message = f"--config must be a readable config file, got {value!r}"
        return message + (f" ({reason.group(1)})" if reason else "")
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    from absl import flags

    if isinstance(e, flags.Error):  # e.g. an unknown flag, a value that does not parse
        return first_line
    overrides = [a.split("=", 1)[0] for a in argv if re.match(r"--?(?:no)?config\.", a)]
    if overrides:
        return f"{', '.join(overrides)} cannot be applied to the config: {first_line}"
    return f"{first_line} ({type(e).__name__})"


def run_experiment(module_name: str, train_and_evaluate: Callable[..., Mapping[str, float]]):
    """The thin `main` of an experiment: the only place that defines flags.

    Bad input stops it before any work, with one line `error: ...` on stderr and exit
    status 2: an unknown flag or config field, a value that does not parse, a config
    file that cannot be loaded, and the config values or workdir that
    `train_and_evaluate` refuses (ConfigError).
    """
    import matplotlib

    matplotlib.use("Agg")
    from absl import app, flags
    from ml_collections import config_flags

    name = module_name.rsplit(".", 1)[-1] if module_name != "__main__" else None
    if name is None:
        name = Path(sys.argv[0]).stem
    flags.DEFINE_string("workdir", None, "Directory for metrics.json, config.json, figures, logs.")
    flags.mark_flag_as_required("workdir")
    flags.DEFINE_bool(
        "distributed", False, "One process of a multi-host run: call "
        "jax.distributed.initialize() first (on TPU pods, Slurm and Open MPI it finds its "
        "peers itself; elsewhere give the three flags below). Run the same command on every "
        "host, with the same --workdir on a shared file system.",
    )  # fmt: skip
    flags.DEFINE_string("coordinator_address", None, "With --distributed: process 0's host:port.")
    flags.DEFINE_integer("num_processes", None, "With --distributed: the number of processes.")
    flags.DEFINE_integer("process_id", None, "With --distributed: this process's index.")
    flags.DEFINE_integer(
        "runs_devices", 0, "Devices that multi-run training splits its runs over (0: all).",
    )  # fmt: skip
    flags.DEFINE_integer(
        "cpu_devices", 1, "JAX devices to split the CPU into (0: one per core). XLA steps "
        "one device's runs on about one core; with one device per core, multi-run "
        "training spreads its runs over every core. Each run's numbers equal the "
        "one-device run's up to float rounding.",
    )  # fmt: skip
    try:  # loads the default config file now, and applies the --config.* overrides to it
        config_flags.DEFINE_config_file(
            "config",
            str(CONFIGS_DIR / f"{name}.py"),
            f"Config file; append ':quick' for the small variant, e.g. "
            f"--config=experiments/configs/{name}.py:quick --config.seed=1",
            lock_config=True,
        )
    except Exception as e:  # reported in one line, as a bad flag
        _exit_bad_input(_bad_flags_message(e, sys.argv))

    def parse_flags(argv: list[str]) -> list[str]:
        try:
            rest = flags.FLAGS(argv)
            flags.FLAGS.config.keys()  # a --config file that failed to load raises when read
        except Exception as e:
            _exit_bad_input(_bad_flags_message(e, argv))
        return rest

    def main(argv):
        if len(argv) > 1:
            _exit_bad_input(f"unexpected arguments: {argv[1:]}")
        names = ("coordinator_address", "num_processes", "process_id")
        process = {name: getattr(flags.FLAGS, name) for name in names}
        _start_devices(
            flags.FLAGS.distributed, flags.FLAGS.runs_devices, process, flags.FLAGS.cpu_devices
        )
        setup_logging()
        config = flags.FLAGS.config
        workdir = Path(flags.FLAGS.workdir)
        try:
            metrics = train_and_evaluate(config, workdir)
        except (ConfigError, WorkdirLockedError) as e:
            _exit_bad_input(str(e))
        finally:
            release_workdirs()
        width = max(len(k) for k in metrics) if metrics else 0
        for key in sorted(metrics):
            print(f"{key:<{width}}  {metrics[key]:.6g}")
        print(f"wrote {workdir / 'metrics.json'}")

    app.run(main, flags_parser=parse_flags)
