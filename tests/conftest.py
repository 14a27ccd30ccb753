"""Strict numerics for the whole suite (after equinox's conftest): silent broadcasting fails."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
