"""The four recurrent architectures of 3.1 as pure functions plus parameter initialisers.

- many-to-one (`many_to_one`): read the whole sequence, map the final state to a label.
- one-to-many (`one_to_many_logits`, `one_to_many_generate`): a vector sets the
  initial state; tokens come out one by one, each fed back as the next input.
- aligned many-to-many (`many_to_many`): one output per input, optionally
  bidirectional and stacked.
- encoder-decoder / seq2seq (`seq2seq_logits` with teacher forcing,
  `seq2seq_greedy_decode` for inference; Sutskever et al. 2014).

`cell` ('tanh', 'lstm', 'gru') is a static argument (close over it or mark it
static under `jax.jit`); the depth and direction are read from the params.
Token conventions: a vocabulary of V tokens 0..V-1; the decoder/generator's
start token is the extra embedding row V (`bos_id(params)`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from genjax.rnn import unrolling
from genjax.rnn.cells import Carry, CellLike, LSTMCarry, as_cell, carry_output
from genjax.rnn.sequences import sequence_mask
from genjax.rnn.tbptt import truncated_stacked
from genjax.typing import Array, Params, PRNGKey

# ----------------------------------------------------------------------------- pieces


def init_dense(key: PRNGKey, input_dim: int, output_dim: int) -> Params:
    """{'W': [O, I] LeCun-normal, 'b': [O] zeros}."""
    return {
        "W": jax.random.normal(key, (output_dim, input_dim)) / jnp.sqrt(input_dim),
        "b": jnp.zeros((output_dim,)),
    }


def dense(params: Params, x: Array) -> Array:
    """x @ W^T + b over any leading axes: [..., I] -> [..., O]."""
    b = params["b"].reshape((1,) * (x.ndim - 1) + params["b"].shape)
    return x @ params["W"].T + b


def _final_features(final: Carry | tuple[Carry, Carry]) -> Array:
    """The last layer's final output h [B, H] (bidirectional: [h_fwd, h_bwd] concatenated)."""
    if isinstance(final, tuple) and not isinstance(final, LSTMCarry):
        return jnp.concatenate([carry_output(final[0]), carry_output(final[1])], axis=-1)
    return carry_output(final)


def _output_dim(layer: Params, cell: CellLike) -> int:
    """The width a layer emits (2H for a bidirectional layer)."""
    if unrolling.is_bidirectional(layer):
        return _output_dim(layer["fwd"], cell) + _output_dim(layer["bwd"], cell)
    carry = as_cell(cell).initial_carry(layer)
    return carry_output(carry).shape[-1]


def _check_tokens(tokens: Array, name: str) -> None:
    if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise ValueError(
            f"{name} must be integer tokens [batch, time], got {tokens.dtype}{tokens.shape}"
        )


def _check_batch(name_a: str, a: Array, name_b: str, b: Array) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"batch sizes differ: {name_a} has {a.shape[0]} examples, {name_b} has {b.shape[0]}"
        )


# ----------------------------------------------------------------------------- losses


def sequence_softmax_xent(logits: Array, labels: Array, lengths: Array | None = None) -> Array:
    """Mean softmax cross-entropy (nats) per real step: logits [B, T, V], labels int [B, T]."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]  # [B, T]
    if lengths is None:
        return jnp.mean(nll)
    mask = sequence_mask(lengths, labels.shape[1])
    return jnp.sum(jnp.where(mask, nll, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def sequence_bernoulli_nll(
    logits: Array, targets: Array, lengths: Array | None = None, *, skip_first: int = 0
) -> Array:
    """Mean over real steps of the summed Bernoulli NLL (nats per step): [B, T, K] each.

    The standard polyphonic-music metric (Boulanger-Lewandowski et al. 2012), in
    log-space: -[y log sigma(a) + (1 - y) log sigma(-a)]. The mean is over all scored
    frames of all sequences (longer pieces weigh more). `skip_first` leaves each
    sequence's first steps out of it: with 1, frame 1 (predicted from nothing) is not
    scored, as in Bai et al. 2018's evaluation, which predicts frames 2..T from the
    frames before them.
    """
    if skip_first < 0:
        raise ValueError(f"skip_first must be >= 0, got {skip_first}")
    nll = -(targets * jax.nn.log_sigmoid(logits) + (1 - targets) * jax.nn.log_sigmoid(-logits))
    per_step = jnp.sum(nll, axis=-1)  # [B, T]
    steps = targets.shape[1]
    if lengths is None:
        lengths = jnp.full(targets.shape[:1], steps)
    mask = sequence_mask(lengths, steps) & (jnp.arange(steps) >= skip_first)[None, :]
    return jnp.sum(jnp.where(mask, per_step, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


# ----------------------------------------------------------------------------- many-to-one


def init_many_to_one(
    key: PRNGKey,
    cell: CellLike,
    input_dim: int,
    hidden_dim: int | Sequence[int],
    output_dim: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    **cell_options,
) -> Params:
    """{'rnn': per-layer params, 'readout': dense(H_last -> O)}."""
    k_rnn, k_out = jax.random.split(key)
    layers = unrolling.init_stacked(
        k_rnn, cell, input_dim, hidden_dim, num_layers=num_layers,
        bidirectional=bidirectional, **cell_options,
    )  # fmt: skip
    return {"rnn": layers, "readout": init_dense(k_out, _output_dim(layers[-1], cell), output_dim)}


def readout_only(optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
    """`optimizer` on the params' 'readout' entry; every other entry (the recurrence) frozen.

    With a frozen recurrence the network is an echo-state network: only the map from
    the states an untrained RNN carries to the outputs learns.
    """

    def labels(params):  # a prefix of the params tree: one label per top-level entry
        return {name: "train" if name == "readout" else "frozen" for name in params}

    return optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()}, labels)


def _run(cell, layers, xs, lengths, carries, unroll, window):
    if window is None:
        return unrolling.stacked(cell, layers, xs, lengths=lengths, carries=carries, unroll=unroll)

    return truncated_stacked(
        cell, layers, xs, window, lengths=lengths, carries=carries, unroll=unroll
    )


def many_to_one(
    cell: CellLike,
    params: Params,
    xs: Array,
    lengths: Array | None = None,
    *,
    unroll: int | str = "auto",
    window: int | None = None,
) -> Array:
    """Logits [B, O] from the last layer's final state after reading xs [B, T, D].

    `window=K` cuts the gradient every K steps (truncated BPTT, `genjax.rnn.tbptt`).
    """
    finals, _ = _run(cell, params["rnn"], xs, lengths, None, unroll, window)
    return dense(params["readout"], _final_features(finals[-1]))


# ----------------------------------------------------------------------------- many-to-many


def init_many_to_many(
    key: PRNGKey,
    cell: CellLike,
    input_dim: int,
    hidden_dim: int | Sequence[int],
    output_dim: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    **cell_options,
) -> Params:
    """{'rnn': per-layer params, 'readout': dense(H_last -> O)} (same layout as many-to-one)."""
    return init_many_to_one(
        key, cell, input_dim, hidden_dim, output_dim, num_layers=num_layers,
        bidirectional=bidirectional, **cell_options,
    )  # fmt: skip


def many_to_many(
    cell: CellLike,
    params: Params,
    xs: Array,
    lengths: Array | None = None,
    *,
    carries: Sequence[Carry] | None = None,
    unroll: int | str = "auto",
    window: int | None = None,
) -> Array:
    """Aligned per-step logits [B, T, O] (zeros at padded steps) for xs [B, T, D].

    `window=K` cuts the gradient every K steps (truncated BPTT, `genjax.rnn.tbptt`).
    """
    _, ys = _run(cell, params["rnn"], xs, lengths, carries, unroll, window)
    logits = dense(params["readout"], ys)
    if lengths is None:
        return logits
    mask = sequence_mask(lengths, xs.shape[1])
    return jnp.where(mask[..., None], logits, 0.0)


# ----------------------------------------------------------------------------- generation


def generate(
    key: PRNGKey,
    cell: CellLike,
    layers: Sequence[Params],
    readout: Params,
    carries: Sequence[Carry],
    first_input: Array,
    num_steps: int,
    feedback: Callable[[PRNGKey, Array], tuple[Array, Array]],
) -> tuple[list[Carry], Array]:
    """Autoregressive generation with `lax.scan` (unidirectional stacked RNN).

    Args:
      key: the sampling key (folded with the step index).
      layers, readout: a stacked RNN and its per-step readout.
      carries: per-layer initial carries, leaves [B, H].
      first_input: [B, D] the first step's input (e.g. a start-token embedding).
      num_steps: how many outputs to produce.
      feedback: `feedback(step_key, logits [B, O]) -> (output [B, ...], next_input [B, D])`,
        e.g. an argmax token and its embedding, or Bernoulli samples of 88 pitches.

    Returns:
      (final carries, outputs [B, num_steps, ...]).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")

    def body(state, t):
        carries, x = state
        carries, y = unrolling.stacked_step(cell, layers, carries, x)
        out, x = feedback(jax.random.fold_in(key, t), dense(readout, y))
        return (carries, x), out

    (carries, _), outs = jax.lax.scan(body, (list(carries), first_input), jnp.arange(num_steps))
    return carries, jnp.swapaxes(outs, 0, 1)


def bos_id(params: Params, table: str = "embed") -> int:
    """The start token's id: the last row of the embedding table."""
    return params[table].shape[0] - 1


def _token_feedback(embed: Array, temperature: float | None):
    def feedback(step_key, logits):
        if temperature is None:
            tokens = jnp.argmax(logits, axis=-1)
        else:
            tokens = jax.random.categorical(step_key, logits / temperature, axis=-1)
        return tokens, embed[tokens]

    return feedback


def _shifted_inputs(embed: Array, targets: Array) -> Array:
    """Teacher forcing inputs [B, T, E]: the embeddings of [BOS, targets[:, :-1]]."""
    bos = jnp.full((targets.shape[0], 1), embed.shape[0] - 1, targets.dtype)
    return embed[jnp.concatenate([bos, targets[:, :-1]], axis=1)]


# ----------------------------------------------------------------------------- one-to-many


def init_one_to_many(
    key: PRNGKey,
    cell: CellLike,
    vector_dim: int,
    hidden_dim: int | Sequence[int],
    vocab_size: int,
    *,
    embed_dim: int = 32,
    num_layers: int = 1,
    **cell_options,
) -> Params:
    """{'init': per-layer dense(vector -> carry), 'embed': [V+1, E], 'rnn', 'readout'}."""
    k_init, k_embed, k_rnn, k_out = jax.random.split(key, 4)
    layers = unrolling.init_stacked(
        k_rnn, cell, embed_dim, hidden_dim, num_layers=num_layers, **cell_options
    )
    carry_sizes = [
        sum(a.size for a in jax.tree_util.tree_leaves(as_cell(cell).initial_carry(layer)))
        for layer in layers
    ]
    return {
        "init": [
            init_dense(k, vector_dim, n)
            for k, n in zip(jax.random.split(k_init, len(layers)), carry_sizes, strict=True)
        ],
        "embed": jax.random.normal(k_embed, (vocab_size + 1, embed_dim)),
        "rnn": layers,
        "readout": init_dense(k_out, _output_dim(layers[-1], cell), vocab_size),
    }


def one_to_many_initial_carries(cell: CellLike, params: Params, vectors: Array) -> list[Carry]:
    """Per-layer carries set by the vector: h = tanh(W v + b) (LSTM: c = the linear second half)."""
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be [batch, dim], got shape {vectors.shape}")
    carries = []
    for proj, layer in zip(params["init"], params["rnn"], strict=True):
        z = dense(proj, vectors)
        if as_cell(cell).name == "lstm":
            h, c = jnp.split(z, 2, axis=-1)
            carries.append(LSTMCarry(jnp.tanh(h), c))
        else:
            carries.append(jnp.tanh(z))
        del layer
    return carries


def one_to_many_logits(cell: CellLike, params: Params, vectors: Array, targets: Array) -> Array:
    """Teacher-forced logits [B, T, V]: step t reads the embedding of targets[:, t-1] (BOS at 0)."""
    _check_tokens(targets, "targets")
    _check_batch("vectors", vectors, "targets", targets)
    carries = one_to_many_initial_carries(cell, params, vectors)
    _, ys = unrolling.stacked(
        cell, params["rnn"], _shifted_inputs(params["embed"], targets), carries=carries
    )
    return dense(params["readout"], ys)


def one_to_many_generate(
    cell: CellLike,
    params: Params,
    vectors: Array,
    num_steps: int,
    *,
    key: PRNGKey | None = None,
    temperature: float = 1.0,
) -> Array:
    """Tokens [B, num_steps] from vectors [B, Dv]: greedy (key=None) or sampled."""
    carries = one_to_many_initial_carries(cell, params, vectors)
    embed = params["embed"]
    first = jnp.broadcast_to(embed[-1], (vectors.shape[0], embed.shape[1]))
    feedback = _token_feedback(embed, None if key is None else temperature)
    key = jax.random.PRNGKey(0) if key is None else key
    _, tokens = generate(
        key, cell, params["rnn"], params["readout"], carries, first, num_steps, feedback
    )
    return tokens


# ----------------------------------------------------------------------------- seq2seq


def init_seq2seq(
    key: PRNGKey,
    cell: CellLike,
    src_vocab: int,
    tgt_vocab: int,
    hidden_dim: int | Sequence[int],
    *,
    embed_dim: int = 32,
    num_layers: int = 1,
    **cell_options,
) -> Params:
    """{'src_embed': [Vs, E], 'tgt_embed': [Vt+1, E], 'encoder', 'decoder', 'readout'}.

    Encoder and decoder have the same layer widths: the encoder's final carries
    are the decoder's initial carries.
    """
    k_se, k_te, k_enc, k_dec, k_out = jax.random.split(key, 5)
    encoder = unrolling.init_stacked(
        k_enc, cell, embed_dim, hidden_dim, num_layers=num_layers, **cell_options
    )
    decoder = unrolling.init_stacked(
        k_dec, cell, embed_dim, hidden_dim, num_layers=num_layers, **cell_options
    )
    return {
        "src_embed": jax.random.normal(k_se, (src_vocab, embed_dim)),
        "tgt_embed": jax.random.normal(k_te, (tgt_vocab + 1, embed_dim)),
        "encoder": encoder,
        "decoder": decoder,
        "readout": init_dense(k_out, _output_dim(decoder[-1], cell), tgt_vocab),
    }


def seq2seq_encode(
    cell: CellLike, params: Params, src: Array, src_lengths: Array | None = None
) -> list[Carry]:
    """The encoder's per-layer final carries after reading src int [B, S] (up to its lengths)."""
    _check_tokens(src, "src")
    finals, _ = unrolling.stacked(
        cell, params["encoder"], params["src_embed"][src], lengths=src_lengths
    )
    return finals


def seq2seq_logits(
    cell: CellLike,
    params: Params,
    src: Array,
    targets: Array,
    src_lengths: Array | None = None,
) -> Array:
    """Teacher-forced decoder logits [B, T, Vt] for targets int [B, T] (mask loss by lengths)."""
    _check_tokens(targets, "targets")
    _check_batch("src", src, "targets", targets)
    carries = seq2seq_encode(cell, params, src, src_lengths)
    _, ys = unrolling.stacked(
        cell, params["decoder"], _shifted_inputs(params["tgt_embed"], targets), carries=carries
    )
    return dense(params["readout"], ys)


def seq2seq_greedy_decode(
    cell: CellLike,
    params: Params,
    src: Array,
    max_len: int,
    src_lengths: Array | None = None,
) -> Array:
    """Greedy decoding: tokens int [B, max_len] (truncate at your EOS token afterwards)."""
    carries = seq2seq_encode(cell, params, src, src_lengths)
    embed = params["tgt_embed"]
    first = jnp.broadcast_to(embed[-1], (src.shape[0], embed.shape[1]))
    _, tokens = generate(
        jax.random.PRNGKey(0), cell, params["decoder"], params["readout"], carries, first,
        max_len, _token_feedback(embed, None),
    )  # fmt: skip
    return tokens
