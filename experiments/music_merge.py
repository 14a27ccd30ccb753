"""Merges music runs that trained one cell each (e.g. in parallel processes) into one result.

    python -m experiments.music --workdir runs/music_lstm --config.cells="('lstm',)" &
    python -m experiments.music --workdir runs/music_gru --config.cells="('gru',)" &
    ...
    python -m experiments.music_merge --out runs/music runs/music_lstm runs/music_gru ...

The runs must share every config field but `cells` (checked). The merged
metrics.json holds each run's per-cell metrics, and the `_selected` metrics are
chosen again, by valid NLL, across all the runs' cells, as `experiments.music`
does within one run; config.json gets the union of the cells. Figures stay in the
runs' own folders. (Each run seeds its first cell with the same key, so the merged
runs start from different weights than one run over all cells would.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments import common, music


def merge(workdirs: list[Path], out: Path) -> dict[str, float]:
    configs = [json.loads((w / "config.json").read_text()) for w in workdirs]
    metrics_list = [common.read_metrics_json(w) for w in workdirs]
    base = {k: v for k, v in configs[0].items() if k != "cells"}
    for w, c in zip(workdirs, configs, strict=True):
        other = {k: v for k, v in c.items() if k != "cells"}
        if other != base:
            diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
            raise ValueError(f"{w}: config differs from {workdirs[0]} in {diff}")
    cells = [cell for c in configs for cell in c["cells"]]
    if len(set(cells)) != len(cells):
        raise ValueError(f"a cell appears in more than one run: {cells}")
    merged: dict[str, float] = {}
    for m in metrics_list:
        merged.update({k: v for k, v in m.items() if "selected" not in k})
    prefixes = [p for p in ("", "chorales_") if f"{p}valid_nll_per_step_{cells[0]}" in merged]
    for p in prefixes:
        music.select_cell(merged, cells, p)
    out.mkdir(parents=True, exist_ok=True)
    common.write_json(out / "config.json", {**base, "cells": cells, "merged_from": [
        str(w) for w in workdirs]})  # fmt: skip
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
