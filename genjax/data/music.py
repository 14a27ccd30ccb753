"""Polyphonic music as 88-unit binary piano rolls (MIDI 21..108), one frame per quarter note.

Two sources, one format (`PolyphonicDataset`: per split, a list of [T_i, 88] rolls):

- `load_polyphonic(path)`: the standard benchmark files of Boulanger-Lewandowski et
  al. 2012 (JSB Chorales, Nottingham, MuseData, Piano-midi.de) as a JSON or pickle
  object with keys 'train', 'valid', 'test', each a list of pieces, each a list of
  time steps, each a list (or tuple) of the MIDI note numbers sounding;
  `load_polyphonic_split(path, split)` reads one split of such a file.
- `load_bach_chorales()`: a JSB-like dataset built from the Bach chorales that
  music21's package ships (no download): the four-part scores, sampled every
  quarter note (a pitch is on in frame t if a note sounds at offset t), leading and
  trailing silent frames trimmed, exact duplicates dropped, and a fixed split by
  sorted file name (every fifth piece valid, the next one test, the rest train).
  Parsing takes a few minutes, so the rolls are cached as `.npz` (a corrupt cache is
  rebuilt); `max_pieces` parses only the first N files (the quick profile).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genjax.data.images import _load_cached, _optional_import, cache_dir

LOWEST_PITCH = 21  # A0
NUM_PITCHES = 88  # A0..C8, MIDI 21..108
SPLITS = ("train", "valid", "test")
_CACHE_VERSION = 1

log = logging.getLogger("genjax")


class PolyphonicDataset(NamedTuple):
    """Per split, a list of float32 piano rolls [T_i, 88] (1 = pitch 21 + k sounds)."""

    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    name: str

    def split(self, name: str) -> list[np.ndarray]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)

    def num_frames(self, split: str) -> int:
        return int(sum(len(r) for r in self.split(split)))


def piano_roll(piece: Sequence[Sequence[int]], *, where: str = "piece") -> np.ndarray:
    """[T, 88] float32 roll of a list of time steps of MIDI note numbers (21..108)."""
    roll = np.zeros((len(piece), NUM_PITCHES), np.float32)
    for t, step in enumerate(piece):
        if not isinstance(step, (list, tuple)):
            raise ValueError(f"{where}, time step {t}: expected a list of MIDI notes, got {step!r}")
        for note in step:
            if isinstance(note, bool) or not isinstance(note, (int, np.integer, float)):
                raise ValueError(f"{where}, time step {t}: {note!r} is not a MIDI note number")
            if note != int(note) or not LOWEST_PITCH <= note < LOWEST_PITCH + NUM_PITCHES:
                raise ValueError(
                    f"{where}, time step {t}: MIDI note {note!r} is outside "
                    f"{LOWEST_PITCH}..{LOWEST_PITCH + NUM_PITCHES - 1}"
                )
            roll[t, int(note) - LOWEST_PITCH] = 1.0
    return roll


def _read_polyphonic(path: str | Path) -> tuple[Path, dict]:
    """(the path, the file's object with keys 'train', 'valid', 'test'), checks the format of
    none of the pieces."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"polyphonic dataset {path} does not exist")
    try:
        if path.suffix == ".json":
            with open(path) as f:
                data = json.load(f)
        elif path.suffix in (".pkl", ".pickle"):
            with open(path, "rb") as f:
                data = pickle.load(f)  # noqa: S301 (a file the user names)
        else:
            raise ValueError(f"{path}: expected a .json, .pkl or .pickle file")
    except (json.JSONDecodeError, pickle.UnpicklingError, EOFError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a readable JSON/pickle file: {e}") from e
    if not isinstance(data, dict) or any(s not in data for s in SPLITS):
        raise ValueError(f"{path}: expected an object with keys {SPLITS}")
    return path, data


def _split_rolls(path: Path, data: dict, split: str) -> list[np.ndarray]:
    pieces = data[split]
    if not isinstance(pieces, (list, tuple)) or not pieces:
        raise ValueError(f"{path}: '{split}' must be a non-empty list of pieces")
    rolls = []
    for i, piece in enumerate(pieces):
        if not isinstance(piece, (list, tuple)) or len(piece) < 2:
            raise ValueError(f"{path}: {split} piece {i} must be a list of >= 2 time steps")
        rolls.append(piano_roll(piece, where=f"{path}: {split} piece {i}"))
    return rolls


def load_polyphonic(path: str | Path) -> PolyphonicDataset:
    """Loads a standard polyphonic benchmark file (.json, or .pkl/.pickle) into piano rolls.

    Raises FileNotFoundError for a missing file and ValueError, naming the split,
    piece and time step, for anything that is not the format.
    """
    path, data = _read_polyphonic(path)
    return PolyphonicDataset(**{s: _split_rolls(path, data, s) for s in SPLITS}, name=path.stem)


def load_polyphonic_split(path: str | Path, split: str) -> list[np.ndarray]:
    """One split of a file `load_polyphonic` reads, as piano rolls; the other splits' pieces
    are neither converted nor checked (nor kept). Raises as `load_polyphonic`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path, data = _read_polyphonic(path)
    return _split_rolls(path, data, split)


# ----------------------------------------------------------------------------- music21


def _score_frames(score) -> list[list[int]] | None:
    """Quarter-note frames of a four-part score (None if it is not one)."""
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    length = int(np.ceil(float(score.highestTime)))
    frames: list[set[int]] = [set() for _ in range(length)]
    for part in parts:
        for n in part.flatten().notes:  # notes and chords, absolute offsets
            start, end = float(n.offset), float(n.offset) + float(n.quarterLength)
            for t in range(int(np.ceil(start)), min(int(np.ceil(end)), length)):
                frames[t].update(p.midi for p in n.pitches)
    sounding = [t for t, f in enumerate(frames) if f]
    if not sounding:
        return None
    return [sorted(f) for f in frames[sounding[0] : sounding[-1] + 1]]


def _music21_corpus():
    # Imported lazily: music21 is optional, and importing it takes ~0.5 s.
    return _optional_import("music21.corpus", "load_bach_chorales", "music21")


def _chorale_files():
    corpus = _music21_corpus()

    files = [p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml", ".musicxml")]
    return sorted(files, key=lambda p: p.name)


def _build_chorales(files) -> dict[str, np.ndarray]:
    corpus = _music21_corpus()

    rolls, names, splits, seen = [], [], [], set()
    for i, f in enumerate(files):
        if i % 50 == 0:
            log.info("music21 chorales: parsing %d/%d", i, len(files))
        frames = _score_frames(corpus.parse(f))
        if frames is None or len(frames) < 2:
            continue
        if any(not LOWEST_PITCH <= p < LOWEST_PITCH + NUM_PITCHES for s in frames for p in s):
            continue
        signature = tuple(map(tuple, frames))
        if signature in seen:
            continue
        seen.add(signature)
        rolls.append(piano_roll(frames, where=f.name))
        names.append(f.name)
        splits.append({0: 1, 1: 2}.get(i % 5, 0))  # 0 train, 1 valid, 2 test
    lengths = np.array([len(r) for r in rolls], np.int64)
    return {
        "rolls": np.concatenate(rolls).astype(np.uint8),
        "lengths": lengths,
        "splits": np.array(splits, np.int8),
        "names": np.array(names),
        "num_files": np.asarray(len(files)),
        "version": np.asarray(_CACHE_VERSION),
    }


def _valid_chorales_cache(arrays: dict[str, np.ndarray], num_files: int) -> bool:
    try:
        return (
            int(arrays["version"]) == _CACHE_VERSION
            and int(arrays["num_files"]) == num_files
            and arrays["rolls"].ndim == 2
            and arrays["rolls"].shape[1] == NUM_PITCHES
            and int(arrays["lengths"].sum()) == arrays["rolls"].shape[0]
            and arrays["splits"].shape == arrays["lengths"].shape
            and all((arrays["splits"] == s).any() for s in range(3))
        )
    except (KeyError, ValueError):
        return False


def load_bach_chorales(max_pieces: int | None = None) -> PolyphonicDataset:
    """The four-part Bach chorales of music21's corpus as quarter-note piano rolls (cached)."""
    if max_pieces is not None and (isinstance(max_pieces, bool) or max_pieces < 15):
        raise ValueError(f"max_pieces must be None or >= 15 (all three splits), got {max_pieces}")
    files = _chorale_files()[:max_pieces]  # [:None] keeps all
    tag = "all" if max_pieces is None else str(max_pieces)
    arrays = _load_cached(
        cache_dir() / f"bach_chorales_{tag}.npz",
        lambda: _build_chorales(files),
        lambda a: _valid_chorales_cache(a, len(files)),
    )
    pieces = np.split(arrays["rolls"].astype(np.float32), np.cumsum(arrays["lengths"])[:-1])
    by_split = {
        s: [p for p, k in zip(pieces, arrays["splits"], strict=True) if k == i]
        for i, s in enumerate(SPLITS)
    }
    return PolyphonicDataset(**by_split, name="music21_chorales")


# ----------------------------------------------------------------------------- batching


def pad_rolls(rolls: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, ...]:
    """Stacks rolls into (inputs, targets, lengths) for next-step prediction.

    targets [N, L, 88] are the rolls zero-padded to `length` (default: the longest);
    inputs are the targets shifted right by one frame (an all-zero first frame), so
    the model predicts every frame, the first one included, from the frames before it.
    """
    lengths = np.array([len(r) for r in rolls], np.int32)
    length = int(lengths.max()) if length is None else length
    if lengths.max() > length:
        raise ValueError(f"a piece has {lengths.max()} frames, more than length={length}")
    targets = np.zeros((len(rolls), length, NUM_PITCHES), np.float32)
    for i, r in enumerate(rolls):
        targets[i, : len(r)] = r
    inputs = np.concatenate([np.zeros_like(targets[:, :1]), targets[:, :-1]], axis=1)
    return inputs, targets, lengths
