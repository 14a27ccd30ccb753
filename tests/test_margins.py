"""The margins table: worst value over runs, on the failing side of each criterion."""

import json

import pytest

from experiments import claims as claims_lib
from experiments import margins


def _report(profile, values):
    return {"profile": profile, "claims": {"1.1": {"criteria": values}}}


def _crit(text):
    claim = next(c for c in claims_lib.CLAIMS if c.id == "1.1")
    return next(c for c in claim.criteria if c.text == text)


def test_worst_value_is_taken_on_the_failing_side_and_failures_show():
    lt = _crit("max_principal_angle_deg_untied_k32 < 1")
    gt = _crit("orthonormality_error_untied_k2 > 0.1")
    reports = {
        "a": _report("quick", {lt.text: 0.4, gt.text: 1.3}),
        "b": _report("quick", {lt.text: 1.02, gt.text: 0.9}),
    }
    rows = {r["criterion"]: r for r in margins.margins(reports, "quick")}
    assert rows[lt.text]["worst"] == 1.02 and rows[lt.text]["worst_run"] == "b"
    assert rows[lt.text]["margin"] == pytest.approx(-0.02) and not rows[lt.text]["passed"]
    assert rows[gt.text]["worst"] == 0.9 and rows[gt.text]["passed"]
    assert rows[gt.text]["margin"] == pytest.approx(0.8)
    # A criterion absent from the reports is missing, hence failing.
    other = next(r for r in rows.values() if r["criterion"] not in (lt.text, gt.text))
    assert other["worst"] is None and not other["passed"]
    table = margins.margins_table(reports, "quick")
    assert "-0.02 (FAIL)" in table and "| a | b |" in table.splitlines()[0].replace("  ", " ")


def test_reports_of_another_profile_and_bad_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not 'quick'"):
        margins.margins({"a": _report("full", {})}, "quick")
    (tmp_path / "report.json").write_text(json.dumps([1]))
    assert margins.main(["--runs", f"a={tmp_path}"]) == 2
