"""The README's Python example runs as written and prints what it promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)  # the example writes runs/chinchilla: keep it out of the repo
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert (tmp_path / "runs" / "chinchilla" / "summary.json").is_file()
    p, opt = namespace["p"], namespace["opt"]
    assert 1.8 < float(p.q50) < 2.1  # Chinchilla-70B: Besiroglu et al.'s point fit gives 1.97
    assert opt.N.q05 < opt.N.q50 < opt.N.q95
    # The hyperparameter example: Zhang et al.'s critical batch at D_min 2.2e10 tokens.
    namespace = {}
    exec(compile(blocks[1], "README.md", "exec"), namespace)
    b = namespace["b"]
    assert 4e6 < float(b.q05) < float(b.q50) < float(b.q95) < 9e6
