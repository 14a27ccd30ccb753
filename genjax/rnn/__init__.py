"""Recurrent networks with `lax.scan` (3.1-3.6).

Modules, lowest first: `spectral` (a weight matrix's spectral radius), `cells`
(tanh RNN, LSTM, GRU step functions), `sequences` (padded batches: checks and
masks), `fused` (an LSTM layer with a hand-written backward pass, the CPU fast
path), `unrolling` (masked, reversed, bidirectional, stacked unrolling), `tbptt`,
`architectures` (many-to-one, one-to-many, aligned many-to-many, seq2seq),
`polyphonic` (next-frame models of piano rolls), `bptt` (hand-written BPTT),
`analysis` (Jacobians vs lag), `clipping`, `tasks` (the adding and copy problems),
`sequence_tasks` (3.1's generated tagging, addition, reversal and digit-name data),
`training` (many runs vmapped in one compiled step), `cudnn` (the GPU's LSTM).

The constructors and the unrolling functions are also here: `genjax.rnn.unroll`
is the function that runs one layer (`genjax.rnn.unrolling.unroll`).
"""

from genjax.rnn import (
    analysis,
    architectures,
    bptt,
    cells,
    clipping,
    fused,
    polyphonic,
    sequence_tasks,
    sequences,
    spectral,
    tasks,
    tbptt,
    training,
    unrolling,
)
from genjax.rnn.architectures import (
    init_many_to_many,
    init_many_to_one,
    init_one_to_many,
    init_seq2seq,
    many_to_many,
    many_to_one,
    readout_only,
)
from genjax.rnn.cells import (
    CELL_NAMES,
    Cell,
    CellLike,
    LSTMCarry,
    as_cell,
    get_cell,
    init_cell,
)
from genjax.rnn.unrolling import (
    bidirectional,
    init_bidirectional,
    init_stacked,
    initial_carry,
    stacked,
    unroll,
)

__all__ = [
    "CELL_NAMES",
    "Cell",
    "CellLike",
    "LSTMCarry",
    "analysis",
    "architectures",
    "as_cell",
    "bidirectional",
    "bptt",
    "cells",
    "clipping",
    "fused",
    "get_cell",
    "init_bidirectional",
    "init_cell",
    "init_many_to_many",
    "init_many_to_one",
    "init_one_to_many",
    "init_seq2seq",
    "init_stacked",
    "initial_carry",
    "many_to_many",
    "many_to_one",
    "polyphonic",
    "readout_only",
    "sequence_tasks",
    "sequences",
    "spectral",
    "stacked",
    "tasks",
    "tbptt",
    "training",
    "unroll",
    "unrolling",
]
