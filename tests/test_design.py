"""`next`: candidates and their costs, the greedy batch within the budget, the CLI's
files and messages, and a fast version of the simulation study (benchmarks/bench_next.py)."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.design import Target, next_runs
from bayes_scaling.design_candidates import BranchableRun, Candidates, branchable_runs, grid_candidates
from bayes_scaling.design_output import COLUMNS
from bayes_scaling.design_study import StudySetup, flops_to_reach, initial_sweep, run_study
from bayes_scaling.errors import BadInputError

# The fast study: one round, EIG against the grid. 4 x (1000 + 2000): at 4 x (500 + 500)
# a 9-row starting sweep's fit fell short of 400 ESS (nu is barely identified by so few
# rows), and with the restricted run effects the card's 1000 draws gave tail ESS 344 on
# the 16-row starting sweep (as the README's wsd_start example, which needs --draws 2000);
# `next` on an unconverged fit exits 1. k = 3: the grid's first round is 3 runs, so both
# refits have the same shape and share one compiled sampler.
FAST = StudySetup(rounds=1, k=3, fit_settings=dict(progress=False, draws=2000))
# Information about a function of theta cannot exceed information about theta (data
# processing inequality); the two estimates differ in binning, ~0.01 nats at most here.
TOL_DPI = 0.02


@pytest.fixture(scope="module")
def wsd(tmp_path_factory):
    """(folder, run): the study's initial WSD sweep, fitted and saved (same data and
    settings as the fast study's first fit, so its compiled sampler is shared)."""
    folder = tmp_path_factory.mktemp("wsd")
    path = folder / "sweep.csv"
    initial_sweep(FAST, seed=0).frame().to_csv(path, index=False)
    run = bs.fit(bs.load_sweep(path), seed=0, **FAST.fit_settings)
    assert run.summary.converged, run.summary.problems
    bs.save_run(run, folder / "run")
    return folder, run


def test_branch_costs_follow_the_wsd_schedule():
    runs = (BranchableRun("r", 1e8, 2e9, (1e9, 2e9), 0),)
    c = Candidates(np.array([1e8, 1e8, 1e8, 3e8]), np.array([1e9, 4e9, 1.5e9, 6e9]), np.array([0, 0, 0, -1]), runs, "test")
    f = 0.2
    done = np.array([(1 - f) * 2e9])  # the constant phase reached 0.8 x its longest branch
    cost = c.cost(done, f)
    assert cost[0] == pytest.approx(6 * 1e8 * f * 1e9)  # shorter than done: only its cooldown
    assert cost[1] == pytest.approx(6 * 1e8 * ((1 - f) * 4e9 - 1.6e9 + f * 4e9))  # extends the constant phase
    assert cost[2] == pytest.approx(6 * 1e8 * f * 1.5e9)
    assert cost[3] == pytest.approx(6 * 3e8 * 6e9)  # a new run
    assert cost[1] < 6 * 1e8 * 4e9  # reuse is cheaper than a new run of the same (N, D)


def test_branchable_runs_come_from_the_fit(wsd):
    _, run = wsd
    runs = branchable_runs(run)
    assert [r.run_id for r in runs] == [f"init-{i}" for i in range(len(FAST.sizes))]
    assert all(r.effect >= 0 for r in runs)  # several rows each: each has a run effect
    assert runs[2].N == pytest.approx(FAST.sizes[2]) and runs[2].d_longest == pytest.approx(FAST.sizes[2] * FAST.tokens_per_param[-1])
    cands = grid_candidates(run, runs)
    branches = cands.branch_of >= 0
    assert branches.any() and (~branches).any()
    # No branch repeats a D its run already has.
    for b, d in zip(cands.branch_of[branches], cands.D[branches], strict=True):
        assert np.min(np.abs(np.log(d / np.asarray(runs[b].d_existing)))) > np.log(1.05)


def test_batch_respects_budget_and_k(wsd):
    _, run = wsd
    budget = 3e18
    res = next_runs(run, budget, k=5, rng_key=jax.random.key(0))
    assert 1 <= len(res.picks) <= 5
    assert res.spent <= budget
    seen = {(p.N, p.D) for p in res.picks}
    assert len(seen) == len(res.picks)  # no candidate twice
    for p in res.picks:
        assert p.eig_per_flop == pytest.approx(p.eig / p.cost_flops)
        assert p.eig > 0 and p.cost_flops > 0
        assert p.reuses_run in ("", *(f"init-{i}" for i in range(len(FAST.sizes))))
    # Later picks are scored given the earlier ones: the first is scored alone.
    assert res.picks[0].eig == pytest.approx(res.picks[0].eig_alone)
    assert res.batch_eig == pytest.approx(sum(p.eig for p in res.picks))


def test_target_information_is_at_most_parameter_information(wsd):
    _, run = wsd
    about_theta = next_runs(run, 1e19, k=1, rng_key=jax.random.key(1))
    about_loss = next_runs(run, 1e19, k=1, target=Target("loss"), rng_key=jax.random.key(1))
    assert np.all(about_loss.eig_alone <= about_theta.eig_alone + TOL_DPI)
    assert about_loss.eig_alone.max() > 0.05  # not vacuous: the target is uncertain and learnable
    assert about_loss.target_compute == pytest.approx(100 * max(6 * about_theta.data_N * about_theta.data_D))


def test_budget_below_cheapest_candidate_is_a_clear_error(wsd):
    _, run = wsd
    with pytest.raises(BadInputError, match="below the cheapest candidate"):
        next_runs(run, 1e9, rng_key=jax.random.key(0))


def test_cli_next_writes_files_and_refuses_bad_input(wsd, tmp_path, capsys):
    folder, _ = wsd
    out = tmp_path / "next.csv"
    assert main([
        "next", str(folder / "run"), "--budget", "2e18", "--k", "3", "--out", str(out),
    ]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert tuple(table.columns) == COLUMNS
    assert 1 <= len(table) <= 3 and table["cost_flops"].sum() <= 2e18
    assert out.with_suffix(".png").stat().st_size > 10_000 and out.with_suffix(".json").is_file()
    shown = capsys.readouterr().out
    assert "EIG/FLOP" in shown and "spent" in shown

    before = out.read_bytes()
    assert main(["next", str(folder / "run"), "--budget", "2e18", "--out", str(out)]) == 2  # exists, no --force
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before

    assert main(["next", str(folder / "run"), "--budget", "1e9", "--out", str(tmp_path / "b.csv")]) == 2
    assert "below the cheapest candidate" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()

    bad = tmp_path / "cands.csv"
    bad.write_text("N,D,reuses_run\n1e8,2e9,\nlots,2e9,\n")
    assert main(["next", str(folder / "run"), "--budget", "1e19", "--candidates", str(bad), "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert "cands.csv" in err and "row 2" in err and "'N'" in err and "'lots'" in err and "Traceback" not in err

    bad.write_text("N,D,reuses_run\n1e8,2e9,nosuchrun\n")
    assert main(["next", str(folder / "run"), "--budget", "1e19", "--candidates", str(bad), "--out", str(tmp_path / "c.csv")]) == 2
    assert "nosuchrun" in capsys.readouterr().err

    ok = tmp_path / "mine.csv"
    ok.write_text(f"N,D,reuses_run\n1e8,2e9,\n{FAST.sizes[0]:.6g},{FAST.sizes[0] * 40:.6g},init-0\n")
    assert main(["next", str(folder / "run"), "--budget", "1e19", "--candidates", str(ok), "--out", str(tmp_path / "m.csv")]) == 0
    mine = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert set(mine["reuses_run"]) <= {"", "init-0"} and len(mine) == 2


def test_fast_study_eig_beats_the_grid(wsd):
    """One round of the simulation study: EIG about the loss at 100x the initial sweep's
    largest compute against the grid's next size, at the grid's compute."""
    results = run_study(FAST, strategies=("eig", "grid"), seed=0, initial_run=wsd[1], log=lambda _: None)
    eig = next(r for r in results if r.strategy == "eig" and r.round == 1)
    grid = next(r for r in results if r.strategy == "grid" and r.round == 1)
    start = next(r for r in results if r.strategy == "grid" and r.round == 0)
    assert start.width90 == results[0].width90  # every strategy starts from the same fit
    assert grid.flops == pytest.approx(sum(6 * n * d for n, d in FAST.grid_rounds()[0]))
    assert eig.flops <= grid.flops
    assert eig.width90 < grid.width90 < start.width90
    assert flops_to_reach(results, "eig", grid.width90) <= grid.flops
