"""Orbax checkpoints of a whole `TrainState`, restored with the live state's shardings."""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp

from genjax.train.state import TrainState


class Checkpointer:
    """Saves and restores `TrainState`s under `workdir/checkpoints` (orbax CheckpointManager)."""

    def __init__(self, workdir: str | Path, max_to_keep: int = 2):
        self.directory = (Path(workdir) / "checkpoints").absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state: TrainState) -> None:
        step = int(jax.device_get(state.step))
        if self._manager.latest_step() == step:
            return
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, like: TrainState, step: int | None = None) -> TrainState:
        """Restores `step` (default: latest) with the structure, dtypes and shardings of `like`."""
        step = self._manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        return TrainState(*restored) if not isinstance(restored, TrainState) else restored

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
