"""Simulation-based calibration: the rank test's arithmetic, the simulation from the
prior, and the check itself -- passing on the model as it is, failing on a model that
is wrong about the noise (so the check can fail)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from scipy.stats import chi2  # a dependency of ArviZ

import bayes_scaling as bs
from bayes_scaling.cards import load_card
from bayes_scaling.cli import main
from bayes_scaling.sbc import SbcSettings, calibrate, chi2_uniform_p, design_arrays, simulate_from_prior
from bayes_scaling.simulate import LossTruth, SweepDesign

# A small WSD design (4 runs x 4 cooldown branches): the loss model with run effects at
# a fraction of the default design's cost. 16 simulations, one chain of 100 + 100
# iterations thinned to 50 draws, 5 rank bins: too few to certify calibration (the
# recorded 200-simulation runs in reports/sbc do that), enough for the wrong noise
# model to fail by orders of magnitude (its sigma ranks pile up at 0) while the right
# one passes on the same simulated truths.
SMALL_DESIGN = SweepDesign(sizes=(5e7, 2e8, 8e8, 3.2e9), tokens_per_param=(5.0, 10.0, 20.0, 40.0), wsd=True)
QUICK = SbcSettings(sims=16, chains=1, warmup=100, draws=100, thin=2, bins=5)
WRONG_NOISE = 3.0  # the control simulates with 3 x sigma: a noise model wrong by a factor users would care about


def test_chi2_matches_scipy():
    rng = np.random.default_rng(0)
    ranks = rng.integers(0, 100, size=200)
    counts = np.bincount(ranks * 20 // 100, minlength=20)
    stat = ((counts - 10) ** 2 / 10).sum()
    assert chi2_uniform_p(ranks, 100, 20) == pytest.approx(chi2.sf(stat, 19), rel=1e-9)


def test_chi2_extremes():
    perfectly_flat = np.repeat(np.arange(0, 100, 5), 10)  # 10 ranks in each of 20 bins
    assert chi2_uniform_p(perfectly_flat, 100, 20) == pytest.approx(1.0)
    piled_up = np.zeros(200, dtype=int)  # every truth below every draw
    assert chi2_uniform_p(piled_up, 100, 20) < 1e-100


def test_settings_refuse_uneven_bins():
    with pytest.raises(bs.BadInputError, match="split evenly"):
        SbcSettings(chains=1, draws=300, thin=4, bins=20).resolved()  # 75 ranks into 20 bins
    with pytest.raises(bs.BadInputError, match="multiple of"):
        SbcSettings(draws=301, thin=10).resolved()


@pytest.mark.parametrize("law", ["loss", "timescale", "batch", "bcrit", "three_term"])
def test_prior_simulation_shapes(law):
    arrays, described = design_arrays(law)
    card = load_card(law)
    truths, obs = simulate_from_prior(arrays, card, 5, rng_key=jax.random.key(1))
    assert obs.shape == (5, len(arrays.obs)) and np.all(np.isfinite(obs))
    assert str(len(arrays.obs)) in described
    assert all(truths[p].shape == (5,) for p in ("sigma", "nu"))


def test_noise_factor_scales_only_the_noise():
    arrays, _ = design_arrays("bcrit")
    card = load_card("bcrit")
    key = jax.random.key(2)
    truths, obs = simulate_from_prior(arrays, card, 200, rng_key=key)
    truths_w, obs_w = simulate_from_prior(arrays, card, 200, noise_factor=10.0, rng_key=key)
    _, mean = simulate_from_prior(arrays, card, 200, noise_factor=1e-9, rng_key=key)  # the law without noise
    np.testing.assert_array_equal(truths["bcrit_k"], truths_w["bcrit_k"])  # the same truths
    np.testing.assert_array_equal(truths["sigma"], truths_w["sigma"])  # recorded as the prior drew them
    # The noise about the same law is 10 x larger (medians: robust to Student-t tails; 200 x 45
    # draws put the ratio of medians within a few per cent of 10).
    ratio = np.median(np.abs(obs_w - mean) / truths["sigma"][:, None]) / np.median(np.abs(obs - mean) / truths["sigma"][:, None])
    assert ratio == pytest.approx(10.0, rel=0.1)


@pytest.fixture(scope="module")
def small_design(tmp_path_factory):
    frame = bs.simulate_loss_sweep(LossTruth(sigma_run=0.005), SMALL_DESIGN, rng_key=jax.random.key(3))
    path = tmp_path_factory.mktemp("sbc") / "design.csv"
    frame.to_csv(path, index=False)
    return bs.load_sweep(path)


@pytest.mark.slow
def test_sbc_passes_and_a_wrong_noise_model_fails(small_design):
    ok = calibrate("loss", QUICK, design=small_design, rng_key=jax.random.key(4))
    assert ok.passed, [(p.name, p.p_value) for p in ok.params]
    wrong = calibrate("loss", SbcSettings(**{**QUICK.__dict__, "noise_factor": WRONG_NOISE}), design=small_design, rng_key=jax.random.key(4))
    assert not wrong.passed
    sigma = next(p for p in wrong.params if p.name == "sigma")
    assert not sigma.passed and sigma.p_value < 1e-6
    # The truth's sigma sits below the posterior: the fitted noise absorbs the extra scatter.
    assert np.mean(sigma.ranks < QUICK.ranks_range // 5) > 0.9


@pytest.mark.slow
def test_cli_writes_sbc_json_as_designed(small_design, tmp_path):
    out = tmp_path / "sbc"
    # The same settings as QUICK, so the compiled sampler of the test above is reused.
    args = ["sbc", "--law", "loss", "--design", str(small_design.path), "--sims", "4", "--chains", "1", "--warmup", "100", "--draws", "100", "--thin", "2", "--bins", "5", "--out", str(out), "--quiet"]
    assert main(args) in (0, 1)  # 4 simulations certify nothing; the files and their contract are the point
    d = json.loads((out / "sbc.json").read_text())
    assert d["law"] == "loss" and d["sims"] == 4 and isinstance(d["passed"], bool)
    assert {"ranks", "p_value", "passed"} <= set(d["params"]["alpha"])
    assert len(d["params"]["alpha"]["ranks"]) == 4 and all(0 <= r <= 49 for r in d["params"]["alpha"]["ranks"])
    assert (out / "ranks.png").stat().st_size > 0 and (out / "ecdf.png").stat().st_size > 0
    before = (out / "sbc.json").read_bytes()
    assert main(args) == 2  # an existing folder is kept without --force
    assert (out / "sbc.json").read_bytes() == before


def test_cli_refuses_bad_settings_before_any_work(tmp_path, capsys):
    out = tmp_path / "sbc"
    assert main(["sbc", "--law", "bcrit", "--draws", "301", "--thin", "10", "--out", str(out)]) == 2
    assert "multiple of --thin" in capsys.readouterr().err
    assert not out.exists()
    assert main(["sbc", "--law", "bcrit", "--model", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    assert not out.exists()
