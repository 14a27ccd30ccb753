"""How far each criterion sits from its threshold over several runs of the main job.

    python -m experiments.margins --runs seed0=runs/seed0 seed1=runs/seed1 \\
        seed2=runs/seed2 avx2=runs/avx2 --profile quick

Reads each run's `report.json` and prints, for every criterion judged in the
profile, its worst value over the runs (the largest for '<', the smallest for
'>'), the run that gave it, its threshold and the margin (how far the worst
value is from the threshold, on the side that passes). A criterion that fails
in any run shows a negative margin. `margins_table` is what the docs render
from the committed reports in `results/<profile>_runs/`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments import claims as claims_lib


def read_reports(runs: Mapping[str, str | Path]) -> dict[str, dict[str, Any]]:
    """{label: report.json} for each labelled run folder (or report.json path)."""
    out = {}
    for label, path in runs.items():
        path = Path(path)
        if path.is_dir():
            path = path / "report.json"
        report = json.loads(path.read_text())
        if not isinstance(report, dict) or "claims" not in report:
            raise ValueError(f"{path} is not a report.json of experiments.reproduce")
        out[label] = report
    return out


def margins(reports: Mapping[str, Mapping[str, Any]], profile: str) -> list[dict[str, Any]]:
    """One row per criterion judged in `profile`: worst value, its run, threshold, margin.

    A criterion missing from a run (its experiment crashed, or the run selected
    other claims) counts as failing there, with value None.
    """
    for label, report in reports.items():
        if report.get("profile") != profile:
            raise ValueError(
                f"run {label!r} is a {report.get('profile')!r} report, not {profile!r}"
            )
    rows = []
    for claim in claims_lib.CLAIMS:
        for c in claim.criteria:
            if profile not in c.profiles:
                continue
            values = {
                label: report["claims"].get(claim.id, {}).get("criteria", {}).get(c.text)
                for label, report in reports.items()
            }
            missing = [label for label, v in values.items() if v is None]
            if missing:
                worst_label, worst = missing[0], None
            else:
                pick = max if c.op in ("<", "<=") else min
                worst_label = pick(values, key=lambda label: values[label])
                worst = values[worst_label]
            margin = None
            if worst is not None:
                margin = c.threshold - worst if c.op in ("<", "<=") else worst - c.threshold
            passed = all(v is not None and c.passes(v) for v in values.values())
            rows.append({
                "claim": claim.id, "criterion": c.text, "op": c.op, "threshold": c.threshold,
                "worst": worst, "worst_run": worst_label, "margin": margin, "passed": passed,
                "values": values,
            })  # fmt: skip
    return rows


def _num(x: float | None) -> str:
    return "missing" if x is None else f"{x:.4g}"


def margins_table(reports: Mapping[str, Mapping[str, Any]], profile: str) -> str:
    """The margins as a Markdown table, one column per run."""
    labels = list(reports)
    head = ["claim", "criterion", *labels, "worst", "margin"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in margins(reports, profile):
        cells = [r["claim"], f"`{r['criterion']}`", *(_num(r["values"][k]) for k in labels)]
        cells += [_num(r["worst"]), _num(r["margin"]) + ("" if r["passed"] else " (FAIL)")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, metavar="LABEL=DIR")
    parser.add_argument("--profile", default="quick", choices=("quick", "full"))
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            parser.error(f"--runs entries are LABEL=DIR, got {item!r}")
        runs[label] = path
    try:
        reports = read_reports(runs)
        rows = margins(reports, args.profile)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(margins_table(reports, args.profile))
    failing = [r for r in rows if not r["passed"]]
    print(f"\n{len(rows) - len(failing)}/{len(rows)} criteria pass in every run", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
