"""Orbax checkpoints of a whole `TrainState`, restored with the live state's shardings."""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp

from genjax.train.state import TrainState


class CheckpointMismatchError(ValueError):
    """A checkpoint in the workdir does not fit the state of the run that wants to resume."""


def _path_name(path) -> str:
    parts = []
    for entry in path:
        for attr in ("name", "key", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return ".".join(parts)


def _leaf_signatures(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return {_path_name(p): (tuple(x.shape), str(x.dtype)) for p, x in leaves}


class Checkpointer:
    """Saves and restores `TrainState`s under `workdir/checkpoints` (orbax CheckpointManager)."""

    def __init__(self, workdir: str | Path, max_to_keep: int = 2):
        self.directory = (Path(workdir) / "checkpoints").absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def latest_step(self) -> int | None:
        """The newest saved step, or None when there is no checkpoint."""
        return self._manager.latest_step()

    def save(self, state: TrainState) -> None:
        """Saves `state` under its step (asynchronously; a step already saved is skipped)."""
        step = int(jax.device_get(state.step))
        if self._manager.latest_step() == step:
            return
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, like: TrainState, step: int | None = None) -> TrainState:
        """Restores `step` (default: latest) with the structure, dtypes and shardings of `like`."""
        step = self._manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        self._check_fits(step, like)
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        return TrainState(*restored) if not isinstance(restored, TrainState) else restored

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

    def wait(self) -> None:
        """Blocks until pending saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finishes pending saves and releases the manager's threads."""
        self._manager.close()
