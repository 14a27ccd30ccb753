"""The README's library example runs as written (with its workdir moved to a temp dir)."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_example_runs(tmp_path, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "genjax.linear.pca" in b)
    assert '"runs/my_linear_ae"' in example
    namespace = {}
    exec(example.replace('"runs/my_linear_ae"', repr(str(tmp_path))), namespace)
    assert (tmp_path / "metrics.jsonl").exists()
    angle = float(np.degrees(namespace["angles"][0]))
    assert 0 <= angle < 90
    assert "largest angle to the PCA subspace" in capsys.readouterr().out


def test_readme_config_overrides_name_real_fields():
    """Every `--config.FIELD=` in the README names a field of that experiment's config."""
    from experiments import common

    text = README.read_text()
    commands = re.findall(r"python -m experiments\.(\w+)((?:[^\n]*\\\n)*[^\n]*)", text)
    checked = 0
    for name, args in commands:
        if name in ("reproduce", "music_merge", "gan_mixture_merge"):  # argparse tools
            continue
        config = common.get_config(name, "quick")
        for field in re.findall(r"--config\.(\w+)=", args):
            assert field in config, f"README overrides unknown field {name}.{field}"
            checked += 1
    assert checked >= 2
