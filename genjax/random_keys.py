"""Random keys derived from names: one rule for every experiment and trainer.

`named_key(key, "ring", "unrolled_k5")` folds a stable hash of each name into
`key` in turn, so a run's key depends on what the run is, not on where it sits
in a loop: a rerun of one variant, or of a config listing its variants in
another order, draws the same numbers.
"""

from __future__ import annotations

import zlib

import jax

from genjax.typing import PRNGKey

_MASK = 0x7FFFFFFF  # keep a hash within int32, which fold_in takes on every backend


def name_hash(part: str | int) -> int:
    """The integer `named_key` folds in for `part`: an int as-is, a str's CRC-32 (UTF-8 bytes).

    Args:
      part: a name, or a non-negative int below 2**31 (a step, an index).

    Returns:
      An int in [0, 2**31).
    """
    if isinstance(part, bool) or not isinstance(part, (str, int)):
        raise TypeError(f"named_key: a part must be a str or an int, got {part!r}")
    if isinstance(part, int):
        if not 0 <= part <= _MASK:
            raise ValueError(f"named_key: an int part must be in [0, 2**31), got {part}")
        return part
    return zlib.crc32(part.encode("utf-8")) & _MASK


def named_key(key: PRNGKey, *parts: str | int) -> PRNGKey:
    """The key for `parts` under `key`: `fold_in(key, name_hash(p))` for each part in order.

    Deterministic across processes and machines (CRC-32, not Python's salted
    `hash`); distinct names give distinct keys up to CRC-32 collisions.
    `named_key(key)` is `key`.

    Args:
      key: a raw or typed PRNG key.
      *parts: names (str) or indices (int >= 0), outermost first.
    """
    for part in parts:
        key = jax.random.fold_in(key, name_hash(part))
    return key
