"""Recovery of the hyperparameter laws from simulated sweeps, and the real sweeps they are for.

Simulated truths are Power Lines-like (tau_m -0.527, bopt_k 0.383, bcrit_k 0.47) and
Schaipp-like for the three-term law; each one-stage fit's 90 % interval must cover the
truth. On the same timescale sweep the papers' two-stage argmin fit is shown to be
overconfident (its interval misses); ``benchmarks/bench_coverage.py`` measures that
over repeated simulations. Real data: per-size B_crit on Zhang et al.'s steps-to-target
table against a per-size least-squares fit, and tau_opt / lambda_opt on Marin's AdamW
sweep against the observed best weight decay.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import hyper
from bayes_scaling.laws import adamw_timescale, three_term_batch_opt
from bayes_scaling.two_stage import two_stage_bcrit, two_stage_bowl

pytestmark = pytest.mark.slow

# The issue asks for 90 % intervals: q05..q95 of the posterior draws.
COVER_PROB = 0.90
# Short chains: R-hat looser than the 1.01 a production fit is held to.
RHAT_SHORT = 1.03


def _interval(draws: np.ndarray, prob: float = COVER_PROB) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
    return float(lo), float(hi)


def _misses(run: bs.Run, truths: dict[str, float]) -> list[str]:
    out = []
    for name, value in truths.items():
        lo, hi = _interval(run.draws(name))
        if not lo <= value <= hi:
            out.append(f"{name}: truth {value:.4g} outside ({lo:.4g}, {hi:.4g})")
    return out


def _converged_enough(run: bs.Run) -> None:
    s = run.summary
    assert s.divergences == 0, s.problems
    assert s.rhat_max < RHAT_SHORT, s.problems


def test_timescale_one_stage_covers_power_lines_truth(timescale_sim):
    truth, _, run = timescale_sim
    _converged_enough(run)
    assert not _misses(run, {"tau_c": truth.tau_c, "tau_m": truth.tau_m, "sd_setting": truth.sigma_setting})
    # tau_opt at 20 tokens per parameter: Power Lines' check value ~0.22.
    band = hyper.tau_opt(run, 1e8, 2e9)
    assert band.q05 < truth.tau_c * 20**truth.tau_m < band.q95


def test_two_stage_argmin_is_overconfident_where_one_stage_is_honest(timescale_sim):
    """Same sweep: argmin clips the off-grid optima to the grid edge, so its 90 % interval
    of tau_m misses the truth; the one-stage interval covers it (see the benchmark for rates)."""
    truth, frame, run = timescale_sim
    by = frame.groupby(["N", "D"])
    n, d = (np.array([k[i] for k in by.size().index]) for i in (0, 1))
    x = np.log(np.asarray(adamw_timescale(*(frame[c].to_numpy() for c in ("B", "lr", "wd", "D")))))
    two = two_stage_bowl(x, np.log(frame["loss"].to_numpy()), by.ngroup().to_numpy(), np.log(d / n), optimum="argmin")
    assert not two.lower[1] < truth.tau_m < two.upper[1]
    lo, hi = _interval(run.draws("tau_m"))
    assert lo < truth.tau_m < hi


def test_batch_law_covers_truth_and_compares_the_n_term_by_loo(batch_sim):
    truth, frame, run = batch_sim
    _converged_enough(run)
    assert not _misses(run, {"bopt_c": truth.bopt_c, "bopt_k": truth.bopt_k, "bopt_n": truth.bopt_n})
    loo = run.summary.extra["loo"]
    assert loo["model_a"] == "with bopt_n" and loo["model_b"] == "without bopt_n"
    assert loo["n_rows"] == len(frame)
    assert math.isfinite(loo["elpd_diff"]) and loo["se_diff"] > 0
    # The truth has no N term: the data cannot prefer the model with one.
    assert loo["preferred"] != "with bopt_n"
    b = hyper.batch_opt(run, 3e8, 6e9)
    want = truth.bopt_c * 6e9**truth.bopt_k
    assert b.q05 < want < b.q95


def test_bcrit_covers_truth(bcrit_sim):
    truth, _, run = bcrit_sim
    _converged_enough(run)
    assert not _misses(run, {"bcrit_c": truth.bcrit_c, "bcrit_k": truth.bcrit_k})


def test_three_term_covers_truth_and_its_implied_batch_law(three_term_sim):
    truth, frame, run = three_term_sim  # the fixture also fitted the batch law on the same rows
    _converged_enough(run)
    b_k = truth.gamma / (truth.beta + truth.gamma)  # 0.566, Schaipp's implied exponent
    wanted = {"E": truth.E, "alpha": truth.alpha, "beta": truth.beta, "gamma": truth.gamma, "bopt_k": b_k}
    assert not _misses(run, wanted)
    # The implied B_opt at a new D, against the truth's.
    b = hyper.batch_opt(run, 3e8, 1e10)
    want = float(three_term_batch_opt(1e10, truth.C, truth.beta, truth.G, truth.gamma))
    assert b.q05 < want < b.q95
    loo = run.summary.extra["loo"]
    assert (loo["model_a"], loo["model_b"]) == ("three_term", "batch")
    assert loo["n_rows"] == len(frame)  # every setting has 6 batch sizes: the batch law keeps all rows
    assert math.isfinite(loo["elpd_a"]) and math.isfinite(loo["elpd_b"])
    # Data from the three-term law: the batch law's bowls cannot predict held-out rows better.
    assert loo["preferred"] != "batch"


# --- Zhang et al. 2025 (data/zhang_cbs) ---------------------------------------------

# Zhang et al.'s notebook (data/zhang_cbs/SOURCE.md): B_crit by their definition, the
# batch whose tokens to target are 20 % above those at the reference batch of 256
# sequences, in sequences of 512 tokens, per size; and their power law's exponent in N.
ZHANG_BCRIT_SEQS = {84934656: 745.3, 150994944: 955.2, 301989888: 1393.7, 603979776: 1888.5, 1207959552: 2533.4}
ZHANG_LABEL_MILLIONS = (85, 151, 302, 604, 1200)
ZHANG_EXPONENT = 0.46828
# Tokens E(B) = D_min (1 + B / B_crit): E(B) = 1.2 E(256 seqs) at B = B_crit / 5 + 1.2 * 256 seqs
# (for B_crit >> 256). Their notebook fits each size alone by least squares; our sizes are
# pooled and Student-t, which moves a size's B_crit by a few per cent: 10 % allows that.
ZHANG_REL_TOL = 0.10
# The exponent of five converted values: within 0.03 of theirs (a 7 % change of the
# end-to-end ratio over the 14x range of N).
ZHANG_EXPONENT_TOL = 0.03


def test_zhang_per_size_bcrit_agrees_with_per_size_least_squares(zhang_run):
    sweep, run = zhang_run
    _converged_enough(run)
    f = sweep.frame
    ls = two_stage_bcrit(f["B"].to_numpy(), f["tokens_to_target"].to_numpy(), f["N"].to_numpy(), level=COVER_PROB)
    b = run.draws("b_crit")  # groups ordered by model size
    assert b.shape[1] == len(ls.groups) == 5
    for i, _ in enumerate(ls.groups):
        lo, hi = _interval(b[:, i])
        # Each method's point inside the other's 90 % interval.
        assert lo < ls.b_crit[i] < hi, (i, lo, ls.b_crit[i], hi)
        assert ls.b_crit_lower[i] < np.median(b[:, i]) < ls.b_crit_upper[i]
    # The exponent in D_min: the posterior covers the two-stage slope through the LS points.
    lo, hi = _interval(run.draws("bcrit_k"))
    assert lo < ls.bcrit_k < hi


def test_zhang_definition_recovered_from_the_mccandlish_posterior(zhang_run):
    """Our B_crit (twice the minimum tokens) converted to Zhang et al.'s 20 %-over-B=256
    definition reproduces their per-size table and their exponent 0.468."""
    _, run = zhang_run
    mcc_seqs = np.median(run.draws("b_crit"), axis=0) / 512.0
    zhang_def = mcc_seqs / 5.0 + 1.2 * 256.0
    want = np.array(list(ZHANG_BCRIT_SEQS.values()))
    np.testing.assert_allclose(zhang_def, want, rtol=ZHANG_REL_TOL)
    slope = np.polyfit(np.log(ZHANG_LABEL_MILLIONS), np.log(zhang_def), 1)[0]
    assert abs(slope - ZHANG_EXPONENT) < ZHANG_EXPONENT_TOL
    # ... while the McCandlish B_crit itself grows faster: the fixed +307-sequence offset of
    # their definition flattens the exponent.
    assert np.polyfit(np.log(ZHANG_LABEL_MILLIONS), np.log(mcc_seqs), 1)[0] > ZHANG_EXPONENT + 0.1


# --- Marin's AdamW sweep (data/marin_adamw) ----------------------------------------

# Marin's weight-decay grid is 0, 0.1, 0.2 (0.3-0.8 at one setting): the observed best is
# known only to about a factor 2 either way, so a prediction within a factor 2.5 agrees.
MARIN_FACTOR = 2.5


def _observed_best_wd(sweep: bs.Sweep, setting_d: float) -> tuple[float, float, float]:
    """(wd, B, lr) of the lowest final loss among the 130M runs at lr 0.008 within 1 % of D."""
    f = sweep.frame
    rows = f[(f["N"] == 1.3e8) & (f["lr"] == 0.008) & (np.abs(np.log(f["D"] / setting_d)) < 0.01) & (f["wd"] > 0)]
    best = rows.loc[rows["loss"].idxmin()]
    return float(best["wd"]), float(best["B"]), float(best["lr"])


def test_marin_tau_opt_per_setting_and_lambda_opt_for_130m(marin_run, key):
    sweep, run = marin_run
    assert run.summary.divergences == 0
    optima = hyper.setting_optima(run)
    assert len(optima) >= 8  # the (N, D) settings with >= 3 distinct tau
    for o in optima:
        assert 0 < o.q05 < o.q50 < o.q95 < 1  # tau_opt is a fraction of the run
    small = [o for o in optima if o.N == pytest.approx(1.3e8)]
    assert len(small) == 4  # 20, 40, 80, 160 tokens per parameter
    for o in small:
        wd, b, lr = _observed_best_wd(sweep, o.D)
        assert wd == pytest.approx(0.1)  # the observed best, as SOURCE.md says
        # The setting's own optimum, in weight decay: lambda = B / (lr D tau_opt).
        own = b / (lr * o.D * o.q50)
        assert wd / MARIN_FACTOR < own < wd * MARIN_FACTOR
        # The law's prediction for a new 130M run at this (D, B, lr), setting scatter included.
        pred = hyper.lambda_opt(run, 1.3e8, o.D, b, lr, kind="setting", rng_key=key)
        assert wd / MARIN_FACTOR < float(pred.weight_decay.q50) < wd * MARIN_FACTOR
        assert pred.weight_decay.q05 < pred.weight_decay.q50 < pred.weight_decay.q95


# --- Run folders of the hyperparameter laws ------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("which", ["zhang_run", "marin_run"])
def test_run_folder_has_the_optima_figure_and_predict_reads_it(which, request, tmp_path, capsys):
    from bayes_scaling.cli import main

    _, run = request.getfixturevalue(which)
    out = bs.save_run(run, tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == ["card.toml", "optima.png", "posterior.nc", "summary.json"]
    assert (out / "optima.png").read_bytes()[:8] == PNG_MAGIC
    args = ["--D", "2.7e9"] if run.summary.law == "bcrit" else ["--N", "1.3e8", "--D", "2.7e9", "--B", "524288", "--lr", "0.008"]
    assert main(["predict", str(out), *args]) == 0
    printed = capsys.readouterr().out
    assert ("B_crit" if run.summary.law == "bcrit" else "lambda_opt") in printed and "90 %" in printed
