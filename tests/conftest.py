"""Strict numerics for the whole suite.

- Silent rank promotion (broadcasting) raises, as in equinox's conftest.
- float32 matrix products run at full precision: on GPUs JAX's default may use
  TF32, whose 10-bit mantissa would make the comparisons against NumPy/SciPy
  references test the hardware's shortcut instead of the formula.
"""

import os

# Compiling, not running, is most of the suite's time on a CPU (the end-to-end tests
# compile hundreds of small programs). LLVM's lowest optimisation level compiles them
# faster, and so do XLA's older loop emitters for fused ops (about a fifth off an
# end-to-end test); XLA's own graph passes (fusion etc.) still run.
os.environ["XLA_FLAGS"] = " ".join(
    [
        os.environ.get("XLA_FLAGS", ""),
        "--xla_backend_optimization_level=0",
        "--xla_cpu_use_fusion_emitters=false",
    ]
).strip()

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_default_matmul_precision", "highest")


def pytest_collection_modifyitems(config, items):
    """Whole-experiment tests (the slowest, up to a minute each) run first, so that with
    `-n 2` the two workers finish together instead of one idling at the end while the
    other runs a late end-to-end test. The sort is stable: the rest keep file order."""
    items.sort(key=lambda item: "end_to_end" not in item.name)
