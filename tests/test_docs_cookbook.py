"""Every cookbook recipe runs as written, as a script, on a CPU."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COOKBOOK = ROOT / "docs" / "cookbook"
RECIPES = sorted(COOKBOOK.glob("*.py"))


@pytest.mark.parametrize("script", RECIPES, ids=lambda p: p.stem)
def test_cookbook_recipe_runs_end_to_end(script):
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        # The suite's compile setting (tests/conftest.py): LLVM's lowest optimisation level.
        "XLA_FLAGS": " ".join(
            [os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0"]
        ).strip(),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip(), "a recipe prints what it shows"
    print(f"{script.name}: {seconds:.1f} s")


def test_every_recipe_has_a_page_that_includes_it():
    index = (COOKBOOK / "index.md").read_text()
    for script in RECIPES:
        page = COOKBOOK / f"{script.stem}.md"
        assert page.exists(), f"no page for {script.name}"
        assert f'--8<-- "docs/cookbook/{script.name}"' in page.read_text()
        assert f"]({script.stem}.md)" in index, f"{script.stem} missing from the cookbook index"
    pages = {p.stem for p in COOKBOOK.glob("*.md")} - {"index"}
    assert pages == {s.stem for s in RECIPES}


def test_recipes_use_only_public_names():
    for script in RECIPES:
        private = re.findall(r"\bgenjax(?:\.\w+)*\._\w+", script.read_text())
        assert not private, f"{script.name} uses private names: {private}"
