"""The README's library example runs as written (with its workdir moved to a temp dir)."""

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]


def test_readme_library_example_runs(tmp_path, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "genjax.linear.pca" in b)
    assert '"runs/my_linear_ae"' in example
    namespace = {}
    exec(example.replace('"runs/my_linear_ae"', repr(str(tmp_path))), namespace)
    assert (tmp_path / "metrics.jsonl").exists()
    # The tied AE reaches the PCA subspace: its largest principal angle is small
    # (about 0.3 degrees; a run that stalls or drifts is tens of degrees off).
    angle = float(np.degrees(namespace["angles"][0]))
    assert 0 <= angle < 5, angle
    assert "largest angle to the PCA subspace" in capsys.readouterr().out


def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the details belong in docs/"
    text = README.read_text()
    assert "make test" in text and "make run" in text
    assert 'pip install -e ".[experiments]"' in text and "pip install -e ." in text


def test_docs_config_overrides_name_real_fields():
    """Every `--config.FIELD=` in the README and docs names a field of that experiment's config."""
    from experiments import common

    checked = 0
    for page in DOC_PAGES:
        text = page.read_text()
        commands = re.findall(r"python -m experiments\.(\w+)((?:[^\n]*\\\n)*[^\n]*)", text)
        for name, args in commands:
            if name in ("reproduce", "music_merge", "gan_mixture_merge", "render_docs", "margins"):
                continue  # argparse tools
            config = common.get_config(name, "quick")
            for field in re.findall(r"--config\.(\w+)=", args):
                assert field in config, f"{page.name} overrides unknown field {name}.{field}"
                checked += 1
    assert checked >= 2
