"""genjax.random_keys.named_key: keys derived from names, the same in every process."""

import zlib

import jax
import numpy as np
import pytest

from genjax.random_keys import name_hash, named_key

ROOT = jax.random.PRNGKey(0)


def test_named_key_folds_in_the_crc32_of_each_name_in_order():
    expected = ROOT
    for name in ("ring", "wgan_gp"):
        expected = jax.random.fold_in(expected, zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF)
    np.testing.assert_array_equal(named_key(ROOT, "ring", "wgan_gp"), expected)
    # Python's str hash is salted per process; CRC-32 is not: the same key everywhere.
    np.testing.assert_array_equal(named_key(ROOT, "ring", "wgan_gp"), [1805926234, 2183012324])
    np.testing.assert_array_equal(named_key(ROOT, "ring/wgan_gp"), [2924348902, 957981778])
    np.testing.assert_array_equal(named_key(ROOT, 7), jax.random.fold_in(ROOT, 7))  # ints as-is
    np.testing.assert_array_equal(named_key(ROOT), ROOT)


def test_named_keys_are_deterministic_and_distinct():
    names = [
        ("ring", "wgan_gp"), ("wgan_gp", "ring"), ("ring/wgan_gp",), ("ring",),
        ("grid", "wgan_gp"), ("ring", "wgan_gp", "held_out"), ("ring", 1), ("ring", 2),
    ]  # fmt: skip
    keys = [tuple(np.asarray(named_key(ROOT, *n)).tolist()) for n in names]
    assert len(set(keys)) == len(keys)
    assert keys[0] == tuple(np.asarray(named_key(ROOT, "ring", "wgan_gp")).tolist())
    other_root = named_key(jax.random.PRNGKey(1), "ring", "wgan_gp")
    assert tuple(np.asarray(other_root).tolist()) != keys[0]


def test_named_key_takes_typed_keys_and_rejects_bad_parts():
    typed = jax.random.key(0)
    np.testing.assert_array_equal(
        jax.random.key_data(named_key(typed, "ring")), named_key(ROOT, "ring")
    )
    for bad, error in ((-1, ValueError), (2**31, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="part"):
            named_key(ROOT, bad)
    assert name_hash("") == 0 and name_hash(5) == 5
