"""Short type aliases used across genjax (after optax's `_src/base.py`)."""

from __future__ import annotations

from typing import Any

import jax

Array = jax.Array
PRNGKey = jax.Array  # a raw uint32[2] key from jax.random.PRNGKey / split / fold_in
ArrayTree = Any  # a pytree whose leaves are arrays
Params = ArrayTree
Metrics = dict[str, Array]
