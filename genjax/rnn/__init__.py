"""Recurrent networks with `lax.scan` (SEED_NOTES 3.1-3.6).

Modules: `cells` (tanh RNN, LSTM, GRU step functions), `unroll` (masked,
reversed, bidirectional, stacked unrolling), `architectures` (many-to-one,
one-to-many, aligned many-to-many, seq2seq), `bptt` (hand-written BPTT),
`analysis` (Jacobians vs lag, spectral radius), `clipping`, `tbptt`, `fused` (an
LSTM layer with a hand-written backward pass, the CPU fast path), `tasks`
(the adding and copy problems), `sequence_tasks` (3.1's generated tagging, addition,
reversal and digit-name data), `training` (many runs vmapped in one compiled step).
"""

from genjax.rnn import (
    analysis,
    architectures,
    bptt,
    cells,
    clipping,
    fused,
    sequence_tasks,
    tasks,
    tbptt,
    training,
    unroll,
)
from genjax.rnn.cells import CELL_NAMES, Cell, LSTMCarry, get_cell

__all__ = [
    "CELL_NAMES",
    "Cell",
    "LSTMCarry",
    "analysis",
    "architectures",
    "bptt",
    "cells",
    "clipping",
    "fused",
    "get_cell",
    "sequence_tasks",
    "tasks",
    "tbptt",
    "training",
    "unroll",
]
