"""Argument checks at genjax's entry points; each raises an error naming the argument.

A value that cannot work is a ValueError, an argument of the wrong kind (an array
where a dict of arrays is expected) a TypeError. Messages read
`<argument> must be ..., got ...`. Checks of values (not shapes) run
only on concrete inputs: under `jit`, `grad` or `vmap` the values are tracers,
unknown until the computation runs, and those checks are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np


def is_concrete(*values: Any) -> bool:
    """True when no value is a JAX tracer, i.e. the values are known now."""
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> None:
    """Raises ValueError unless `learning_rate` is a positive finite number.

    A schedule (a callable of the step) and a traced value pass unchecked.
    """
    if callable(learning_rate) or not is_concrete(learning_rate):
        return
    value = None
    if not isinstance(learning_rate, (bool, str, bytes)) and np.ndim(learning_rate) == 0:
        try:
            value = float(learning_rate)
        except (TypeError, ValueError):
            value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {learning_rate!r}")


def check_int_in_range(
    value: Any, name: str, low: int, high: int | None = None, high_name: str = ""
) -> None:
    """Raises ValueError unless `value` is an integer >= low (and <= high, named `high_name`)."""
    if high is None:
        bound = f">= {low}"
    else:
        bound = f"in [{low}, {high_name} = {high}]" if high_name else f"in [{low}, {high}]"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def check_masses(name: str, p: Any) -> None:
    """Raises ValueError unless the values `p` are finite, non-negative and not all zero.

    They are masses up to a constant factor (e.g. a density's values on a grid):
    normalisable. Skipped for tracers.
    """
    if not is_concrete(p):
        return
    values = np.asarray(p, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite, got {_count(~np.isfinite(values))} non-finite")
    if (values < 0).any():
        raise ValueError(
            f"{name} must be non-negative (masses), got minimum {values.min():.6g} "
            f"at index {int(np.argmin(values))}"
        )
    if not values.sum() > 0:
        raise ValueError(f"{name} must have a positive total mass, got all zeros")


def check_unit_interval(name: str, x: Any) -> None:
    """Raises ValueError unless every value of `x` lies in [0, 1]; skipped for tracers."""
    if not is_concrete(x):
        return
    values = np.asarray(x)
    bad = ~((values >= 0) & (values <= 1))  # NaN is outside too
    if bad.any():
        first = values.ravel()[np.flatnonzero(bad.ravel())[0]]
        raise ValueError(
            f"{name} must lie in [0, 1] (Bernoulli data), got {_count(bad)} outside, "
            f"e.g. {float(first):.6g}"
        )


def describe(value: Any) -> str:
    """A short description of a value for an error message: its kind, and its shape if any."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))}"
    return f"a {type(value).__name__}"


def check_batch_dict(batch: Any, keys: tuple[str, ...], where: str) -> None:
    """Raises TypeError unless `batch` is a dict holding `keys`, the entries `where` reads.

    An array passed instead would otherwise fail deep inside, with an IndexError
    about integer indices; the message says what the loss expects.
    """
    if isinstance(batch, Mapping) and all(k in batch for k in keys):
        return
    expected = ", ".join(repr(k) for k in keys)
    raise TypeError(f"{where}: batch must be a dict with keys {expected}, got {describe(batch)}")


def check_batch_type(batch: Any, batch_type: type, where: str) -> None:
    """Raises TypeError unless `batch` is a `batch_type` (a NamedTuple of arrays)."""
    if not isinstance(batch, batch_type):
        name = batch_type.__name__
        article = "an" if name[0].lower() in "aeiou" else "a"
        fields = ", ".join(getattr(batch_type, "_fields", ()))
        raise TypeError(
            f"{where}: batch must be {article} {name} ({fields}), got {describe(batch)}"
        )


def _count(mask: np.ndarray) -> str:
    n = int(np.sum(mask))
    return f"{n} value" if n == 1 else f"{n} values"
