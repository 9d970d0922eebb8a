"""The README's Python examples run as written and give what they promise."""

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
    # The plan example, on the run the first example saved: a 24-hour deadline on 8192 devices binds.
    plan_ns: dict = {}
    exec(compile(blocks[2], "README.md", "exec"), plan_ns)
    plan = plan_ns["p"]
    assert "time" in plan.binding and plan.time_hours <= 24 and plan.compute_flops <= 1e23
    assert 1e10 < plan.N < 3e10 and plan.wd.q50 > 0
    assert plan_ns["files"].plan.is_file() and plan_ns["files"].pareto.is_file()
    # The next-runs example, on the same run: at most 4 picks within 1e21 FLOPs, files written.
    next_ns: dict = {}
    exec(compile(blocks[3], "README.md", "exec"), next_ns)
    res = next_ns["res"]
    assert 1 <= len(res.picks) <= 4 and res.spent <= 1e21 and res.target_compute == 1e24
    assert next_ns["files"].csv.is_file() and next_ns["files"].figure.is_file()
    # The hyperparameter example: Zhang et al.'s critical batch at D_min 2.2e10 tokens.
    namespace = {}
    exec(compile(blocks[1], "README.md", "exec"), namespace)
    b = namespace["b"]
    assert 4e6 < float(b.q05) < float(b.q50) < float(b.q95) < 9e6
