"""The main job: run every registered claim's experiment and write one report.

    python -m experiments.reproduce --workdir runs/reproduce            # quick profile
    python -m experiments.reproduce --workdir runs/full --profile full  # paper scale
    python -m experiments.reproduce --workdir runs/reproduce --claims 1.1,1.2
    python -m experiments.reproduce --workdir results/full --profile full --judge_only
    python -m experiments.reproduce --workdir runs/reproduce --jobs 2  # two at a time
    python -m experiments.reproduce --workdir runs/seed1 --seed 1      # every seed + 1

Writes `WORKDIR/REPORT.md` (one row per criterion: claim id, statement, metric,
measured value, criterion, PASS/FAIL, linked figures), `WORKDIR/report.json` and
`WORKDIR/environment.json` (versions, devices, CPU and ISA, XLA_FLAGS, commit);
each experiment's outputs go to `WORKDIR/<experiment>/`, with its wall time in
`run.json`. Exits 1 if any claim fails or any experiment crashes, 2 on bad
arguments (before any work).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import logging
import math
import multiprocessing
import platform
import sys
import time
import traceback
from pathlib import Path

from experiments import claims as claims_lib
from experiments import common
from genjax import provenance
from genjax.train.lock import WorkdirLock, WorkdirLockedError

log = logging.getLogger("genjax")


def select_claims(spec: str | None) -> list[claims_lib.Claim]:
    """The registered claims named in a comma-separated list (all when empty)."""
    if not spec:
        return list(claims_lib.CLAIMS)
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    known = {c.id for c in claims_lib.CLAIMS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise common.ConfigError(f"unknown claim ids {unknown}; registered: {sorted(known)}")
    return [c for c in claims_lib.CLAIMS if c.id in wanted]


RUN_FILE = "run.json"  # an experiment's wall time, as the main job measured it


def _run_one(name: str, config, workdir: Path) -> dict:
    """One experiment: {metrics, seconds, error}; a crash is recorded, not raised."""
    start = time.perf_counter()
    train_and_evaluate = common.experiment_fn(name)
    (workdir / name / "error.txt").unlink(missing_ok=True)  # a rerun's outcome replaces it
    try:
        metrics = train_and_evaluate(config, workdir / name)
        error = None
    except Exception as e:  # one broken experiment must not hide the others' results
        metrics, error = {}, f"{type(e).__name__}: {e}"
        (workdir / name).mkdir(parents=True, exist_ok=True)
        (workdir / name / "error.txt").write_text(traceback.format_exc())
        log.error("%s failed: %s", name, error)
    finally:
        common.release_workdirs()
    seconds = time.perf_counter() - start
    if (workdir / name).is_dir():
        common.write_json(
            workdir / name / RUN_FILE,
            {
                "seconds": seconds,
                "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                "profile": config.get("profile"),
                "seed": config.get("seed"),
                "error": error,
            },
        )
    return {"metrics": metrics, "seconds": seconds, "error": error}


def _run_in_worker(name: str, config, workdir: Path) -> dict:
    """`_run_one` in a worker process, its progress lines prefixed with the experiment."""
    import matplotlib

    matplotlib.use("Agg")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s [{name}] %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("genjax")
    logger.addHandler(handler)  # a worker runs several experiments, one after another
    logger.propagate = False
    common.setup_logging()
    try:
        return _run_one(name, config, workdir)
    finally:
        logger.removeHandler(handler)


def _executor(jobs: int) -> concurrent.futures.Executor:
    """Worker processes, started fresh ('spawn': JAX does not survive a fork)."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
    )


# The committed reports: their experiment_seconds order the submissions of a parallel run.
RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def submission_order(names: list[str], profile: str, results_dir: Path = RESULTS_DIR) -> list[str]:
    """`names`, longest first by `results_dir/<profile>/report.json`'s experiment_seconds
    (the committed run's), so that with several jobs the longest experiment does not start
    last and leave the other workers idle at the end. Names it lacks keep their place in
    front (unknown cost); without a readable report the order is unchanged."""
    try:
        recorded = json.loads((results_dir / profile / "report.json").read_text())
        recorded = dict(recorded["experiment_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return list(names)
    seconds = {  # a judge-only report records None, a crashed experiment NaN: unknown
        k: float(v) for k, v in recorded.items() if isinstance(v, (int, float)) and math.isfinite(v)
    }
    return sorted(names, key=lambda n: -seconds.get(n, math.inf))


def seeded_config(name: str, profile: str, seed: int = 0):
    """Experiment `name`'s config in `profile` with its seed offset by `seed`."""
    config = common.get_config(name, profile)
    if seed:
        if "seed" not in config:
            raise common.ConfigError(f"{name}'s config has no seed field to offset")
        config.seed = int(config.seed) + seed
    return config


def run_experiments(
    names: list[str], profile: str, workdir: Path, jobs: int = 1, seed: int = 0
) -> dict[str, dict]:
    """Runs each experiment; returns {name: {metrics, seconds, error}} in `names` order.

    With `jobs` > 1 that many experiments run at once, each in its own process:
    much of a small experiment's time is single-threaded (XLA compiling, Python
    dispatch), so two of them share 2 cores well. `seed` offsets every
    experiment's `config.seed`.
    """
    if jobs < 1:
        raise common.ConfigError(f"jobs must be >= 1, got {jobs}")
    # Every config is built (and checked) before anything runs.
    configs = {name: seeded_config(name, profile, seed) for name in names}
    if jobs == 1:
        results = {}
        for i, name in enumerate(names, 1):
            log.info("[%d/%d] %s (%s profile)", i, len(names), name, profile)
            results[name] = _run_one(name, configs[name], workdir)
            log.info("[%d/%d] %s done in %.1f s", i, len(names), name, results[name]["seconds"])
        return results
    done = {}
    with _executor(jobs) as pool:
        futures = {
            pool.submit(_run_in_worker, name, configs[name], workdir): name
            for name in submission_order(names, profile)
        }
        log.info("running %d experiments, %d at a time (%s profile)", len(names), jobs, profile)
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                done[name] = future.result()
            except Exception as e:  # the worker itself died (e.g. out of memory)
                done[name] = {"metrics": {}, "seconds": float("nan"), "error": repr(e)}
            log.info("[%d/%d] %s done in %.1f s", len(done), len(names), name,
                     done[name]["seconds"])  # fmt: skip
    return {name: done[name] for name in names}


def _read_json_object(path: Path) -> dict | None:
    """The JSON object in `path`; None when the file is missing; ConfigError when it is not one."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise common.ConfigError(f"cannot read {path}: {e}") from e
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise common.ConfigError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise common.ConfigError(f"{path} must hold a JSON object, not {type(obj).__name__}")
    return obj


def read_results(names: list[str], workdir: Path, profile: str | None = None) -> dict[str, dict]:
    """The metrics.json each experiment already wrote under `workdir` (no training).

    An experiment without one counts as not run, so its claims fail. A metrics.json
    that is not a JSON object, or one written by a run of another profile than
    `profile` (by its config.json), is refused with a ConfigError before anything
    is judged. Each result carries the original run's wall time from its run.json.
    """
    results = {}
    for name in names:
        path = workdir / name / "metrics.json"
        metrics = _read_json_object(path)
        if profile is not None and metrics is not None:
            config = _read_json_object(workdir / name / "config.json") or {}
            if config.get("profile", profile) != profile:
                raise common.ConfigError(
                    f"{path} comes from a {config['profile']!r} run (its config.json), "
                    f"not {profile!r}: judge it with --profile {config['profile']}"
                )
        run = _read_json_object(workdir / name / RUN_FILE) or {}
        error = None if metrics is not None else f"no readable {path}"
        results[name] = {
            "metrics": metrics or {},
            "seconds": None,
            "original_seconds": run.get("seconds"),
            "original_finished": run.get("finished"),
            "error": error,
            "not_run": error is not None,
        }
    return results


def _fmt(value: float | None) -> str:
    if value is None:
        return "missing"
    return f"{value:.4g}"


def evaluate_claims(
    claims: list[claims_lib.Claim], results: dict[str, dict], profile: str = "quick"
) -> list[dict]:
    """One entry per claim with the per-criterion rows and the overall verdict.

    A criterion outside `profile` is reported with its value (when measured) but
    not judged (`passed` None); a claim none of whose criteria apply is 'SKIP':
    it neither passes nor fails in this profile.
    """
    out = []
    for claim in claims:
        rows, errors, not_run = [], [], False
        for criterion in claim.criteria:
            name = criterion.experiment or claim.experiment
            if name not in results:  # not run in this profile (common.main_job_profiles)
                rows.append({"criterion": criterion, "value": None, "passed": None})
                continue
            result = results[name]
            not_run = not_run or result.get("not_run", False)
            if result["error"] and result["error"] not in errors:
                errors.append(result["error"])
            value, passed = criterion.check(result["metrics"])
            if profile not in criterion.profiles:
                passed = None
            rows.append({"criterion": criterion, "value": value, "passed": passed})
        error = "; ".join(errors) or None
        judged = [r["passed"] for r in rows if r["passed"] is not None]
        passed = error is None and all(judged)
        status = "FAIL" if not passed else ("PASS" if judged else "SKIP")
        if not_run:
            status = "NOT RUN"
        out.append(
            {"claim": claim, "rows": rows, "passed": passed, "status": status, "error": error}
        )
    return out


def _took(result: dict | None, profile: str) -> str:
    """How a claim's own experiment's numbers came about, for the report."""
    if result is None:  # a criterion of another experiment: its own runs only in other profiles
        return f"not run in the {profile} profile"
    seconds = result["seconds"]
    took = "judged from its metrics.json" if seconds is None else f"{seconds:.0f} s"
    original = result.get("original_seconds")
    if seconds is None and isinstance(original, (int, float)):
        took += f"; the run took {original:.0f} s"
    return took


def _row_result(passed: bool | None, criterion: claims_lib.Criterion) -> str:
    if passed is None:
        return f"not checked ({'/'.join(criterion.profiles)} profile only)"
    return "PASS" if passed else "FAIL"


def _header(
    results: dict[str, dict], profile: str, seconds: float, environment: dict | None, seed: int
) -> list[str]:
    """The report's provenance lines: when, where, with what, and how long."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    where = f"{platform.node()} ({platform.machine()})"
    seeds = f", seed offset {seed}" if seed else ""
    judged = results and all(r["seconds"] is None for r in results.values())
    if judged:
        took = [r.get("original_seconds") for r in results.values()]
        known = [t for t in took if isinstance(t, (int, float))]
        finished = sorted(r["original_finished"] for r in results.values()
                          if r.get("original_finished"))  # fmt: skip
        when = f", finished {finished[0]} to {finished[-1]}" if finished else ""
        line = (
            f"Profile `{profile}`{seeds}: judged on {now} on {where} from the metrics already "
            f"in this folder, nothing trained. The original runs took {sum(known):.0f} s "
            f"of experiment time ({len(known)} of {len(took)} recorded){when}."
        )
    else:
        line = f"Profile `{profile}`{seeds}, {now}, {where}, {seconds:.0f} s in all."
    lines = [line]
    if environment is not None:
        lines += ["", f"Environment: {provenance.summary(environment)} (`environment.json`)."]
    return lines


def render_report(
    verdicts: list[dict],
    results: dict[str, dict],
    profile: str,
    seconds: float,
    environment: dict | None = None,
    seed: int = 0,
):
    """REPORT.md's text."""
    n_pass = sum(v["status"] == "PASS" for v in verdicts)
    n_skip = sum(v["status"] == "SKIP" for v in verdicts)
    n_not_run = sum(v["status"] == "NOT RUN" for v in verdicts)
    skipped = (
        f" {n_skip} checked only in the full profile (their quick run proves the code path)."
        if n_skip
        else ""
    )
    if n_not_run:
        skipped += f" {n_not_run} not run: their experiments have no metrics.json here."
    lines = [
        "# genjax: reproduction report",
        "",
        *_header(results, profile, seconds, environment, seed),
        "",
        f"**{n_pass}/{len(verdicts) - n_skip - n_not_run} claims pass.**{skipped}",
        "",
        "| claim | result | statement |",
        "|---|---|---|",
    ]
    for v in verdicts:
        c = v["claim"]
        lines.append(f"| {c.id} | {v['status']} | {c.statement} |")
    lines += ["", "## Criteria", ""]
    for v in verdicts:
        c = v["claim"]
        lines += [f"### {c.id}: {v['status']}", "", c.statement, ""]
        if c.notes:
            lines += [c.notes, ""]
        if v["error"]:
            lines += [f"An experiment crashed: `{v['error']}` "
                      f"(traceback in `<experiment>/error.txt`).", ""]  # fmt: skip
        lines += ["| metric | measured | criterion | result | why |", "|---|---|---|---|---|"]
        for r in v["rows"]:
            crit = r["criterion"]
            source = f" ({crit.experiment})" if crit.experiment else ""
            lines.append(
                f"| `{crit.lhs}`{source} | {_fmt(r['value'])} | {crit.op} {crit.threshold:g} | "
                f"{_row_result(r['passed'], crit)} | {crit.why} |"
            )
        extras = [f"experiment `python -m experiments.{c.experiment}` "
                  f"({_took(results.get(c.experiment), profile)})"]  # fmt: skip
        if c.tests:
            extras.append("tests " + ", ".join(f"`{t}`" for t in c.tests))
        lines += ["", "; ".join(extras) + "."]
        if c.figures and c.experiment in results:
            lines += ["", " ".join(f"![{f}]({c.experiment}/{f})" for f in c.figures)]
        lines.append("")
    return "\n".join(lines)


def _recorded_environment(workdir: Path, names: list[str]) -> dict | None:
    """The environment.json of the runs being judged: the main job's, else an experiment's."""
    for path in [workdir] + [workdir / n for n in names]:
        try:
            record = _read_json_object(path / provenance.ENVIRONMENT_FILE)
        except common.ConfigError:
            continue
        if record is not None:
            return record
    return None


def reproduce(
    workdir: Path,
    profile: str = "quick",
    claim_spec: str | None = None,
    judge_only: bool = False,
    jobs: int = 1,
    seed: int = 0,
) -> bool:
    """Runs the claims' experiments, writes REPORT.md and report.json; True if all pass.

    With `judge_only`, nothing runs: the claims are judged on the metrics.json
    files already under `workdir/<experiment>/` (e.g. from separate full runs),
    and the environment shown is the one recorded by the runs. `seed` offsets
    every experiment's `config.seed`.
    """
    common.parse_profile(profile)
    if not isinstance(seed, int) or seed < 0:
        raise common.ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    claims = select_claims(claim_spec)
    names = [n for n in claims_lib.experiments_in(claims) if profile in common.main_job_profiles(n)]
    start = time.perf_counter()
    common.check_workdir(workdir)
    with WorkdirLock(workdir):  # one main job per folder: two would mix their metrics
        if judge_only:
            results = read_results(names, workdir, profile)
            environment = _recorded_environment(workdir, names)
        else:
            environment = provenance.write_environment(workdir)
            results = run_experiments(names, profile, workdir, jobs, seed)
        return _judge(claims, results, workdir, profile, start, environment, seed, judge_only)


def _judge(claims, results, workdir, profile, start, environment, seed, judge_only) -> bool:
    """Judges the claims on `results`; writes REPORT.md and report.json; True if all pass."""
    verdicts = evaluate_claims(claims, results, profile)
    seconds = time.perf_counter() - start
    report = render_report(verdicts, results, profile, seconds, environment, seed)
    (workdir / "REPORT.md").write_text(report)
    common.write_json(
        workdir / "report.json",
        {
            "profile": profile,
            "seed": seed,
            "judge_only": judge_only,
            "seconds": seconds,
            "claims": {
                v["claim"].id: {
                    "passed": v["passed"],
                    "status": v["status"],
                    "error": v["error"],
                    "criteria": {r["criterion"].text: r["value"] for r in v["rows"]},
                }
                for v in verdicts
            },
            # Each experiment's wall time; when only judged, its original run's (run.json).
            "experiment_seconds": {
                n: r["seconds"] if r["seconds"] is not None else r.get("original_seconds")
                for n, r in results.items()
            },
        },
    )
    for v in verdicts:
        print(f"{v['claim'].id:>5}  {v['status']}  {v['claim'].statement}")
    counts = {s: sum(v["status"] == s for v in verdicts) for s in ("PASS", "SKIP", "NOT RUN")}
    aside = ", ".join(
        f"{n} {'full-profile only' if s == 'SKIP' else 'not run'}"
        for s, n in counts.items()
        if s != "PASS" and n
    )
    print(f"{counts['PASS']}/{len(verdicts) - counts['SKIP'] - counts['NOT RUN']} claims pass"
          f"{f' ({aside})' if aside else ''}; report: {workdir / 'REPORT.md'} "
          f"({seconds:.0f} s)")  # fmt: skip
    return all(v["passed"] for v in verdicts)


def main(argv):
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    common.setup_logging()
    f = flags.FLAGS
    try:
        ok = reproduce(Path(f.workdir), f.profile, f.claims, f.judge_only, f.jobs, f.seed)
    except (common.ConfigError, WorkdirLockedError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    from absl import app, flags

    flags.DEFINE_string(
        "workdir", "runs/reproduce", "Where REPORT.md and each experiment's outputs go."
    )
    flags.DEFINE_enum(
        "profile", "quick", list(common.PROFILES), "quick (CI) or full (paper scale)."
    )
    flags.DEFINE_string("claims", None, "Comma-separated claim ids to run (default: all).")
    flags.DEFINE_integer(
        "jobs", 1, "Experiments run at once, each in its own process (make run uses 2)."
    )
    flags.DEFINE_integer(
        "seed",
        0,
        "Added to every experiment's config.seed (0: the registered seeds).",
        lower_bound=0,
    )
    flags.DEFINE_bool(
        "judge_only", False, "Run nothing: judge the metrics.json files already in --workdir."
    )
    app.run(main)
