"""Orbax checkpoints of a whole `TrainState`, restored with the live state's shardings.

Besides orbax's step folders, `workdir/checkpoints/` holds `run_config.json` (the
config of the run that wrote the checkpoints, when `train` is given one) and
`pending_metrics/<step>.npz` (the per-step metrics of a checkpoint taken between
two log records, so that a resumed run logs the same means as an uninterrupted one).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from genjax.train.sharding import is_primary_process
from genjax.train.state import TrainState

log = logging.getLogger("genjax")

RUN_CONFIG_FILE = "run_config.json"
PENDING_DIR = "pending_metrics"
# Never compared between a checkpoint's config and a resuming run's: a run may be extended.
CONFIG_KEYS_IGNORED = frozenset({"num_steps"})


class CheckpointMismatchError(ValueError):
    """A checkpoint in the workdir does not fit the state of the run that wants to resume."""


class CheckpointCorruptError(RuntimeError):
    """No checkpoint in the workdir can be read."""


class ConfigMismatchError(ValueError):
    """The workdir's checkpoints were written by a run with a different config."""


def _path_name(path) -> str:
    parts = []
    for entry in path:
        for attr in ("name", "key", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return ".".join(parts)


def _is_key(x: Any) -> bool:
    """Whether `x` is a typed PRNG key array (dtype key<impl>) or its abstract value."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _key_impl(x: Any) -> Any:
    if isinstance(x, jax.Array):
        return jax.random.key_impl(x)
    return getattr(x.dtype, "_impl", None)  # an abstract key: its dtype carries the impl


def _to_storage(tree: Any) -> Any:
    """`tree` with typed keys replaced by their raw uint32 data (what orbax can write)."""
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _abstract_storage(tree: Any) -> Any:
    """Shapes, dtypes and shardings of `_to_storage(tree)`, the target of a restore."""

    def leaf(x):
        if _is_key(x):
            if isinstance(x, jax.Array):
                x = jax.random.key_data(x)
            else:
                return jax.eval_shape(jax.random.key_data, x)
        return ocp.utils.to_shape_dtype_struct(x)

    return jax.tree_util.tree_map(leaf, tree)


def _from_storage(restored: Any, like: Any) -> Any:
    """Wraps the raw key data of `restored` back into typed keys where `like` has them."""

    def leaf(x, data):
        return jax.random.wrap_key_data(data, impl=_key_impl(x)) if _is_key(x) else data

    return jax.tree_util.tree_map(leaf, like, restored)


def _leaf_signatures(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    leaves = jax.tree_util.tree_leaves_with_path(_abstract_storage(tree))
    return {_path_name(p): (tuple(x.shape), str(x.dtype)) for p, x in leaves}


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for k, v in config.items():
        if not prefix and k in CONFIG_KEYS_IGNORED:
            continue
        if isinstance(v, Mapping) and v:
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def config_as_json(config: Any) -> dict[str, Any]:
    """`config` (a mapping, or an object with `to_dict()`) as plain JSON values."""
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(dict(config), sort_keys=True))
    except (TypeError, ValueError) as e:
        raise TypeError(f"config must be JSON-serializable: {e}") from None


class _QuietAbsl:
    """Raises the `absl` logger (orbax's INFO chatter) to WARNING unless its level was set.

    A level set explicitly (e.g. INFO to debug orbax) is left alone. The level is
    restored on `restore()` if nobody changed it meanwhile.
    """

    def __init__(self) -> None:
        self._logger = logging.getLogger("absl")
        self._set = self._logger.level == logging.NOTSET
        if self._set:
            self._logger.setLevel(logging.WARNING)

    def restore(self) -> None:
        if self._set and self._logger.level == logging.WARNING:
            self._logger.setLevel(logging.NOTSET)
        self._set = False


class Checkpointer:
    """Saves and restores `TrainState`s under `workdir/checkpoints` (orbax CheckpointManager).

    Typed PRNG keys (`jax.random.key`) are stored as their raw data and wrapped
    again on restore with the implementation of the state being restored into.
    A latest checkpoint that cannot be read is moved aside (`<step>.corrupt`) and
    the one before it restored.
    """

    def __init__(self, workdir: str | Path, max_to_keep: int = 2):
        self.directory = (Path(workdir) / "checkpoints").absolute()
        self._quiet = _QuietAbsl()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def latest_step(self) -> int | None:
        """The newest saved step, or None when there is no checkpoint."""
        return self._manager.latest_step()

    def save(self, state: TrainState, pending: Mapping[str, np.ndarray] | None = None) -> None:
        """Saves `state` under its step (asynchronously; a step already saved is skipped).

        `pending` holds per-step metrics not yet logged (`name -> [steps, ...]`); they
        are kept next to the checkpoint and returned by `pending_metrics(step)`.
        """
        step = int(jax.device_get(state.step))
        if self._manager.latest_step() == step:
            return
        self._manager.save(step, args=ocp.args.StandardSave(_to_storage(state)), force=True)
        self._save_pending(step, pending)

    def _save_pending(self, step: int, pending: Mapping[str, np.ndarray] | None) -> None:
        if not is_primary_process():  # process 0 writes the side files of a multi-process run
            return
        folder = self.directory / PENDING_DIR
        keep = set(self._manager.all_steps())
        if pending:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f"{step}.tmp.npz"
            np.savez(tmp, **pending)
            tmp.replace(folder / f"{step}.npz")
            keep.add(step)
        if folder.exists():  # drop the files of steps orbax no longer keeps (or overwrote)
            for path in folder.glob("*.npz"):
                name = path.name.removesuffix(".npz")
                if (
                    not name.isdigit()
                    or int(name) not in keep
                    or (int(name) == step and not pending)
                ):
                    path.unlink(missing_ok=True)

    def pending_metrics(self, step: int) -> dict[str, np.ndarray]:
        """The not-yet-logged per-step metrics saved with the checkpoint at `step` ({} if none)."""
        path = self.directory / PENDING_DIR / f"{step}.npz"
        if not path.exists():
            return {}
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def restore(self, like: TrainState, step: int | None = None) -> TrainState:
        """Restores `step` (default: latest) with the structure, dtypes and shardings of `like`.

        Without `step`, a checkpoint that cannot be read is logged, moved aside, and the
        one before it restored.

        Raises:
          CheckpointMismatchError: the checkpoint holds other arrays than `like`.
          CheckpointCorruptError: no checkpoint can be read.
        """
        if step is not None:
            return self._restore_step(step, like)
        steps = sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        unreadable = []
        for s in steps:
            try:
                restored = self._restore_step(s, like)
            except CheckpointMismatchError:
                raise
            except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many kinds
                reason = (str(e).strip().splitlines() or [""])[0][:200]
                log.warning(
                    "the checkpoint at step %d in %s cannot be read (%s: %s); trying the one "
                    "before it", s, self.directory / str(s), type(e).__name__, reason,
                )  # fmt: skip
                unreadable.append(s)
                continue
            for bad in unreadable:
                self._move_aside(bad)
            if unreadable:
                self._manager.reload()
            return restored
        raise CheckpointCorruptError(
            f"no checkpoint in {self.directory} can be read (steps {', '.join(map(str, steps))}); "
            f"delete {self.directory} to start this run afresh"
        )

    def _restore_step(self, step: int, like: TrainState) -> TrainState:
        self._check_fits(step, like)
        abstract = _abstract_storage(like)
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        restored = TrainState(*restored) if not isinstance(restored, TrainState) else restored
        return _from_storage(restored, like)

    def _move_aside(self, step: int) -> None:
        """Renames an unreadable step folder so that the manager no longer lists it."""
        folder = self.directory / str(step)
        aside = self.directory / f"{step}.corrupt"
        if aside.exists():
            shutil.rmtree(aside)
        folder.rename(aside)
        log.warning("moved the unreadable checkpoint aside to %s", aside)

    def _check_fits(self, step: int, like: TrainState) -> None:
        """Compares the saved arrays' names, shapes and dtypes with `like`'s, before reading."""
        saved = {
            leaf.name: (tuple(leaf.shape), str(leaf.dtype))
            for leaf in jax.tree_util.tree_leaves(self._manager.item_metadata(step).tree)
        }
        wanted = _leaf_signatures(like)
        if saved != wanted:
            diff = sorted(
                f"{name}: saved {saved.get(name, 'nothing')}, run has {wanted.get(name, 'nothing')}"
                for name in set(saved) | set(wanted)
                if saved.get(name) != wanted.get(name)
            )
            raise CheckpointMismatchError(
                f"the checkpoint at step {step} in {self.directory} does not fit this run's "
                f"state (a different model or config?): {'; '.join(diff[:5])}"
                f"{' ...' if len(diff) > 5 else ''}. Use a new workdir or delete the checkpoints."
            )

    @property
    def config_path(self) -> Path:
        return self.directory / RUN_CONFIG_FILE

    def read_config(self) -> dict[str, Any] | None:
        """The config saved with the checkpoints, or None when there is none."""
        if not self.config_path.exists():
            return None
        return json.loads(self.config_path.read_text())

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Saves `config` (JSON values) as the config of this folder's checkpoints."""
        if not is_primary_process():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.config_path)

    def check_config(self, config: Mapping[str, Any]) -> None:
        """Raises `ConfigMismatchError` when `config` differs from the saved one (not num_steps).

        Without a saved config, `config` becomes the saved one.
        """
        saved = self.read_config()
        if saved is None:
            self.write_config(config)
            return
        old, new = _flatten(saved), _flatten(config)
        absent = object()

        def show(value: Any) -> str:
            return "(absent)" if value is absent else repr(value)

        changed = sorted(k for k in set(old) | set(new) if old.get(k, absent) != new.get(k, absent))
        if changed:
            diffs = ", ".join(
                f"{k}: {show(old.get(k, absent))} -> {show(new.get(k, absent))}"
                for k in changed[:8]
            )
            more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
            raise ConfigMismatchError(
                f"the checkpoints in {self.directory} were written under another config "
                f"({diffs}{more}); use a new workdir or delete {self.directory}"
            )

    def wait(self) -> None:
        """Blocks until pending saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finishes pending saves and releases the manager's threads."""
        self._manager.close()
        self._quiet.restore()
