"""The extrapolation check (``bayes-scaling check``): coverage arithmetic, holdout
expressions, the predictive's run effects, bad input, check.json and the report.

One short MCMC fit of a simulated WSD sweep plus one refit (the check) serve every test
that needs a posterior; the rest use constructed arrays and posteriors.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys

import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.check import PREDICTIVE_QUANTILES, coverage, holdout_mask, predictive_log_loss
from bayes_scaling.check_output import CHECK_FIGURE, CHECK_JSON, REFIT, read_check
from bayes_scaling.cli import main
from bayes_scaling.laws import chinchilla_log_loss
from bayes_scaling.run import Run, Summary
from bayes_scaling.simulate import LossTruth, SweepDesign

# --- the coverage arithmetic, exactly ------------------------------------------------------


def test_coverage_is_exact_on_a_constructed_case():
    # Five rows with intervals [q05, q95] = [1, 5], [q25, q75] = [2, 4], median 3.
    q = np.tile(np.array([1.0, 2.0, 3.0, 4.0, 5.0])[:, None], (1, 5))
    observed = np.array([2.0, 4.0, 1.0, 6.0, 3.0])  # on both 50 % ends, on the 90 % end, outside, at the median
    c = coverage(observed, q)
    assert c.coverage_50 == 3 / 5  # 2, 4 (ends included) and 3
    assert c.coverage_90 == 4 / 5  # all but 6
    # |3 - y| / y = 1/2, 1/4, 2, 1/2, 0 -> median 1/2
    assert c.median_abs_rel_error == 0.5


def test_coverage_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="quantiles of shape"):
        coverage(np.ones(3), np.ones((len(PREDICTIVE_QUANTILES), 2)))
    with pytest.raises(ValueError, match="quantiles of shape"):
        coverage(np.ones(0), np.ones((len(PREDICTIVE_QUANTILES), 0)))


# --- holdout expressions -----------------------------------------------------------------


def _grid() -> pd.DataFrame:
    sizes, tpp = np.array([4e7, 8e7, 1.6e8, 3.2e8, 6.4e8, 1.28e9, 2.56e9]), np.array([5.0, 10.0, 20.0, 40.0, 80.0])
    n = np.repeat(sizes, len(tpp)) * np.linspace(1.0, 1.01, len(sizes) * len(tpp))  # distinct computes: no ties at the cut
    return pd.DataFrame({"N": n, "D": n * np.tile(tpp, len(sizes)), "loss": 2.0})


def test_holdout_largest_compute_decile_selects_the_largest_rows():
    f = _grid()
    compute = 6 * f["N"].to_numpy() * f["D"].to_numpy()
    mask = holdout_mask(f, "compute >= compute.quantile(0.9)")
    assert mask.sum() == 4  # 35 rows: the 90th percentile lies between the 4th and 5th largest
    assert np.array_equal(np.sort(np.flatnonzero(mask)), np.sort(np.argsort(compute)[-4:]))
    assert compute[mask].min() > compute[~mask].max()
    assert "compute" not in f.columns  # the frame itself is not changed


def test_holdout_on_the_sweeps_columns():
    f = _grid()
    assert np.array_equal(holdout_mask(f, "N > 2e9"), f["N"].to_numpy() > 2e9)


@pytest.mark.parametrize(
    "expr, message",
    [("N >", "could not be applied"), ("nosuch > 1", "could not be applied"), ("N * 2", "True or False"), ("", "needs an expression")],
)
def test_holdout_bad_expressions_are_named(expr, message):
    with pytest.raises((bs.BadInputError, bs.UsageError), match=message):
        holdout_mask(_grid(), expr)


def test_holdout_refuses_a_column_named_compute():
    with pytest.raises(bs.BadInputError, match="own column 'compute'"):
        holdout_mask(_grid().assign(compute=1.0), "compute > 0")


# --- the predictive's run effects, on a constructed posterior --------------------------------

N_DRAWS = 4000
# The new run's effect sd is estimated from 4000 draws: its sampling sd is about
# 1/sqrt(2 * 4000) = 1.1 % of the truth; 5 % is over four of those.
SD_RTOL = 0.05


def _constructed_run(*, run_effect: np.ndarray | None = None) -> Run:
    """A loss-law posterior known exactly: the law at the centre is log(3); noise sd 1e-9
    (so a row's draw minus the law is its run effect); sigma_run 0.02; runs r1 and r2
    fitted, with effects 0.02 * z_run = +0.02 and -0.04."""
    shape = (1, N_DRAWS)
    post = {
        "e": np.zeros(shape), "a_c": np.zeros(shape), "b_c": np.zeros(shape), "alpha": np.full(shape, 0.3), "beta": np.full(shape, 0.3),
        "sigma": np.full(shape, 1e-9), "nu": np.full(shape, 30.0), "sigma_run": np.full(shape, 0.02),
        "z_run": np.tile(np.array([1.0, -2.0]), shape + (1,)),
    }
    dims = {"z_run": ["run"]}
    if run_effect is not None:
        post["run_effect"] = np.tile(run_effect, shape + (1,))
        dims["run_effect"] = ["run"]
    idata = az.from_dict(posterior=post, coords={"run": ["r1", "r2"]}, dims=dims, constant_data={"log_n_centre": 0.0, "log_d_centre": 0.0})
    summary = Summary(law="loss", n_rows=0, data_sha256="", seed=0, versions={}, timings_s={}, converged=True, divergences=0, params={},
                      rhat_max=1.0, ess_bulk_min=1e4, ess_tail_min=1e4, ebfmi=(1.0,), problems=(), sampler={})
    return Run(idata=idata, summary=summary, card=None)


HELD = pd.DataFrame({"N": [1.0] * 4, "D": [1.0] * 4, "run_id": ["r1", "r2", "wholly-held-out", "single-row"]})


def test_a_held_out_row_of_a_training_run_gets_that_runs_effect(key):
    draws, kinds = predictive_log_loss(_constructed_run(), HELD, np.full(4, ""), frozenset({"r1", "r2", "wholly-held-out"}), rng_key=key)
    effect = draws - np.log(3.0)  # the law is E + A + B = 3 at the centre
    assert kinds == ("fitted", "fitted", "new", "none")
    np.testing.assert_allclose(effect[:, 0], 0.02, atol=1e-7)
    np.testing.assert_allclose(effect[:, 1], -0.04, atol=1e-7)
    # A new run draws its effect from Normal(0, sigma_run); a run the model gives no effect, none.
    assert abs(effect[:, 2].std() / 0.02 - 1) < SD_RTOL
    assert abs(effect[:, 2].mean()) < 4 * 0.02 / np.sqrt(N_DRAWS)
    np.testing.assert_allclose(effect[:, 3], 0.0, atol=1e-7)


def test_a_wholly_held_out_run_shares_one_new_effect_across_its_rows(key):
    held = pd.DataFrame({"N": [1.0, 2.0], "D": [1.0, 2.0], "run_id": ["fresh", "fresh"]})
    run = _constructed_run()
    draws, _ = predictive_log_loss(run, held, np.full(2, ""), frozenset({"fresh"}), rng_key=key)
    law = draws - np.asarray(chinchilla_log_loss(np.log(held["N"].to_numpy()), np.log(held["D"].to_numpy()), 0.0, 0.0, 0.3, 0.0, 0.3))
    np.testing.assert_allclose(law[:, 0], law[:, 1], atol=1e-7)


def test_the_models_run_effect_site_is_used_when_present(key):
    run = _constructed_run(run_effect=np.array([0.05, 0.07]))  # differs from sigma_run * z_run on purpose
    draws, _ = predictive_log_loss(run, HELD.iloc[:2], np.full(2, ""), frozenset({"r1", "r2"}), rng_key=key)
    np.testing.assert_allclose(draws - np.log(3.0), np.tile([0.05, 0.07], (N_DRAWS, 1)), atol=1e-7)


# --- one fit and one check of a simulated WSD sweep -------------------------------------------

# The WSD truth of tests/test_recovery.py: run effects 0.015 on log loss, noise 0.004.
TRUTH = LossTruth(sigma=0.004, sigma_run=0.015)
DESIGN = SweepDesign(wsd=True)
# Short chains: 4 x 500 place the 5 %/95 % quantiles to about +-1.5 percentiles. Each run
# here has its own size, so its effect trades off against the N term (as on Gemstones) and
# a_c mixes slowly: such short fits land just under or over the production bar (R-hat 1.01,
# ESS 400; 4 x 1000 did no better), so the tests accept either verdict and check that the
# check reports the refit's own.
SMALL = ["--chains", "4", "--warmup", "500", "--draws", "500", "--seed", "21", "--quiet"]
# The largest run wholly held out (5 rows: a new run's effect) and the two longest
# cooldown branches of the next size (2 rows whose run has 3 training rows: its effect).
HOLDOUT = "N > 2e9 or (N > 1e9 and D > 4e10)"
# With 7 rows, the 90 % coverage of a calibrated predictive is 5/7 or more with probability
# 97 % if the rows were independent (binomial, p = 0.9); the rows of one run share its
# effect, which widens that spread, so 4/7 is the bar (a too-narrow predictive, as one
# without the run effect, puts most rows outside).
COVERAGE_90_MIN = 4 / 7
# Predictive medians of a well-specified law: the per-row spread is sqrt(0.015^2 + 0.004^2)
# = 1.6 % on log loss; the median |error| of 7 rows is below twice that.
ERROR_MAX = 0.032


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """(folder, run folder, csv): a simulated WSD sweep fitted by the CLI, as a user would."""
    folder = tmp_path_factory.mktemp("check")
    csv = folder / "sim.csv"
    bs.simulate_loss_sweep(TRUTH, DESIGN, rng_key=jax.random.key(21)).to_csv(csv, index=False)
    run_dir = folder / "runs" / "sim"
    assert main(["fit", str(csv), "--out", str(run_dir), *SMALL]) in (0, 1)
    return folder, run_dir, csv


@pytest.fixture(scope="module")
def checked(fitted):
    """The check of ``fitted`` by the CLI, into the default folder runs/sim/check."""
    _, run_dir, _ = fitted
    code = main(["check", str(run_dir), "--holdout", HOLDOUT, "--seed", "3", "--quiet"])
    return run_dir / "check", code


@pytest.mark.slow
def test_check_writes_check_json_as_designed(checked):
    out, code = checked
    d = json.loads((out / CHECK_JSON).read_text())
    assert code == (0 if d["refit"]["converged"] else 1)
    assert list(d)[:4] == ["n_holdout", "coverage_50", "coverage_90", "median_abs_rel_error"]  # DESIGN.md's, first
    assert d["n_holdout"] == 7 and d["n_train"] == 28 and d["holdout"] == HOLDOUT
    assert len(d["rows"]) == 7
    for row in d["rows"]:
        assert {"observed", "q05", "q50", "q95", "q25", "q75", "pit", "file_row", "run_id"} <= set(row)
        assert row["q05"] < row["q25"] < row["q50"] < row["q75"] < row["q95"]
    assert d["refit"]["seed"] == 21 and d["refit"]["sampler"]["draws"] == 500
    # Coverage recomputed from the rows equals the summary.
    obs = np.array([r["observed"] for r in d["rows"]])
    q = np.array([[r[f"q{p:02d}"] for r in d["rows"]] for p in (5, 25, 50, 75, 95)])
    assert tuple(coverage(obs, q)) == (d["coverage_50"], d["coverage_90"], d["median_abs_rel_error"])
    assert (out / CHECK_FIGURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    refit = bs.load_run(out / REFIT)
    assert refit.summary.n_rows == 28 and not any(p.name.startswith(".") for p in out.parent.iterdir())


@pytest.mark.slow
def test_check_on_a_known_truth_covers_and_uses_the_run_effects(checked):
    out, _ = checked
    c = read_check(out)
    kinds = {r.run_id: r.run_effect for r in c.rows}
    assert kinds == {"g0-n6": "new", "g0-n5": "fitted"}  # the largest run wholly held out; the next one's effect fitted
    assert c.coverage_90 >= COVERAGE_90_MIN, c.rows
    assert c.median_abs_rel_error < ERROR_MAX


@pytest.mark.slow
def test_report_shows_the_check(checked, fitted):
    from bayes_scaling.report_render import to_html, to_markdown

    out, _ = checked
    _, run_dir, _ = fitted
    c = read_check(out)
    report = bs.build_report(bs.load_run(run_dir), check=c)
    section = next(s for s in report.sections if s.anchor == "check")
    assert section.title == "Extrapolation check"
    summary = section.tables[0]
    assert summary.rows[0][:4] == ("7", "28", f"{c.coverage_50:.0%}", f"{c.coverage_90:.0%}")
    page, markdown = to_html(report), to_markdown(report)
    assert 'id="check"' in page and 'id="fig-check"' in page and "Extrapolation check" in markdown
    assert "refitted since" not in page  # the check is of this very fit


@pytest.mark.slow
def test_report_cli_picks_up_the_check_folder(checked, fitted, tmp_path, monkeypatch):
    """``bayes-scaling report`` reads runs/NAME/check/check.json; its section is built from
    it (the rest of the report is tests/test_report.py's, so it is stubbed out here)."""
    import bayes_scaling.report as report_module

    seen = {}

    def fake_build(run, *, command="", check=None):
        seen["check"] = check
        raise bs.UsageError("stop here")

    monkeypatch.setattr(report_module, "build_report", fake_build)
    _, run_dir, _ = fitted
    assert main(["report", str(run_dir), "--out", str(tmp_path / "rep")]) == 2
    assert seen["check"] == read_check(checked[0])


@pytest.mark.slow
def test_an_unconverged_refit_is_written_flagged_and_exits_1(checked, tmp_path, monkeypatch, capsys):
    check_module = sys.modules["bayes_scaling.check"]  # `bayes_scaling.check` the attribute is the function

    out, _ = checked
    refit = bs.load_run(out / REFIT)
    bad = dataclasses.replace(refit, summary=dataclasses.replace(refit.summary, converged=False, problems=("R-hat 1.2 > 1.01",)))
    monkeypatch.setattr(check_module, "fit", lambda *a, **k: bad)  # the refit's outcome, without sampling again
    run_dir = out.parent
    code = main(["check", str(run_dir), "--holdout", HOLDOUT, "--out", str(tmp_path / "c"), "--quiet"])
    assert code == 1
    assert "THE REFIT DID NOT CONVERGE" in capsys.readouterr().out
    d = json.loads((tmp_path / "c" / CHECK_JSON).read_text())
    assert d["refit"]["converged"] is False and d["refit"]["problems"] == ["R-hat 1.2 > 1.01"]


# --- bad input: exit 2, a message, nothing written --------------------------------------------


def _snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "holdout, message",
    [
        ("N >", "could not be applied"),
        ("N > 1e30", "holds out no row"),
        ("N > 0", "leaving 0 to refit"),
        ("N > 5e7", "leaving 5 to refit; the refit needs at least 10"),
    ],
)
def test_bad_holdouts_exit_2_and_write_nothing(fitted, holdout, message, tmp_path, capsys):
    folder, run_dir, _ = fitted
    before = _snapshot(folder)
    assert main(["check", str(run_dir), "--holdout", holdout, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "c").exists() and _snapshot(folder) == before


@pytest.mark.slow
def test_a_changed_data_file_is_refused(fitted, tmp_path, capsys):
    folder, run_dir, csv = fitted
    moved = tmp_path / "sim.csv"
    frame = pd.read_csv(csv)
    frame.loc[0, "loss"] *= 1.01
    frame.to_csv(moved, index=False)
    before = _snapshot(folder)
    assert main(["check", str(run_dir), "--holdout", HOLDOUT, "--data", str(moved), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "the data file changed since the fit" in err and str(moved) in err
    assert not (tmp_path / "c").exists() and _snapshot(folder) == before


@pytest.mark.slow
def test_an_existing_check_is_not_replaced_without_force(checked, capsys):
    out, _ = checked
    before = _snapshot(out)
    assert main(["check", str(out.parent), "--holdout", HOLDOUT]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert _snapshot(out) == before


@pytest.mark.slow
def test_an_older_run_folder_reloads_its_sweep_from_its_fit_command(fitted, tmp_path, capsys):
    """summary.json without sweep_options (fitted before they were recorded): the sweep is
    reloaded as the recorded fit command loaded it; without a readable command, refused."""
    _, run_dir, _ = fitted
    old = tmp_path / "old"
    shutil.copytree(run_dir, old, ignore=shutil.ignore_patterns("check"))
    summary = json.loads((old / "summary.json").read_text())
    del summary["sweep_options"]
    (old / "summary.json").write_text(json.dumps(summary))
    # The holdout is checked after the reload: reaching it shows the reload worked.
    assert main(["check", str(old), "--holdout", "N > 1e30", "--out", str(tmp_path / "c")]) == 2
    assert "holds out no row" in capsys.readouterr().err
    summary["command"] = ""
    (old / "summary.json").write_text(json.dumps(summary))
    assert main(["check", str(old), "--holdout", HOLDOUT, "--out", str(tmp_path / "c")]) == 2
    assert "refit it" in capsys.readouterr().err


def test_check_refuses_laws_it_cannot_predict():
    run = _constructed_run()
    other = dataclasses.replace(run, summary=dataclasses.replace(run.summary, law="timescale"))
    with pytest.raises(bs.UsageError, match="check supports the loss law; this is a timescale run"):
        bs.check(other, "N > 1", rng_key=jax.random.key(0))
