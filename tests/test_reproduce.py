"""The main job: the claim registry, criteria, report, and exit status."""

import json
import subprocess
import sys
import types
from pathlib import Path

import ml_collections
import pytest

from experiments import claims as claims_lib
from experiments import common, reproduce

ROOT = Path(__file__).resolve().parents[1]


def test_criterion_checks_and_missing_or_nan_metrics_fail():
    c = claims_lib.Criterion("a", "<", 1.0)
    assert c.check({"a": 0.5}) == (0.5, True)
    assert c.check({"a": 1.0}) == (1.0, False)
    assert c.check({}) == (None, False)
    assert c.check({"a": float("nan")})[1] is False
    gap = claims_lib.Criterion("a", ">", 0.05, minus="b")
    assert gap.text == "a - b > 0.05"
    assert gap.check({"a": 0.9, "b": 0.8})[1] and not gap.check({"a": 0.9, "b": 0.88})[1]
    with pytest.raises(ValueError, match="unknown comparison"):
        claims_lib.Criterion("a", "==", 1.0)


def test_registry_is_well_formed():
    ids = [c.id for c in claims_lib.CLAIMS]
    assert len(ids) == len(set(ids))
    for claim in claims_lib.CLAIMS:
        assert claim.criteria, claim.id
        for test in claim.tests:
            assert (ROOT / test).exists(), test
    for name in claims_lib.experiments_in(claims_lib.CLAIMS):  # criteria's experiments too
        assert (ROOT / "experiments" / f"{name}.py").exists(), name
        assert (ROOT / "experiments" / "configs" / f"{name}.py").exists(), name
        for profile in common.PROFILES:
            assert isinstance(common.get_config(name, profile), ml_collections.ConfigDict)
    # A criterion is judged only in profiles where the main job runs its experiment.
    for claim in claims_lib.CLAIMS:
        for c in claim.criteria:
            runs_in = common.main_job_profiles(c.experiment or claim.experiment)
            assert set(c.profiles) <= set(runs_in), (claim.id, c.text)
    assert common.main_job_profiles("music_jsb") == ("full",)


@pytest.fixture
def fake_registry(monkeypatch):
    """Two fake experiments: one that measures, one that crashes."""

    def good(config, workdir):
        workdir.mkdir(parents=True, exist_ok=True)
        return common.write_metrics(workdir, {"x": config.x, "y": 2.0})

    def bad(config, workdir):
        raise RuntimeError("boom")

    for name, fn in (("fake_good", good), ("fake_bad", bad)):
        module = types.ModuleType(f"experiments.{name}")
        module.train_and_evaluate = fn
        monkeypatch.setitem(sys.modules, f"experiments.{name}", module)
        cfg = types.ModuleType(f"experiments.configs.{name}")
        cfg.get_config = lambda profile: ml_collections.ConfigDict(
            {"x": 0.5 if profile == "quick" else 3.0}
        )
        monkeypatch.setitem(sys.modules, f"experiments.configs.{name}", cfg)
    C = claims_lib.Criterion
    registry = [
        claims_lib.Claim("9.1", "x is small", "fake_good", (C("x", "<", 1.0),)),
        claims_lib.Claim("9.2", "y is big", "fake_good", (C("y", ">", 1.0), C("x", "<", 10.0))),
        claims_lib.Claim("9.3", "crashes", "fake_bad", (C("z", ">", 0.0),)),
        claims_lib.Claim(
            "9.4",
            "two sources",
            "fake_good",
            (C("y", ">", 1.0), C("z", ">", 0.0, experiment="fake_bad")),
        ),
    ]
    monkeypatch.setattr(claims_lib, "CLAIMS", registry)
    return registry


def test_report_marks_pass_fail_and_crashes(tmp_path, fake_registry):
    ok = reproduce.reproduce(tmp_path, "quick")
    assert ok is False  # 9.3 crashed
    report = (tmp_path / "REPORT.md").read_text()
    assert "**2/4 claims pass.**" in report
    assert "| 9.4 | FAIL | two sources |" in report  # its second criterion's experiment crashed
    assert "`z` (fake_bad) | missing" in report
    assert "| 9.1 | PASS | x is small |" in report
    assert "| 9.3 | FAIL | crashes |" in report
    assert "RuntimeError: boom" in report
    assert "boom" in (tmp_path / "fake_bad" / "error.txt").read_text()
    assert common.read_metrics_json(tmp_path / "fake_good") == {"x": 0.5, "y": 2.0}


def test_full_profile_and_claim_selection(tmp_path, fake_registry):
    # The full profile's x = 3 breaks claim 9.1 only; fake_bad is not run at all.
    assert claims_lib.experiments_in(claims_lib.CLAIMS) == ["fake_good", "fake_bad"]
    assert reproduce.reproduce(tmp_path, "full", "9.2") is True
    assert reproduce.reproduce(tmp_path, "full", "9.1,9.2") is False
    assert not (tmp_path / "fake_bad").exists()
    with pytest.raises(common.ConfigError, match=r"unknown claim ids \['4.7'\]"):
        reproduce.reproduce(tmp_path, "quick", "9.1,4.7")
    with pytest.raises(common.ConfigError, match="unknown config variant"):
        reproduce.reproduce(tmp_path, "medium")


def test_full_profile_criteria_are_reported_but_not_judged_in_quick(
    tmp_path, monkeypatch, fake_registry
):
    C = claims_lib.Criterion
    registry = [
        # x = 0.5 in quick would FAIL "x > 1"; it is a full-profile criterion, so not judged.
        claims_lib.Claim("9.5", "full only", "fake_good", (C("x", ">", 1.0, profiles=("full",)),)),
        claims_lib.Claim(
            "9.6", "mixed", "fake_good", (C("y", ">", 1.0), C("x", ">", 1.0, profiles=("full",)))
        ),
    ]
    monkeypatch.setattr(claims_lib, "CLAIMS", registry)
    assert reproduce.reproduce(tmp_path, "quick") is True
    report = (tmp_path / "REPORT.md").read_text()
    assert "| 9.5 | SKIP | full only |" in report
    assert "| 9.6 | PASS | mixed |" in report
    assert "**1/1 claims pass.** 1 checked only in the full profile" in report
    assert "| `x` | 0.5 | > 1 | not checked (full profile only) |" in report
    # In the full profile (x = 3) both are judged and pass.
    assert reproduce.reproduce(tmp_path, "full") is True
    assert "| 9.5 | PASS | full only |" in (tmp_path / "REPORT.md").read_text()
    with pytest.raises(ValueError, match="profiles"):
        C("x", ">", 1.0, profiles=("medium",))


def test_an_experiment_the_main_job_runs_in_full_only_is_not_run_in_quick(
    tmp_path, monkeypatch, fake_registry
):
    C = claims_lib.Criterion
    registry = [
        claims_lib.Claim(
            "9.7",
            "target on a second experiment",
            "fake_good",
            (C("y", ">", 1.0), C("z", ">", 0.0, experiment="fake_bad", profiles=("full",))),
        ),
    ]
    monkeypatch.setattr(claims_lib, "CLAIMS", registry)
    monkeypatch.setattr(sys.modules["experiments.configs.fake_bad"], "MAIN_JOB_PROFILES",
                        ("full",), raising=False)  # fmt: skip
    assert common.main_job_profiles("fake_bad") == ("full",)
    assert common.main_job_profiles("fake_good") == common.PROFILES
    # fake_bad (which would crash) is not run in quick; the claim passes on y alone.
    assert reproduce.reproduce(tmp_path, "quick") is True
    assert not (tmp_path / "fake_bad").exists()
    report = (tmp_path / "REPORT.md").read_text()
    assert "| `z` (fake_bad) | missing | > 0 | not checked (full profile only) |" in report
    # In full it runs, crashes, and the claim fails.
    assert reproduce.reproduce(tmp_path, "full") is False
    assert "boom" in (tmp_path / "fake_bad" / "error.txt").read_text()


def test_a_claim_whose_own_experiment_runs_in_full_only_is_skipped_in_quick(
    tmp_path, monkeypatch, fake_registry
):
    C = claims_lib.Criterion
    registry = [
        claims_lib.Claim("9.1", "x is small", "fake_good", (C("x", "<", 1.0),)),
        claims_lib.Claim(
            "9.8",
            "judged in full only",
            "fake_bad",
            (C("z", ">", 0.0, profiles=("full",)),),
            figures=("z.png",),
        ),  # fmt: skip
    ]
    monkeypatch.setattr(claims_lib, "CLAIMS", registry)
    monkeypatch.setattr(sys.modules["experiments.configs.fake_bad"], "MAIN_JOB_PROFILES",
                        ("full",), raising=False)  # fmt: skip
    assert reproduce.reproduce(tmp_path, "quick") is True
    report = (tmp_path / "REPORT.md").read_text()
    assert "### 9.8: SKIP" in report
    assert "`python -m experiments.fake_bad` (not run in the quick profile)" in report
    assert "fake_bad/z.png" not in report


def test_parallel_jobs_give_the_same_report(tmp_path, fake_registry, monkeypatch):
    import concurrent.futures

    # Threads stand in for the worker processes: the fake experiments live only in
    # this process's sys.modules. make run exercises the real processes.
    monkeypatch.setattr(
        reproduce, "_executor", lambda jobs: concurrent.futures.ThreadPoolExecutor(jobs)
    )
    assert reproduce.reproduce(tmp_path / "serial", "quick") is False
    assert reproduce.reproduce(tmp_path / "parallel", "quick", jobs=2) is False
    serial = json.loads((tmp_path / "serial" / "report.json").read_text())
    parallel = json.loads((tmp_path / "parallel" / "report.json").read_text())
    assert serial["claims"] == parallel["claims"]
    assert set(parallel["experiment_seconds"]) == {"fake_good", "fake_bad"}
    assert "boom" in (tmp_path / "parallel" / "fake_bad" / "error.txt").read_text()
    with pytest.raises(common.ConfigError, match="jobs"):
        reproduce.reproduce(tmp_path, "quick", jobs=0)


def test_parallel_runs_submit_the_longest_recorded_experiments_first(tmp_path):
    seconds = {"a": 10.0, "b": 300.0, "c": None, "d": float("nan"), "e": 40}
    common.write_json(tmp_path / "quick" / "report.json", {"experiment_seconds": seconds})
    names = ["a", "b", "c", "d", "e", "new"]
    # Unknown costs (not recorded, None, NaN) first, in their order; then longest first.
    assert reproduce.submission_order(names, "quick", tmp_path) == ["c", "d", "new", "b", "e", "a"]
    assert reproduce.submission_order(names, "full", tmp_path) == names  # no report
    (tmp_path / "quick" / "report.json").write_text("{not json")
    assert reproduce.submission_order(names, "quick", tmp_path) == names
    # The committed quick report (results/quick) is found and reorders the real registry.
    real = claims_lib.experiments_in(claims_lib.CLAIMS)
    order = reproduce.submission_order(real, "quick")
    assert sorted(order) == sorted(real) and order != real


def test_judge_only_reads_existing_metrics_and_runs_nothing(tmp_path, fake_registry):
    common.write_metrics(tmp_path / "fake_good", {"x": 0.25, "y": 5.0})
    # fake_bad never wrote metrics: its claims fail as not run; fake_good is not re-run.
    assert reproduce.reproduce(tmp_path, "quick", "9.1,9.2", judge_only=True) is True
    assert common.read_metrics_json(tmp_path / "fake_good") == {"x": 0.25, "y": 5.0}
    report = (tmp_path / "REPORT.md").read_text()
    assert "| `x` | 0.25 | < 1 | PASS |" in report and "judged from its metrics.json" in report
    assert reproduce.reproduce(tmp_path, "quick", "9.3", judge_only=True) is False
    report = (tmp_path / "REPORT.md").read_text()
    assert "no readable" in report and "| 9.3 | NOT RUN | crashes |" in report
    assert "**0/0 claims pass.** 1 not run" in report
    assert not (tmp_path / "fake_bad" / "error.txt").exists()


def test_cli_rejects_unknown_claims_and_profiles(tmp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "experiments.reproduce", f"--workdir={tmp_path}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    proc = cli("--claims=7.7")
    assert proc.returncode == 2 and "unknown claim ids ['7.7']" in proc.stderr
    proc = cli("--profile=huge")
    assert proc.returncode != 0 and "huge" in proc.stderr
    assert not (tmp_path / "REPORT.md").exists()


def test_judge_only_refuses_another_profile_and_non_object_metrics(tmp_path, fake_registry):
    common.write_metrics(tmp_path / "fake_good", {"x": 0.25, "y": 5.0})
    common.write_json(tmp_path / "fake_good" / "config.json", {"profile": "full", "x": 3.0})
    with pytest.raises(common.ConfigError, match="comes from a 'full' run"):
        reproduce.reproduce(tmp_path, "quick", "9.1", judge_only=True)
    assert not (tmp_path / "REPORT.md").exists()  # refused before anything is written
    (tmp_path / "fake_good" / "metrics.json").write_text("[1, 2]\n")
    with pytest.raises(common.ConfigError, match="must hold a JSON object, not list"):
        reproduce.reproduce(tmp_path, "full", "9.1", judge_only=True)


def test_judge_only_header_names_the_original_runs(tmp_path, fake_registry):
    assert reproduce.reproduce(tmp_path, "quick", "9.1,9.2") is True
    run = json.loads((tmp_path / "fake_good" / reproduce.RUN_FILE).read_text())
    assert run["seconds"] >= 0 and run["error"] is None
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["jax"]["device_count"] >= 1 and "jax" in env["packages"]
    report = (tmp_path / "REPORT.md").read_text()
    assert "Environment: " in report and "judged on" not in report
    assert reproduce.reproduce(tmp_path, "quick", "9.1,9.2", judge_only=True) is True
    report = (tmp_path / "REPORT.md").read_text()
    assert "judged on" in report and "nothing trained" in report
    assert f"finished {run['finished']}" in report and "the run took" in report
    assert json.loads((tmp_path / "report.json").read_text())["judge_only"] is True


def test_seed_offsets_every_experiment_seed(tmp_path, monkeypatch):
    names = ["pca_vs_linear_ae", "gan_mixture"]
    base = {n: common.get_config(n, "quick").seed for n in names}
    for n in names:
        assert reproduce.seeded_config(n, "quick", 2).seed == base[n] + 2
        assert reproduce.seeded_config(n, "quick", 0).seed == base[n]
    with pytest.raises(common.ConfigError, match="seed must be a non-negative integer"):
        reproduce.reproduce(tmp_path, "quick", "1.1", seed=-1)
