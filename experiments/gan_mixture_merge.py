"""Joins gan_mixture runs split by mixture, variant and sweep cell into one result.

    python -m experiments.gan_mixture --workdir runs/gan_ring --config.datasets="('ring',)" \\
        --config.stability_sweep=False &
    python -m experiments.gan_mixture --workdir runs/gan_grid_k10 \\
        --config.datasets="('grid',)" --config.variants="('unrolled_k10',)" \\
        --config.stability_sweep=False &
    python -m experiments.gan_mixture --workdir runs/sweep_deep --config.datasets="('ring',)" \\
        --config.variants="('gan_minimax',)" --config.stability_disc_depths="(3,4)" &
    ...
    python -m experiments.gan_mixture_merge --out runs/gan_mixture runs/gan_ring \\
        runs/gan_grid_k10 runs/sweep_deep:sweep/*/*

Each RUN may end in `:SELECT`, a comma-separated list of the pieces to take from
it: `DATASET/VARIANT` (a trained variant, from the run's per_run.json) and
`sweep/METHOD/DEPTH` (one cell of the stability sweep: a method at one D depth,
every learning rate and seed, from its stability_runs.json); any part may be
`*`. Without it, every piece the run has is taken. Cut runs count: they write
per_run.json after each variant and stability_runs.json after each sweep cell.

The runs must share every config field but the ones that split the work (checked),
and no piece may come from two runs. The merged metrics.json is recomputed from
the pieces' per-seed numbers (`genjax.gan.metrics.seed_summary`, the means
`gan_mixture` reports) and the sweep's rows (`genjax.gan.metrics.stability_metrics`);
per_run.json, stability_runs.json, stability.png and config.json (the union of the
pieces) are written beside it, and
merge_sources.json says which run each piece came from. Sample figures stay in
the runs' own folders. Keys depend on names (dataset, variant, sweep depth), so
the merged pieces are the ones a single run would train.

One `gan_mixture` run already splits each variant's seeds and the stability
sweep's grid over every device it sees, on one host or, with `--distributed`,
on all hosts of a JAX cluster (`genjax.train.shard_runs`). This tool joins the
pieces that ran as separate jobs: on machines that do not form one cluster, or
at different times (a variant or sweep cell added or rerun later).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import types
from pathlib import Path

import numpy as np

from experiments import common
from experiments.configs import gan_mixture as gan_mixture_config
from genjax.gan import metrics as gan_metrics

# Fields that may differ between the merged runs: which pieces each trained.
_SPLIT_FIELDS = (
    "datasets", "variants", "stability_sweep", "stability_methods", "stability_disc_depths",
)  # fmt: skip
_ROW_FIELDS = ("variant", "depth", "lr", "seed", "modes", "hq", "success")
_DATASETS = ("ring", "grid")


def parse_run(arg: str) -> tuple[Path, list[str] | None]:
    """'DIR' or 'DIR:SELECT' -> (DIR, the SELECT patterns or None for everything)."""
    path, sep, select = arg.partition(":")
    if not sep:
        return Path(path), None
    patterns = [p.strip() for p in select.split(",") if p.strip()]
    for p in patterns:
        parts = p.split("/")
        if not (len(parts) == 2 and parts[0] in (*_DATASETS, "*")) and not (
            len(parts) == 3 and parts[0] == "sweep"
        ):
            raise ValueError(
                f"{arg}: {p!r} is neither DATASET/VARIANT (dataset ring, grid or *) "
                "nor sweep/METHOD/DEPTH"
            )
    if not patterns:
        raise ValueError(f"{arg}: empty selection after ':'")
    return Path(path), patterns


def _read_json(path: Path, default=None):
    if not path.exists():
        if default is not None:
            return default
        raise ValueError(f"{path} is missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def _variant_matches(prefix: str, patterns: list[str] | None) -> bool:
    if patterns is None:
        return True
    dataset, _, variant = prefix.partition("_")
    return any(
        len(p.split("/")) == 2 and fnmatch.fnmatchcase(f"{dataset}/{variant}", p) for p in patterns
    )


def _row_matches(row: dict, patterns: list[str] | None) -> bool:
    if patterns is None:
        return True
    return any(
        len(p.split("/")) == 3 and fnmatch.fnmatchcase(f"sweep/{row['variant']}/{row['depth']}", p)
        for p in patterns
    )


def _per_seed_arrays(numbers: dict[str, list]) -> dict[str, np.ndarray]:
    """per_run.json's lists as gan_mixture's `score_runs` returned them: float32 statistics
    from JAX, float64 W1 (scipy's assignment), so the merged means match a single run's to
    the last digit."""
    arrays = {k: np.asarray(numbers[k], np.float32) for k in ("modes", "hq", "reverse_kl")}
    arrays["w1"] = np.asarray(numbers["w1"], np.float64)
    return arrays


def merge(runs: list[tuple[Path, list[str] | None]], out: Path) -> dict[str, float]:
    """Merges the selected pieces of `runs` into `out`; returns the merged metrics."""
    if not runs:
        raise ValueError("no runs to merge")
    configs = [_read_json(d / "config.json") for d, _ in runs]
    common.check_same_config([d for d, _ in runs], configs, _SPLIT_FIELDS)
    per_run: dict[str, dict] = {}
    rows: list[dict] = []
    sources: dict[str, str] = {}
    seen_rows: set[tuple] = set()
    for d, patterns in runs:
        taken = 0
        for prefix, numbers in _read_json(d / "per_run.json", default={}).items():
            if not _variant_matches(prefix, patterns):
                continue
            if prefix in per_run:
                raise ValueError(f"{prefix} comes from both {sources[prefix]} and {d}")
            per_run[prefix], sources[prefix] = numbers, str(d)
            taken += 1
        for row in _read_json(d / "stability_runs.json", default=[]):
            if not _row_matches(row, patterns):
                continue
            cell = f"sweep/{row['variant']}/{row['depth']}"
            run_id = (row["variant"], row["depth"], row["lr"], row["seed"])
            if run_id in seen_rows or sources.setdefault(cell, str(d)) != str(d):
                raise ValueError(f"{cell} comes from both {sources[cell]} and {d}")
            seen_rows.add(run_id)
            rows.append(row)
            taken += 1
        if not taken:
            raise ValueError(f"{d}: nothing selected (selection {patterns})")
    metrics: dict[str, float] = {}
    for prefix, numbers in per_run.items():
        summary = gan_metrics.seed_summary(_per_seed_arrays(numbers))
        metrics.update({f"{prefix}_{k}": v for k, v in summary.items()})
    metrics["num_modes_ring"], metrics["num_modes_grid"] = 8.0, 25.0
    config = dict(configs[0])
    config["datasets"] = [ds for ds in _DATASETS if any(p.startswith(f"{ds}_") for p in per_run)]
    trained = {p.partition("_")[2] for p in per_run}
    presets = [v for v in gan_mixture_config.ALL_VARIANTS if v in trained]
    config["variants"] = presets + sorted(trained - set(presets))
    config["stability_sweep"] = bool(rows)
    out.mkdir(parents=True, exist_ok=True)
    if rows:
        methods = gan_mixture_config.STABILITY_METHODS
        method_order = {m: i for i, m in enumerate(methods)}
        rows.sort(key=lambda r: (method_order[r["variant"]], r["depth"], r["lr"], r["seed"]))
        tuples = [tuple(r[f] for f in _ROW_FIELDS) for r in rows]
        metrics.update(gan_metrics.stability_metrics(tuples))
        depths = sorted({r["depth"] for r in rows})
        config["stability_methods"] = [m for m in methods if any(r["variant"] == m for r in rows)]
        config["stability_disc_depths"] = depths
        lrs = config["stability_learning_rates"]
        common.plot_stability(tuples, methods, depths, lrs, out)
        common.write_json(out / "stability_runs.json", rows)
        metrics.update(_stability_curves(rows, config, out))
    metrics.update(_snapshot_metrics(per_run))
    _plot_variants(per_run, config, out)
    common.write_json(out / "per_run.json", per_run)
    common.write_json(out / "config.json", config)
    common.write_json(out / "merge_sources.json", sources)
    return common.write_metrics(out, metrics)


def _snapshot_metrics(per_run: dict[str, dict]) -> dict[str, float]:
    """`{prefix}_modes_visited_mean` of every piece trained with snapshots, as a run computes it."""
    return {
        f"{prefix}_modes_visited_mean": float(np.mean(numbers["modes_visited"]))
        for prefix, numbers in per_run.items()
        if "modes_visited" in numbers
    }


def _stability_curves(rows: list[dict], config: dict, out: Path) -> dict[str, float]:
    """The sweep's success curves from the rows' snapshots (when every row has them)."""
    from experiments import gan_mixture

    if not rows or not all("snapshot_modes" in r for r in rows):
        return {}
    thresholds = types.SimpleNamespace(
        stability_min_modes=config["stability_min_modes"],
        stability_min_hq=config["stability_min_hq"],
    )
    curves: dict[str, list] = {}
    for r in rows:
        ok = gan_mixture._succeeds(r["snapshot_modes"], r["snapshot_hq"], thresholds)
        steps = np.asarray(r["snapshot_steps"])
        curves.setdefault(r["variant"], []).append({"steps": steps, "success": ok[None]})
    return gan_mixture._stability_curves(curves, out)


def _plot_variants(per_run: dict[str, dict], config: dict, out: Path) -> None:
    """samples.png (and modes_over_training.png with snapshots) of the merged pieces, from
    the seed-0 samples and snapshots their per_run.json keeps; the held-out data is
    redrawn under the run's key, as `gan_mixture` draws it."""
    import jax

    from experiments import gan_mixture
    from genjax.data import mixtures
    from genjax.random_keys import named_key

    if not per_run or not all("samples_seed0" in n for n in per_run.values()):
        return
    root = jax.random.PRNGKey(config["seed"])
    results = {}
    for dataset in config["datasets"]:
        modes, std = mixtures.load_mixture(dataset)
        key = named_key(root, f"{dataset}/held_out")
        data = np.asarray(mixtures.sample_mixture(key, config["w1_samples"], modes, std))
        results[dataset] = {"modes": modes, "data": data, "runs": {}}
        for variant in config["variants"]:
            numbers = per_run.get(f"{dataset}_{variant}")
            if numbers is None:
                continue
            run = {k: np.asarray(numbers[k]) for k in ("modes", "hq")}
            run["samples"] = np.asarray(numbers["samples_seed0"])[None]
            if "snapshot_modes" in numbers:
                run["snapshot_steps"] = np.asarray(numbers["snapshot_steps"])
                run["snapshot_modes"] = np.asarray(numbers["snapshot_modes"])
            results[dataset]["runs"][variant] = run
    if len({tuple(r["runs"]) for r in results.values()}) != 1:
        return  # the sample grid needs the same variants on every mixture
    gan_mixture._plot_samples(results, out)
    if all("snapshot_modes" in n for n in per_run.values()):
        gan_mixture._plot_snapshots(results, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for the merged run")
    parser.add_argument("runs", nargs="+", help="gan_mixture workdirs, each DIR or DIR:SELECT")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    try:
        metrics = merge([parse_run(r) for r in args.runs], args.out)
    except ValueError as e:
        parser.exit(2, f"error: {e}\n")
    width = max(len(k) for k in metrics)
    for key in sorted(metrics):
        print(f"{key:<{width}}  {metrics[key]:.6g}")
    print(f"wrote {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
