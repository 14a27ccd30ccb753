"""The training loop every experiment uses.

One jitted step; metrics stay on device and are read once per log interval
(every step's values are checked for NaN/Inf then); progress with steps/s and
ETA; orbax checkpoints and resumption from the workdir; optional data
parallelism over a `jax.sharding.Mesh`.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from genjax.train import sharding as sharding_lib
from genjax.train.checkpoint import Checkpointer
from genjax.train.state import Batch, TrainState, TrainStep
from genjax.train.writer import MetricWriter

log = logging.getLogger("genjax")

EvalFn = Callable[[TrainState], Mapping[str, Any]]


class _DeferredInterrupt:
    """Holds a Ctrl-C until the running step has returned its new state.

    The jitted step donates its input state: a KeyboardInterrupt raised while the
    step is being dispatched leaves `state` naming deleted buffers, and the
    checkpoint on interrupt then fails. Inside this context the first SIGINT is
    only recorded and `check()` raises it between steps; a second one interrupts
    at once. Installed only from the main thread over Python's default handler
    (a handler the caller installed is left alone).
    """

    def __init__(self) -> None:
        self.pending = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        del signum, frame
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True
        log.warning("interrupt: stopping after this step (Ctrl-C again to stop at once)")

    def check(self) -> None:
        if self.pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _deleted(tree: Any) -> bool:
    """Whether any array of `tree` was donated away (a step interrupted mid-dispatch)."""
    return any(isinstance(x, jax.Array) and x.is_deleted() for x in jax.tree_util.tree_leaves(tree))


class NonFiniteError(FloatingPointError):
    """A logged training metric became NaN or Inf."""

    def __init__(
        self, metric: str, step: int, value: float, checkpoint: str | None, also: list[str] = ()
    ):
        self.metric, self.step, self.value = metric, step, value
        others = f" (also non-finite: {', '.join(also)})" if also else ""
        where = f"; the last good checkpoint is kept: {checkpoint}" if checkpoint else ""
        super().__init__(f"training metric {metric!r} became {value} at step {step}{others}{where}")


class TrainResult(NamedTuple):
    """What `train` returns: the final state and every logged record."""

    state: TrainState
    history: list[dict[str, Any]]  # the records that were logged, train and eval


@jax.jit
def _stack_metrics(metrics: list[dict[str, jax.Array]]) -> dict[str, jax.Array]:
    """Stacks a list of per-step metric dicts into one dict of [steps, ...] arrays."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *metrics)


def _format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _check_positive(name: str, value: int | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def train(
    state: TrainState,
    train_step: TrainStep,
    batch_fn: Callable[[int], Batch],
    num_steps: int,
    *,
    workdir: str | Path | None = None,
    mesh: Mesh | None = None,
    data_axis: str = sharding_lib.DATA_AXIS,
    log_every: int = 100,
    checkpoint_every: int | None = None,
    eval_fn: EvalFn | None = None,
    eval_every: int | None = None,
    tensorboard: bool = True,
    progress: bool = True,
    max_to_keep: int = 2,
) -> TrainResult:
    """Runs `train_step` until `state.step == num_steps`, resuming from a checkpoint in `workdir`.

    Args:
      state: the initial state (its structure and shardings also guide restores).
      train_step: a pure `train_step(state, batch) -> (state, metrics)`; jitted once here.
      batch_fn: `batch_fn(step) -> batch`, this process's batch for `step`; make
        it a pure function of `step` (see `genjax.data.make_batch_fn`) so that a
        resumed run sees the same batches as an uninterrupted one.
      num_steps: the total number of steps of the run (not the number still to do).
      workdir: where `metrics.jsonl`, TensorBoard events and `checkpoints/` go;
        `None` trains in memory with no outputs.
      mesh: replicate the state and shard every batch over `mesh`'s `data_axis`.
      log_every: steps between metric reads, NaN checks, log records and progress lines.
      checkpoint_every: steps between checkpoints (with `workdir`; default: only
        at the end and on interruption).
      eval_fn: `eval_fn(state) -> scalars`, run every `eval_every` steps and at the end.
      eval_every: steps between evaluations (default: only at the end).
      tensorboard: also write TensorBoard event files.
      progress: log a progress line (step, steps/s, ETA, loss) every `log_every` steps.
      max_to_keep: checkpoints kept on disk.

    Returns:
      The final state and the logged records.

    Raises:
      NonFiniteError: a metric became NaN/Inf; no checkpoint of a bad state is written.
    """
    _check_positive("num_steps", num_steps, allow_none=False)
    _check_positive("log_every", log_every, allow_none=False)
    _check_positive("checkpoint_every", checkpoint_every)
    _check_positive("eval_every", eval_every)

    writer = MetricWriter(workdir, tensorboard=tensorboard) if workdir is not None else None
    ckpt = Checkpointer(workdir, max_to_keep=max_to_keep) if workdir is not None else None
    try:
        history: list[dict[str, Any]] = []

        # The jitted step donates its input state; copy so the caller's arrays stay valid.
        state = jax.tree_util.tree_map(jnp.copy, state)
        if mesh is not None:
            state_sharding = sharding_lib.replicated(mesh)
            batch_sharding = sharding_lib.batch_sharded(mesh, data_axis)
            state = jax.device_put(state, state_sharding)
            step_fn = jax.jit(
                train_step,
                in_shardings=(state_sharding, batch_sharding),
                out_shardings=(state_sharding, state_sharding),
                donate_argnums=(0,),
            )

            def put_batch(batch: Batch) -> Batch:
                return sharding_lib.shard_batch(batch, mesh, data_axis)
        else:
            step_fn = jax.jit(train_step, donate_argnums=(0,))

            def put_batch(batch: Batch) -> Batch:
                return batch

        if ckpt is not None and ckpt.latest_step() is not None:
            state = ckpt.restore(state)
            start = int(jax.device_get(state.step))
            log.info("resumed from %s at step %d", ckpt.directory, start)
            if writer is not None:
                writer.truncate_after(start)
        start = int(jax.device_get(state.step))
        if start > num_steps:
            raise ValueError(f"the state is at step {start}, past num_steps={num_steps}")

        def record(step: int, scalars: Mapping[str, Any], split: str) -> None:
            history.append(
                {"step": step, "split": split, **{k: float(v) for k, v in scalars.items()}}
            )
            if writer is not None:
                writer.write_scalars(step, scalars, split)

        pending: list[dict[str, jax.Array]] = []  # device metrics of steps not yet read
        last_saved = ckpt.latest_step() if ckpt is not None else None
        t_last, step_last = time.perf_counter(), start

        def flush(step: int) -> None:
            """Reads pending metrics, stops on NaN/Inf, logs their mean."""
            nonlocal pending, t_last, step_last
            if not pending:
                return
            # One device op and one transfer per metric, not one per metric per step.
            stacked = jax.device_get(_stack_metrics(pending))  # name -> [steps, ...]
            first = step - len(pending) + 1
            finite = {
                name: np.isfinite(v).reshape(len(v), -1).all(axis=1) for name, v in stacked.items()
            }
            bad_steps = [i for i in range(len(pending)) if not all(f[i] for f in finite.values())]
            if bad_steps:
                i = bad_steps[0]
                bad = [
                    n for n in sorted(stacked, key=lambda n: (n != "loss", n)) if not finite[n][i]
                ]
                if ckpt is not None:
                    ckpt.wait()
                where = None
                if ckpt is not None and last_saved is not None:
                    where = f"step {last_saved} in {ckpt.directory}"
                value = float(np.asarray(stacked[bad[0]][i]).ravel()[0])
                raise NonFiniteError(bad[0], first + i, value, where, also=bad[1:])
            pending = []
            means = {k: float(np.mean(v)) for k, v in stacked.items()}
            now = time.perf_counter()
            rate = (step - step_last) / max(now - t_last, 1e-9)
            t_last, step_last = now, step
            record(step, {**means, "steps_per_sec": rate}, "train")
            if progress:
                eta = (num_steps - step) / rate if rate > 0 else float("inf")
                log.info(
                    "step %d/%d | %.1f steps/s | ETA %s | loss %.5g",
                    step, num_steps, rate, _format_eta(eta), means.get("loss", float("nan")),
                )  # fmt: skip

        def save() -> None:
            nonlocal last_saved
            if ckpt is not None:
                ckpt.save(state)
                last_saved = int(jax.device_get(state.step))

        def evaluate(step: int) -> None:
            if eval_fn is not None:
                record(step, dict(eval_fn(state)), "eval")

        step = start
        interrupt = _DeferredInterrupt()
        try:
            with interrupt:
                while step < num_steps:
                    interrupt.check()
                    batch = put_batch(batch_fn(step))
                    state, metrics = step_fn(state, batch)
                    pending.append(metrics)
                    step += 1
                    done = step == num_steps
                    if done or step % log_every == 0:
                        flush(step)
                    if eval_every is not None and step % eval_every == 0 and not done:
                        evaluate(step)
                    if checkpoint_every is not None and step % checkpoint_every == 0 and not done:
                        flush(step)
                        save()
        except KeyboardInterrupt:
            # Keep the work done so far: check what was not yet read, then save.
            if _deleted(state):  # a second Ctrl-C inside the step's dispatch
                log.warning("interrupted inside step %d: its input was donated, nothing saved "
                            "(last checkpoint: step %s)", step + 1, last_saved)  # fmt: skip
                raise
            flush(step)
            save()
            if ckpt is not None:
                ckpt.wait()
                log.warning("interrupted at step %d; checkpoint saved in %s", step, ckpt.directory)
            raise
        finally:
            if writer is not None:
                writer.flush()

        evaluate(step)
        save()
        interrupt.check()  # a Ctrl-C during the last step: saved, now stop
        return TrainResult(state, history)
    finally:  # on success and on every error: finish writes, release threads and files
        if ckpt is not None:
            ckpt.wait()
            ckpt.close()
        if writer is not None:
            writer.close()
