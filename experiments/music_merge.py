"""Merges music runs that trained one cell each (e.g. in parallel processes) into one result.

    python -m experiments.music --workdir runs/music_lstm --config.cells="('lstm',)" &
    python -m experiments.music --workdir runs/music_gru --config.cells="('gru',)" &
    ...
    python -m experiments.music_merge --out runs/music runs/music_lstm runs/music_gru ...

Runs may also split the datasets (`--config.chorales=False` with `data_path` for JSB
alone; `data_path` left empty for the chorales alone). They must share every other
config field (checked), and no cell may appear twice on one dataset. The merged
metrics.json holds each run's per-cell metrics, and the `_selected` metrics are
chosen again, by valid NLL, across all the runs' cells (`common.select_music_cell`,
as `experiments.music` does within one run); config.json gets the union of the
cells. Figures stay in the runs' own folders. Keys depend on the cell's and the
dataset's names, so the merged runs start from the weights one run over all cells
and datasets would.

The cells are models of different shapes, trained one after another: they share
no run axis that `genjax.train.shard_runs` could split over devices, so training
them at once, on several machines or at different times, means separate runs
joined here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments import common
from genjax.rnn.cells import CELL_NAMES

# Fields that may differ between the merged runs: which cells and which datasets each trained.
_SPLIT_FIELDS = ("cells", "chorales", "data_path")


def merge(workdirs: list[Path], out: Path) -> dict[str, float]:
    configs = [json.loads((w / "config.json").read_text()) for w in workdirs]
    metrics_list = [common.read_metrics_json(w) for w in workdirs]
    common.check_same_config(workdirs, configs, _SPLIT_FIELDS)
    base = {k: v for k, v in configs[0].items() if k not in _SPLIT_FIELDS}
    paths = {c["data_path"] for c in configs if c.get("data_path")}
    if len(paths) > 1:
        raise ValueError(f"the runs read different data files: {sorted(paths)}")
    cells_of: dict[str, list[str]] = {}  # dataset prefix -> cells trained on it
    for c in configs:
        for prefix in common.music_dataset_prefixes(c):
            cells_of.setdefault(prefix, []).extend(c["cells"])
    for prefix, cells in cells_of.items():
        if len(set(cells)) != len(cells):
            name = prefix.rstrip("_") or "the data_path file"
            raise ValueError(f"a cell appears in more than one run on {name}: {cells}")
    merged: dict[str, float] = {}
    for m in metrics_list:
        merged.update({k: v for k, v in m.items() if "selected" not in k})
    for prefix, cells in cells_of.items():
        common.select_music_cell(merged, cells, prefix)
    cells = [c for c in CELL_NAMES if any(c in cs for cs in cells_of.values())]
    out.mkdir(parents=True, exist_ok=True)
    common.write_json(out / "config.json", {
        **base, "cells": cells, "data_path": next(iter(paths), ""),
        "chorales": "chorales_" in cells_of, "merged_from": [str(w) for w in workdirs],
    })  # fmt: skip
    return common.write_metrics(out, merged)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("workdirs", nargs="+", type=Path)
    args = parser.parse_args()
    try:
        metrics = merge(args.workdirs, args.out)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise SystemExit(f"error: {e}") from e
    for k in sorted(metrics):
        if "nll_per_step" in k:
            print(f"{k:45s} {metrics[k]:.4f}")
    print(f"wrote {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
