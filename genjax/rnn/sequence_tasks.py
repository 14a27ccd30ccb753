"""Generated data for the four architectures of 3.1, with their token codes and scores.

- Tagging (many-to-many, aligned; `tagging_batch`): a toy part-of-speech task.
  Tokens 0..V-1; the lower half are unambiguous words whose tag is `token mod K`,
  the upper half are ambiguous words whose tag is the NEXT token's `mod K` (0 at
  the last real step). A left-to-right model cannot know the next token, so on the
  ambiguous steps it can do no better than the most frequent tag (about 1/K); a
  bidirectional model reads it (claim 3.1 in docs/claims.md: a word's role depends on the words
  after it).
- Addition (encoder-decoder; `addition_batch`): the string "a+b" (most significant
  digit first, variable length) -> the digits of a + b then EOS, as in flax's
  seq2seq example; 1/16 of the (a, b) pairs are held out for testing.
- Reversal (encoder-decoder; `reversal_batch`): a variable-length symbol sequence
  -> the same symbols in reverse order then EOS.
- Digit names (one-to-many; `digit_name_targets`): an MNIST label -> its English
  name spelled letter by letter ("zero" .. "nine") then EOS.

Padding: sources are padded with their own pad id (past `src_lengths`), targets
with EOS (past `target_lengths`, which count the EOS). Batches are pure functions
of a key, so a training step can draw its own batch inside `jit`.

Losses, `loss(cell, params, batch) -> scalar` with the batch of their task (a
TypeError names the batch they expect): `row_classification_loss` (many-to-one),
`digit_name_loss` (one-to-many, teacher-forced), `tagging_loss` (aligned
many-to-many) and `seq2seq_loss` (encoder-decoder, teacher-forced).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax._checks import check_batch_type, describe
from genjax.rnn import architectures as arch
from genjax.rnn.cells import CellLike
from genjax.typing import Array, Params, PRNGKey

# ----------------------------------------------------------------------------- token codes

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORD_EOS = 0
LETTERS = "".join(sorted(set("".join(DIGIT_NAMES))))  # the 15 letters the names use
WORD_VOCAB = len(LETTERS) + 1  # EOS (0) + letters (1..)
WORD_LENGTH = max(len(n) for n in DIGIT_NAMES) + 1  # the longest name + EOS

ADD_PLUS = 10  # source ids: digits 0..9, '+', pad
ADD_PAD = 11
ADD_SRC_VOCAB = 12
ADD_EOS = 10  # target ids: digits 0..9, EOS
ADD_TGT_VOCAB = 11


def _check_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_lengths(min_length: int, max_length: int, low: int) -> None:
    _check_int("min_length", min_length, low)
    _check_int("max_length", max_length, low)
    if min_length > max_length:
        raise ValueError(f"min_length={min_length} exceeds max_length={max_length}")


def _random_lengths(key: PRNGKey, batch_size: int, min_length: int, max_length: int) -> Array:
    return jax.random.randint(key, (batch_size,), min_length, max_length + 1)


def _pad_after(tokens: Array, lengths: Array, pad: int) -> Array:
    """tokens [B, T] with every step t >= lengths[b] set to `pad`."""
    real = jnp.arange(tokens.shape[1])[None, :] < lengths[:, None]
    return jnp.where(real, tokens, pad)


# ----------------------------------------------------------------------------- scoring


def exact_match(predictions: Array, targets: Array, target_lengths: Array) -> Array:
    """bool [B]: the first target_lengths[b] predicted tokens (EOS included) equal the target's.

    predictions: int [B, >= T]; targets: int [B, T]. Whatever follows the target's EOS
    is ignored, so a decoder is right when it emits the sequence and stops there.
    """
    if predictions.shape[0] != targets.shape[0] or predictions.shape[1] < targets.shape[1]:
        raise ValueError(
            f"predictions {predictions.shape} must cover targets {targets.shape} (same batch)"
        )
    width = targets.shape[1]
    real = jnp.arange(width)[None, :] < target_lengths[:, None]
    return jnp.all(jnp.where(real, predictions[:, :width] == targets, True), axis=1)


def masked_accuracy(predictions: Array, labels: Array, mask: Array) -> Array:
    """The fraction of steps with mask True where predictions == labels (all [B, T])."""
    hits = jnp.sum(jnp.where(mask, predictions == labels, False))
    return hits / jnp.maximum(jnp.sum(mask), 1)


# ----------------------------------------------------------------------------- tagging


class TaggingBatch(NamedTuple):
    """tokens, tags: int [B, T]; lengths: int [B]; ambiguous: bool [B, T] (tag needs x_{t+1})."""

    tokens: Array
    tags: Array
    lengths: Array
    ambiguous: Array


def tagging_tags(tokens: Array, lengths: Array, vocab_size: int, num_tags: int) -> Array:
    """The tags of `tagging_batch` for given tokens [B, T] and lengths [B] (0 at padding)."""
    time = tokens.shape[1]
    steps = jnp.arange(time)[None, :]
    following = jnp.concatenate([tokens[:, 1:], jnp.zeros_like(tokens[:, :1])], axis=1)
    following = jnp.where(steps + 1 < lengths[:, None], following, 0)  # 0 after the last
    ambiguous = tokens >= vocab_size // 2
    tags = jnp.where(ambiguous, following, tokens) % num_tags
    return jnp.where(steps < lengths[:, None], tags, 0)


def tagging_batch(
    key: PRNGKey,
    batch_size: int,
    max_length: int,
    *,
    min_length: int = 2,
    vocab_size: int = 12,
    num_tags: int = 4,
) -> TaggingBatch:
    """A batch of the toy tagging task (module doc); lengths uniform in [min_length, max_length].

    Args:
      key: PRNG key.
      batch_size: B.
      max_length: T, the padded length.
      min_length: the shortest sequence (>= 1).
      vocab_size: V (even, a multiple of num_tags so every tag is equally likely).
      num_tags: K >= 2.
    """
    _check_int("batch_size", batch_size, 1)
    _check_lengths(min_length, max_length, 1)
    _check_int("num_tags", num_tags, 2)
    _check_int("vocab_size", vocab_size, 2)
    if vocab_size % 2 or vocab_size % num_tags:
        raise ValueError(
            f"vocab_size={vocab_size} must be even and a multiple of num_tags={num_tags}"
        )
    k_tok, k_len = jax.random.split(key)
    lengths = _random_lengths(k_len, batch_size, min_length, max_length)
    tokens = jax.random.randint(k_tok, (batch_size, max_length), 0, vocab_size)
    tokens = _pad_after(tokens, lengths, 0)
    tags = tagging_tags(tokens, lengths, vocab_size, num_tags)
    real = jnp.arange(max_length)[None, :] < lengths[:, None]
    return TaggingBatch(tokens, tags, lengths, real & (tokens >= vocab_size // 2))


def tagging_causal_predictions(tokens: Array, vocab_size: int, num_tags: int) -> Array:
    """The best left-to-right tagger: `token mod K` where known, else tag 0 (int [B, T]).

    On an ambiguous step the next token is unseen; tag 0 is the most frequent tag there
    (every tag has chance 1/K, and the last step's tag is 0), so this predictor's
    accuracy bounds what a unidirectional model can reach.
    """
    return jnp.where(tokens >= vocab_size // 2, 0, tokens % num_tags)


# ----------------------------------------------------------------------------- addition


class Seq2SeqBatch(NamedTuple):
    """src: int [B, S] (padded); src_lengths: [B]; targets: int [B, T] (EOS-padded);
    target_lengths: [B] (EOS included)."""

    src: Array
    src_lengths: Array
    targets: Array
    target_lengths: Array


def _num_digits(n: Array, max_digits: int) -> Array:
    """Decimal digits of n >= 0 (1 for 0)."""
    powers = 10 ** jnp.arange(1, max_digits + 1)
    return 1 + jnp.sum(n[:, None] >= powers[None, :], axis=1)


def _digits(n: Array, width: int, pad: int) -> tuple[Array, Array]:
    """(digits int [B, width] most significant first then `pad`, number of digits [B])."""
    count = _num_digits(n, width)
    pos = jnp.arange(width)[None, :]
    power = 10 ** jnp.clip(count[:, None] - 1 - pos, 0, width)
    digits = (n[:, None] // power) % 10
    return jnp.where(pos < count[:, None], digits, pad), count


_HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash (odd, so n -> h is a bijection)
_HASH_BUCKET_BITS = 4  # held out: the top 4 bits of the hash are 0, 1/16 of all pairs
MAX_ADDITION_DIGITS = 3  # the held-out pairs are enumerated: 10^(2 D) codes


def _is_held_out(codes):
    """Whether pair codes n = a * 10^D + b (NumPy or JAX ints) are in the held-out split."""
    mod = jnp if isinstance(codes, jax.Array) else np
    hashed = mod.asarray(codes).astype(mod.uint32) * mod.uint32(_HASH_MULTIPLIER)
    return (hashed >> (32 - _HASH_BUCKET_BITS)) == 0


def addition_held_out(max_digits: int) -> np.ndarray:
    """The held-out pair codes n = a * 10^D + b, sorted: 1/16 of all pairs, by a hash of n.

    The hash's top bits do not follow the digits, so the test problems are spread over
    every operand and carry pattern; training never sees them (`addition_batch`).
    """
    _check_int("max_digits", max_digits, 1)
    if max_digits > MAX_ADDITION_DIGITS:
        raise ValueError(f"max_digits must be <= {MAX_ADDITION_DIGITS}, got {max_digits}")
    codes = np.arange(10 ** (2 * max_digits), dtype=np.int64)
    return codes[_is_held_out(codes)].astype(np.int32)


def addition_batch(
    key: PRNGKey, batch_size: int, max_digits: int, *, split: str = "train"
) -> Seq2SeqBatch:
    """ "a+b" -> digits of a + b, then EOS; a, b in [0, 10^max_digits).

    Source (width 2 D + 1): digits of a, '+' (ADD_PLUS), digits of b, pad (ADD_PAD).
    Target (width D + 2): digits of the sum, then ADD_EOS.

    Args:
      key: PRNG key.
      batch_size: B.
      max_digits: D <= MAX_ADDITION_DIGITS.
      split: 'test' draws uniformly from the held-out pairs (`addition_held_out`);
        'train' draws uniformly from all pairs and moves a held-out draw to its
        neighbour code n + 1 (n - 1 at the end), which the hash never holds out, so
        training never sees a test problem.
    """
    _check_int("batch_size", batch_size, 1)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    held_out = addition_held_out(max_digits)
    base = 10**max_digits
    if split == "test":
        codes = jnp.asarray(held_out)[jax.random.randint(key, (batch_size,), 0, held_out.size)]
    else:
        codes = jax.random.randint(key, (batch_size,), 0, base * base)
        neighbour = jnp.where(codes + 1 < base * base, codes + 1, codes - 1)
        codes = jnp.where(_is_held_out(codes), neighbour, codes)
    a, b = codes // base, codes % base
    da, na = _digits(a, max_digits, ADD_PAD)
    db, nb = _digits(b, max_digits, ADD_PAD)
    width = 2 * max_digits + 1
    # Scatter "a + b" into one row: a's digits at 0..na-1, '+' at na, b's after it.
    pos = jnp.arange(width)[None, :]
    from_b = jnp.take_along_axis(
        jnp.pad(db, ((0, 0), (0, width)), constant_values=ADD_PAD),
        jnp.clip(pos - na[:, None] - 1, 0, width), axis=1,
    )  # fmt: skip
    src = jnp.where(pos < na[:, None], jnp.pad(da, ((0, 0), (0, width - max_digits))), from_b)
    src = jnp.where(pos == na[:, None], ADD_PLUS, src)
    src_lengths = na + 1 + nb
    src = _pad_after(src, src_lengths, ADD_PAD)
    ds, ns = _digits(a + b, max_digits + 1, ADD_EOS)
    targets = jnp.concatenate([ds, jnp.full((batch_size, 1), ADD_EOS, ds.dtype)], axis=1)
    return Seq2SeqBatch(src, src_lengths, targets, ns + 1)


def addition_text(src_row, length: int) -> str:
    """The string a source row spells, e.g. '12+345' (host side, for tests and figures)."""
    symbols = "0123456789+"
    return "".join(symbols[int(t)] for t in np.asarray(src_row)[:length])


def tokens_until(tokens, eos: int) -> list[int]:
    """The tokens of one row before the first `eos` (host side; all of them if none)."""
    out = []
    for t in np.asarray(tokens).tolist():
        if t == eos:
            break
        out.append(t)
    return out


def digits_text(tokens, eos: int = ADD_EOS) -> str:
    """The digits before the first EOS, as a string (host side)."""
    return "".join(str(t) if 0 <= t <= 9 else "?" for t in tokens_until(tokens, eos))


# ----------------------------------------------------------------------------- reversal


def reversal_batch(
    key: PRNGKey, batch_size: int, min_length: int, max_length: int, vocab_size: int
) -> Seq2SeqBatch:
    """Symbols 0..V-1 of length uniform in [min_length, max_length] -> reversed, then EOS.

    Source: width max_length, padded with V. Target: width max_length + 1, EOS = V.
    Both vocabularies have V + 1 ids.
    """
    _check_int("batch_size", batch_size, 1)
    _check_lengths(min_length, max_length, 1)
    _check_int("vocab_size", vocab_size, 2)
    k_tok, k_len = jax.random.split(key)
    lengths = _random_lengths(k_len, batch_size, min_length, max_length)
    src = _pad_after(
        jax.random.randint(k_tok, (batch_size, max_length), 0, vocab_size), lengths, vocab_size
    )
    pos = jnp.arange(max_length + 1)[None, :]
    index = jnp.clip(lengths[:, None] - 1 - pos, 0, max_length - 1)
    reversed_ = jnp.take_along_axis(src, index, axis=1)
    targets = jnp.where(pos < lengths[:, None], reversed_, vocab_size)
    return Seq2SeqBatch(src, lengths, targets, lengths + 1)


# ----------------------------------------------------------------------------- digit names


def _name_table() -> np.ndarray:
    table = np.full((10, WORD_LENGTH), WORD_EOS, np.int32)
    for digit, name in enumerate(DIGIT_NAMES):
        table[digit, : len(name)] = [LETTERS.index(c) + 1 for c in name]
    return table


_NAME_TABLE = _name_table()
_NAME_LENGTHS = np.array([len(n) + 1 for n in DIGIT_NAMES], np.int32)


def digit_name_targets(labels: Array) -> tuple[Array, Array]:
    """(tokens int [B, WORD_LENGTH] spelling each label's name then EOS, lengths [B] incl. EOS)."""
    labels = jnp.asarray(labels)
    return jnp.asarray(_NAME_TABLE)[labels], jnp.asarray(_NAME_LENGTHS)[labels]


def word_text(tokens) -> str:
    """The letters before the first EOS (host side): the inverse of `digit_name_targets`."""
    return "".join(
        LETTERS[t - 1] if 1 <= t <= len(LETTERS) else "?" for t in tokens_until(tokens, WORD_EOS)
    )


# ----------------------------------------------------------------------------- losses


def _images_and_labels(batch, where: str) -> tuple[Array, Array]:
    if not (isinstance(batch, tuple) and len(batch) == 2):
        raise TypeError(
            f"{where}: batch must be a pair (images [B, H, W], labels int [B]), "
            f"got {describe(batch)}"
        )
    return batch


def row_classification_loss(cell: CellLike, params: Params, batch: tuple[Array, Array]) -> Array:
    """many-to-one: softmax cross-entropy of the class read from an image row by row.

    batch: (images [B, H, W], one row of W pixels per step; labels int [B]).
    """
    images, labels = _images_and_labels(batch, "row_classification_loss")
    logits = arch.many_to_one(cell, params, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def digit_name_loss(cell: CellLike, params: Params, batch: tuple[Array, Array]) -> Array:
    """one-to-many: teacher-forced cross-entropy per letter of the digit's name (EOS included).

    batch: (images [B, H, W], flattened into the initial state; labels int [B]).
    """
    images, labels = _images_and_labels(batch, "digit_name_loss")
    targets, lengths = digit_name_targets(labels)
    logits = arch.one_to_many_logits(cell, params, images.reshape(images.shape[0], -1), targets)
    return arch.sequence_softmax_xent(logits, targets, lengths)


def tagging_logits(
    cell: CellLike, params: Params, batch: TaggingBatch, *, vocab_size: int
) -> Array:
    """many-to-many aligned: per-step tag logits [B, T, K] of one-hot tokens, masked by length."""
    check_batch_type(batch, TaggingBatch, "tagging_logits")
    return arch.many_to_many(cell, params, jax.nn.one_hot(batch.tokens, vocab_size), batch.lengths)


def tagging_loss(cell: CellLike, params: Params, batch: TaggingBatch, *, vocab_size: int) -> Array:
    """Softmax cross-entropy per real step of the tagger's logits against the tags."""
    logits = tagging_logits(cell, params, batch, vocab_size=vocab_size)
    return arch.sequence_softmax_xent(logits, batch.tags, batch.lengths)


def seq2seq_loss(cell: CellLike, params: Params, batch: Seq2SeqBatch) -> Array:
    """encoder-decoder: teacher-forced cross-entropy per real target step (EOS included)."""
    check_batch_type(batch, Seq2SeqBatch, "seq2seq_loss")
    logits = arch.seq2seq_logits(cell, params, batch.src, batch.targets, batch.src_lengths)
    return arch.sequence_softmax_xent(logits, batch.targets, batch.target_lengths)
