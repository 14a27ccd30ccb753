"""The training loop every experiment uses.

One jitted step; metrics stay on device and are read once per log interval
(every step's values are checked for NaN/Inf then); progress with steps/s and
ETA; orbax checkpoints (every N steps, every few minutes, on Ctrl-C and SIGTERM)
and resumption from the workdir; an optional stopping tolerance; optional data
parallelism over a `jax.sharding.Mesh`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
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
from genjax.train.checkpoint import Checkpointer, config_as_json
from genjax.train.lock import WorkdirLock
from genjax.train.state import Batch, TrainState, TrainStep
from genjax.train.writer import MetricWriter, read_metrics

log = logging.getLogger("genjax")

EvalFn = Callable[[TrainState], Mapping[str, Any]]
StopFn = Callable[[int, Mapping[str, float]], bool]


class _Terminated(SystemExit):
    """SIGTERM, raised between steps after the checkpoint: exits with 128 + 15."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


class _DeferredSignals:
    """Holds Ctrl-C (SIGINT) and SIGTERM until the running step has returned its new state.

    The jitted step donates its input state: an exception raised while the step is
    being dispatched leaves `state` naming deleted buffers, and the checkpoint on
    interrupt then fails. Inside this context the first signal is only recorded
    and `check()` raises it between steps (KeyboardInterrupt for SIGINT,
    `SystemExit(143)` for SIGTERM); a second one raises at once. Installed only from
    the main thread over the default handlers (a handler the caller installed is
    left alone).
    """

    _DEFAULTS = ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL))

    def __init__(self) -> None:
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            for signum, default in self._DEFAULTS:
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    @staticmethod
    def _exception(signum: int) -> BaseException:
        return KeyboardInterrupt() if signum == signal.SIGINT else _Terminated()

    def _handle(self, signum, frame) -> None:
        del frame
        if self.pending is not None:
            raise self._exception(signum)
        self.pending = signum
        name = "interrupt" if signum == signal.SIGINT else "SIGTERM"
        log.warning("%s: stopping after this step (send it again to stop at once)", name)

    def check(self) -> None:
        if self.pending is not None:
            raise self._exception(self.pending)

    def __exit__(self, *exc_info: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


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
    """What `train` returns.

    Attributes:
      state: the final state.
      history: every logged record, train and eval (with a workdir: the whole
        `metrics.jsonl`, including the steps of earlier, resumed-from attempts).
      converged: whether `stop_fn` stopped the run; None without a `stop_fn`.
    """

    state: TrainState
    history: list[dict[str, Any]]
    converged: bool | None = None


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


class _Options(NamedTuple):
    """`train`'s keyword settings (see `train`)."""

    num_steps: int
    workdir: str | Path | None
    mesh: Mesh | None
    data_axis: str
    log_every: int
    checkpoint_every: int | None
    checkpoint_every_secs: float | None
    eval_fn: EvalFn | None
    eval_every: int | None
    stop_fn: StopFn | None
    config: Mapping[str, Any] | None
    tensorboard: bool
    progress: bool
    name: str | None
    max_to_keep: int


def _check_options(opts: _Options) -> None:
    _check_positive("num_steps", opts.num_steps, allow_none=False)
    _check_positive("log_every", opts.log_every, allow_none=False)
    _check_positive("checkpoint_every", opts.checkpoint_every)
    _check_positive("eval_every", opts.eval_every)
    secs = opts.checkpoint_every_secs
    if secs is not None and not (isinstance(secs, (int, float)) and secs > 0):
        raise ValueError(f"checkpoint_every_secs must be a positive number or None, got {secs!r}")


class _Progress:
    """One line per log interval: step/total, steps/s and ETA (both measured after the
    first interval, which includes compilation) and the loss.

    Lines go to the `genjax` logger at INFO when it is configured to show them, and
    straight to stderr otherwise, so that a plain script shows progress too.
    """

    def __init__(self, name: str, num_steps: int):
        self.name, self.num_steps = name, num_steps
        self._t0: float | None = None
        self._s0 = 0

    def _emit(self, message: str) -> None:
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            log.info("%s", message)
        else:
            print(message, file=sys.stderr, flush=True)

    def start(self, step: int) -> None:
        verb = "resuming at" if step else "starting at"
        self._emit(f"{self.name}: {verb} step {step}/{self.num_steps} (compiling the step)")

    def update(self, step: int, loss: float) -> None:
        now = time.perf_counter()
        if self._t0 is None:
            self._t0, self._s0 = now, step
            rate_text, eta = "- steps/s", "?"
        else:
            rate = (step - self._s0) / max(now - self._t0, 1e-9)
            rate_text, eta = f"{rate:.1f} steps/s", _format_eta((self.num_steps - step) / rate)
        self._emit(
            f"{self.name}: step {step}/{self.num_steps} | {rate_text} | ETA {eta} | loss {loss:.5g}"
        )


class _Run:
    """The bookkeeping of one `train` call: metrics not yet read or logged, log records,
    NaN checks, checkpoints, evaluations and the stopping rule."""

    def __init__(
        self, ckpt: Checkpointer | None, writer: MetricWriter | None, start: int,
        unlogged: Mapping[str, np.ndarray], progress: _Progress | None,
        config: Mapping[str, Any] | None, opts: _Options,
    ):  # fmt: skip
        self.ckpt, self.writer, self.progress, self.stop_fn = ckpt, writer, progress, opts.stop_fn
        self.config = config  # written with the first checkpoint, then None
        self.checkpoint_every = opts.checkpoint_every
        self.checkpoint_every_secs = opts.checkpoint_every_secs
        self.history: list[dict[str, Any]] = []
        self.pending: list[dict[str, jax.Array]] = []  # device metrics of steps not yet read
        # Host metrics of steps read and checked but not yet logged (name -> [steps, ...]),
        # including those saved with the checkpoint this run resumes from.
        self.unlogged: list[dict[str, np.ndarray]] = [dict(unlogged)] if unlogged else []
        self.last_saved = ckpt.latest_step() if ckpt is not None else None
        self.t_saved = self.t_last = time.perf_counter()
        self.step_last = start
        self.stopped = False
        self.sync_every: int | None = None  # see `_inflight_limit`

    def record(self, step: int, scalars: Mapping[str, Any], split: str) -> None:
        self.history.append(
            {"step": step, "split": split, **{k: float(v) for k, v in scalars.items()}}
        )
        if self.writer is not None:
            self.writer.write_scalars(step, scalars, split)

    def check(self, step: int) -> None:
        """Reads the pending device metrics, stops on NaN/Inf, keeps them as unlogged."""
        if not self.pending:
            return
        # One device op and one transfer per metric, not one per metric per step.
        stacked = jax.device_get(_stack_metrics(self.pending))  # name -> [steps, ...]
        first, n = step - len(self.pending) + 1, len(self.pending)
        finite = {name: np.isfinite(v).reshape(n, -1).all(axis=1) for name, v in stacked.items()}
        bad_steps = [i for i in range(n) if not all(f[i] for f in finite.values())]
        if bad_steps:
            i = bad_steps[0]
            order = sorted(stacked, key=lambda name: (name != "loss", name))
            bad = [name for name in order if not finite[name][i]]
            where = None
            if self.ckpt is not None:
                self.ckpt.wait()
                if self.last_saved is not None:
                    where = f"step {self.last_saved} in {self.ckpt.directory}"
            value = float(np.asarray(stacked[bad[0]][i]).ravel()[0])
            raise NonFiniteError(bad[0], first + i, value, where, also=bad[1:])
        self.pending = []
        self.unlogged.append(stacked)

    def _unlogged_values(self) -> dict[str, np.ndarray]:
        if not self.unlogged:
            return {}
        return {k: np.concatenate([u[k] for u in self.unlogged]) for k in self.unlogged[0]}

    def log(self, step: int) -> None:
        """Logs the mean of the metrics since the last record; asks `stop_fn` whether to stop."""
        self.check(step)
        values = self._unlogged_values()
        if not values:
            return
        self.unlogged = []
        means = {k: float(np.mean(v)) for k, v in values.items()}
        now = time.perf_counter()
        rate = (step - self.step_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, step
        scalars = {**means, "steps_per_sec": rate}
        self.record(step, scalars, "train")
        if self.progress is not None:
            self.progress.update(step, means.get("loss", float("nan")))
        if self.stop_fn is not None and self.stop_fn(step, scalars):
            self.stopped = True

    def checkpoint_due(self, step: int) -> bool:
        if self.ckpt is None:
            return False
        if self.checkpoint_every is not None and step % self.checkpoint_every == 0:
            return True
        secs = self.checkpoint_every_secs
        return secs is not None and time.perf_counter() - self.t_saved >= secs

    def save(self, state: TrainState, step: int) -> None:
        """Checks the unread metrics, then checkpoints `state` with the unlogged ones."""
        if self.ckpt is None:
            return
        self.check(step)
        if self.config is not None:  # the first checkpoint of a fresh run records its config
            self.ckpt.write_config(self.config)
            self.config = None
        self.ckpt.save(state, pending=self._unlogged_values() or None)
        self.last_saved, self.t_saved = step, time.perf_counter()

    def save_on_signal(self, state: TrainState, step: int, what: str) -> None:
        """Keeps the work done so far when a signal stops the run between steps."""
        if _deleted(state):  # a second signal inside the step's dispatch
            log.warning("%s inside step %d: its input was donated, nothing saved "
                        "(last checkpoint: step %s)", what, step + 1, self.last_saved)  # fmt: skip
            return
        self.save(state, step)
        if self.ckpt is not None:
            self.ckpt.wait()
            log.warning("%s at step %d; checkpoint saved in %s", what, step, self.ckpt.directory)

    def evaluate(self, eval_fn: EvalFn | None, state: TrainState, step: int) -> None:
        if eval_fn is not None:
            self.record(step, dict(eval_fn(state)), "eval")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _compile(
    state: TrainState, train_step: TrainStep, mesh: Mesh | None, data_axis: str
) -> tuple[TrainState, Callable, Callable[[Batch], Batch]]:
    """The jitted step (donating its input state) and how batches are placed for it."""
    # The step donates its input state; copy so the caller's arrays stay valid.
    state = jax.tree_util.tree_map(jnp.copy, state)
    if mesh is None:
        return state, jax.jit(train_step, donate_argnums=(0,)), lambda batch: batch
    state_sharding = sharding_lib.replicated(mesh)
    batch_sharding = sharding_lib.batch_sharded(mesh, data_axis)
    step_fn = jax.jit(
        train_step,
        in_shardings=(state_sharding, batch_sharding),
        out_shardings=(state_sharding, state_sharding),
        donate_argnums=(0,),
    )
    state = jax.device_put(state, state_sharding)
    return state, step_fn, lambda batch: sharding_lib.shard_batch(batch, mesh, data_axis)


# XLA's CPU client can deadlock a step whose devices meet in a collective (a runs mesh
# over several CPU devices, `use_cpu_devices`) when about 100 steps are queued ahead of
# the host; queueing at most this many keeps it clear at a negligible cost.
CPU_INFLIGHT_STEPS = 16


def _inflight_limit(state: TrainState) -> int | None:
    """`CPU_INFLIGHT_STEPS` when `state` spans several CPU devices, else None (no limit)."""
    for x in jax.tree_util.tree_leaves(state):
        devices = getattr(getattr(x, "sharding", None), "device_set", ())
        if len(devices) > 1 and all(d.platform == "cpu" for d in devices):
            return CPU_INFLIGHT_STEPS
    return None


def _restore(
    ckpt: Checkpointer | None, state: TrainState, config: Mapping[str, Any] | None
) -> tuple[TrainState, dict[str, np.ndarray]]:
    """The state to start from (the latest readable checkpoint, if any) and its unlogged
    metrics; refuses checkpoints written under another config."""
    if ckpt is None or ckpt.latest_step() is None:
        return state, {}
    compared = config is not None and ckpt.read_config() is not None
    if config is not None:
        ckpt.check_config(config)
    state = ckpt.restore(state)
    start = int(jax.device_get(state.step))
    if compared:
        log.info("resuming %s from step %d", ckpt.directory.parent, start)
    else:  # nothing says the checkpoints belong to this run's settings
        log.warning("resuming %s from step %d", ckpt.directory.parent, start)
    return state, ckpt.pending_metrics(start)


def _stopped_before(workdir: str | Path | None, start: int, stop_fn: StopFn | None) -> bool:
    """Whether the record logged at `start` by an earlier attempt already met `stop_fn`."""
    if stop_fn is None or workdir is None or start == 0:
        return False
    records = [r for r in read_metrics(workdir, "train") if r["step"] == start]
    if not records:
        return False
    scalars = {k: v for k, v in records[-1].items() if k not in ("step", "split")}
    return bool(stop_fn(start, scalars))


def _run_steps(
    run: _Run, signals: _DeferredSignals, state: TrainState, step_fn: Callable,
    put_batch: Callable[[Batch], Batch], batch_fn: Callable[[int], Batch], start: int,
    opts: _Options,
) -> TrainState:  # fmt: skip
    """Steps from `start` until `num_steps` or `stop_fn`, then evaluates and saves."""
    num_steps, log_every, eval_every = opts.num_steps, opts.log_every, opts.eval_every
    step = start
    try:
        while step < num_steps and not run.stopped:
            signals.check()
            state, metrics = step_fn(state, put_batch(batch_fn(step)))
            run.pending.append(metrics)
            step += 1
            if run.sync_every is not None and step % run.sync_every == 0:
                jax.block_until_ready(metrics)
            if step == num_steps or step % log_every == 0:
                run.log(step)
            if step == num_steps or run.stopped:
                break
            if eval_every is not None and step % eval_every == 0:
                run.evaluate(opts.eval_fn, state, step)
            if run.checkpoint_due(step):
                run.save(state, step)
    except (KeyboardInterrupt, _Terminated) as e:
        run.save_on_signal(state, step, "interrupted" if isinstance(e, KeyboardInterrupt)
                           else "terminated (SIGTERM)")  # fmt: skip
        raise
    finally:
        if run.writer is not None:
            run.writer.flush()
    if step > start:
        run.evaluate(opts.eval_fn, state, step)
        run.save(state, step)
    signals.check()  # a signal during the last step or the final evaluation: saved, stop
    return state


def _train(
    state: TrainState, train_step: TrainStep, batch_fn: Callable[[int], Batch], opts: _Options
) -> TrainResult:
    """`train`'s body, inside the workdir's lock."""
    workdir, num_steps = opts.workdir, opts.num_steps
    config = config_as_json(opts.config) if opts.config is not None else None
    name = opts.name or (Path(workdir).absolute().name if workdir is not None else "run")
    with contextlib.ExitStack() as cleanup:
        ckpt = None
        if workdir is not None:  # on success and on every error: finish writes, free threads
            ckpt = Checkpointer(workdir, max_to_keep=opts.max_to_keep)
            cleanup.callback(ckpt.close)
            cleanup.callback(ckpt.wait)
        # SIGINT/SIGTERM from here on stop the run at the next step boundary, saved.
        signals = cleanup.enter_context(_DeferredSignals())
        state, step_fn, put_batch = _compile(state, train_step, opts.mesh, opts.data_axis)
        state, unlogged = _restore(ckpt, state, config)
        start = int(jax.device_get(state.step))
        if start > num_steps:
            raise ValueError(f"the state is at step {start}, past num_steps={num_steps}")
        writer = None
        if workdir is not None and sharding_lib.is_primary_process():
            writer = MetricWriter(workdir, tensorboard=opts.tensorboard, start_step=start)
        meter = _Progress(name, num_steps) if opts.progress else None
        run = _Run(ckpt, writer, start, unlogged, meter, config, opts)
        cleanup.callback(run.close)
        run.stopped = _stopped_before(workdir, start, opts.stop_fn)
        run.sync_every = _inflight_limit(state)
        if meter is not None and start < num_steps and not run.stopped:
            meter.start(start)
        state = _run_steps(run, signals, state, step_fn, put_batch, batch_fn, start, opts)
        converged = None if opts.stop_fn is None else run.stopped
        if converged is False:
            log.warning("%s reached num_steps=%d without meeting its stopping tolerance",
                        workdir if workdir is not None else name, num_steps)  # fmt: skip
        history = read_metrics(workdir) if writer is not None else run.history
        return TrainResult(state, history, converged)


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
    checkpoint_every_secs: float | None = 300.0,
    eval_fn: EvalFn | None = None,
    eval_every: int | None = None,
    stop_fn: StopFn | None = None,
    config: Mapping[str, Any] | None = None,
    tensorboard: bool = True,
    progress: bool = True,
    name: str | None = None,
    max_to_keep: int = 2,
) -> TrainResult:
    """Runs `train_step` until `state.step == num_steps`, resuming from a checkpoint in `workdir`.

    Args:
      state: the initial state (its structure and shardings also guide restores); without
        `mesh`, the jitted step keeps its shardings (e.g. runs split by `shard_runs`).
      train_step: a pure `train_step(state, batch) -> (state, metrics)`; jitted once here.
      batch_fn: `batch_fn(step) -> batch`, this process's batch for `step`; make it a pure
        function of `step` (see `genjax.data.make_batch_fn`) so that a resumed run sees
        the same batches as an uninterrupted one.
      num_steps: the total number of steps of the run (not the number still to do); with
        `stop_fn`, the cap. A finished run rerun with a larger `num_steps` goes on.
      workdir: where `metrics.jsonl`, TensorBoard events and `checkpoints/` go; held
        with a `WorkdirLock` while training. `None` trains in memory with no outputs.
        In a multi-process run every process passes the same folder on a shared file
        system: all write the checkpoints, process 0 the rest, and the other processes'
        history holds this call's records only.
      mesh: replicate the state and shard every batch over `mesh`'s `data_axis`.
      log_every: steps between metric reads, NaN checks, log records and progress lines.
      checkpoint_every: steps between checkpoints (with `workdir`).
      checkpoint_every_secs: also checkpoint when this many seconds have passed since the
        last one (checked between steps; None: off). Checkpoints are also written at
        the end and on Ctrl-C or SIGTERM (which then exits with status 143).
      eval_fn: `eval_fn(state) -> scalars`, run every `eval_every` steps and at the end.
      eval_every: steps between evaluations (default: only at the end).
      stop_fn: `stop_fn(step, train_means) -> bool`, asked after each log record with the
        record's values; True ends the run there (evaluated and saved as at the end),
        also when a rerun resumes at that record.
      config: JSON-able settings of the run, saved with the checkpoints; resuming under
        a different one raises `ConfigMismatchError` (`num_steps` is never compared).
      tensorboard: also write TensorBoard event files.
      progress: show a progress line (step, steps/s, ETA, loss) every `log_every` steps.
      name: the run's name in progress lines (default: the workdir's name).
      max_to_keep: checkpoints kept on disk.

    Returns:
      The final state, the logged records and whether `stop_fn` ended the run.

    Raises:
      NonFiniteError: a metric became NaN/Inf; no checkpoint of a bad state is written.
      WorkdirLockedError: another process trains in `workdir`.
      ConfigMismatchError, CheckpointMismatchError: the checkpoints belong to another run.
      CheckpointCorruptError: no checkpoint in `workdir` can be read.
    """
    args = locals()
    opts = _Options(**{field: args[field] for field in _Options._fields})
    _check_options(opts)
    with WorkdirLock(workdir) if workdir is not None else contextlib.nullcontext():
        return _train(state, train_step, batch_fn, opts)
