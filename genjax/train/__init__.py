"""Training: an explicit state pytree, one pure jitted step, and the loop every experiment uses."""

from genjax.train.averaging import ParamEmaState, averaged_params, param_ema
from genjax.train.checkpoint import (
    CheckpointCorruptError,
    Checkpointer,
    CheckpointMismatchError,
    ConfigMismatchError,
)
from genjax.train.lock import WorkdirLock, WorkdirLockedError
from genjax.train.loop import NonFiniteError, TrainResult, train
from genjax.train.multirun import (
    MultiRunOptState,
    all_finite,
    gather_runs,
    make_multi_run_step,
    padded_runs,
    shard_runs,
    stack_runs,
)
from genjax.train.sharding import (
    DATA_AXIS,
    RUNS_AXIS,
    data_mesh,
    runs_mesh,
    shard_batch,
    to_host,
    use_cpu_devices,
)
from genjax.train.state import (
    Batch,
    LossFn,
    TrainState,
    create_train_state,
    make_eval_step,
    make_train_step,
)
from genjax.train.writer import MetricWriter, read_metrics

__all__ = [
    "DATA_AXIS",
    "RUNS_AXIS",
    "Batch",
    "CheckpointCorruptError",
    "CheckpointMismatchError",
    "Checkpointer",
    "ConfigMismatchError",
    "LossFn",
    "MetricWriter",
    "MultiRunOptState",
    "NonFiniteError",
    "ParamEmaState",
    "TrainResult",
    "TrainState",
    "WorkdirLock",
    "WorkdirLockedError",
    "all_finite",
    "averaged_params",
    "create_train_state",
    "data_mesh",
    "gather_runs",
    "make_eval_step",
    "make_multi_run_step",
    "make_train_step",
    "padded_runs",
    "param_ema",
    "read_metrics",
    "runs_mesh",
    "shard_batch",
    "shard_runs",
    "stack_runs",
    "to_host",
    "use_cpu_devices",
    "train",
]
