"""Strict numerics for the whole suite.

- Silent rank promotion (broadcasting) raises, as in equinox's conftest.
- float32 matrix products run at full precision: on GPUs JAX's default may use
  TF32, whose 10-bit mantissa would make the comparisons against NumPy/SciPy
  references test the hardware's shortcut instead of the formula.
"""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_default_matmul_precision", "highest")
