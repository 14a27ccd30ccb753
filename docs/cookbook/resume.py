"""Resuming and extending a training run from its workdir.

    python docs/cookbook/resume.py

`train.train(..., workdir=W)` checkpoints into W (at the end, every few
minutes, on Ctrl-C and SIGTERM) and, called again with the same W, resumes
from the last checkpoint. `num_steps` is the run's total, so a finished run
rerun with a larger `num_steps` goes on from where it stopped. Because the
batch at step s is a function of s, the resumed run ends with exactly the
parameters of an uninterrupted one. `config=` is saved with the checkpoints,
and resuming under another config is refused. `stop_fn=` ends a run early.
"""

import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import data, train

x = np.random.default_rng(0).normal(size=(512, 8)).astype(np.float32)
y = x @ np.arange(8, dtype=np.float32) - 1.0
batch_fn = data.make_batch_fn({"x": x, "y": y}, 32, jax.random.PRNGKey(0))


def loss_fn(params, batch, key):
    pred = batch["x"] @ params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2), {}


config = {"learning_rate": 0.01, "batch_size": 32}  # anything JSON-able that defines the run
opt = optax.adam(config["learning_rate"])
step = train.make_train_step(loss_fn, opt)


def fresh_state():
    params = {"w": jnp.zeros(8), "b": jnp.zeros(())}
    return train.create_train_state(params, opt, jax.random.PRNGKey(1))


def run(workdir, num_steps, **kwargs):
    kwargs.setdefault("config", config)
    return train.train(fresh_state(), step, batch_fn, num_steps, workdir=workdir,
                       log_every=50, progress=False, **kwargs)  # fmt: skip


root = Path(tempfile.mkdtemp(prefix="genjax_resume_"))

# 1. 200 steps, then the same run extended to 400: the second call resumes at step 200.
run(root / "extended", 200)
extended = run(root / "extended", 400)
print("extended run ends at step", int(extended.state.step))

# 2. The same 400 steps in one go end with the same parameters, bit for bit.
straight = run(root / "straight", 400)
assert np.array_equal(extended.state.params["w"], straight.state.params["w"])
print("resumed = uninterrupted:", True)

# 3. The workdir's metrics.jsonl holds every logged record of both calls.
steps = [r["step"] for r in train.read_metrics(root / "extended", split="train")]
print("logged steps:", steps)

# 4. Another config on the same workdir is refused before any step runs.
try:
    run(root / "extended", 600, config={**config, "learning_rate": 0.1})
except train.ConfigMismatchError as e:
    print("refused:", str(e).splitlines()[0][:90])
else:
    raise AssertionError("a changed config must not resume")

# 5. stop_fn(step, train_means) -> bool, asked at each log record, ends the run early.
stopped = run(root / "early", 5000, stop_fn=lambda s, means: means["loss"] < 1e-3)
print(f"stopped at step {int(stopped.state.step)} of 5000; converged: {stopped.converged}")
assert stopped.converged and int(stopped.state.step) < 5000
shutil.rmtree(root)
