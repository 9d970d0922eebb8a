"""The two-stage least-squares baselines: exact on noise-free data, sane on noisy data, clear errors."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from bayes_scaling.errors import BadInputError
from bayes_scaling.laws import adamw_timescale, critical_batch
from bayes_scaling.simulate import (
    BatchTruth,
    BcritDesign,
    BcritTruth,
    TimescaleDesign,
    TimescaleTruth,
    simulate_batch_sweep,
    simulate_bcrit_sweep,
    simulate_timescale_sweep,
)
from bayes_scaling.two_stage import two_stage_bcrit, two_stage_bowl

# Least squares on exact data: only float64 rounding (condition numbers ~1e3) remains.
EXACT = 1e-8
# Noisy hyperbola fits: each group's log B_crit within this many of its standard errors.
# The SEs come from 9 points (7 dof), so z is Student-t(7): P(|z| > 6) = 5e-4 per group.
# Over keys 6-11 the largest |z| seen was 3.8.
Z_MAX = 6.0


def _settings(frame):
    """Integer setting per row and the sorted (N, D) of each setting."""
    by = frame.groupby(["N", "D"])
    keys = by.size().index
    return by.ngroup().to_numpy(), np.array([k[0] for k in keys]), np.array([k[1] for k in keys])


def _timescale_inputs(frame):
    setting, n, d = _settings(frame)
    x = np.log(np.asarray(adamw_timescale(*(frame[c].to_numpy() for c in ("B", "lr", "wd", "D")))))
    return x, np.log(frame["loss"].to_numpy()), setting, np.log(d / n)


def test_vertex_is_exact_on_quadratic_bowls():
    rng = np.random.default_rng(0)
    cov = np.linspace(0.0, 4.0, 6)
    x_opt = 0.3 - 0.5 * cov
    x = np.tile(np.linspace(-5.0, 3.0, 7), len(cov))
    setting = np.repeat(np.arange(len(cov)), 7)
    y = rng.normal(size=len(cov))[setting] + 0.02 * (x - x_opt[setting]) ** 2
    fit = two_stage_bowl(x, y, setting, cov)
    np.testing.assert_allclose(fit.x_opt, x_opt, atol=EXACT)
    assert fit.intercept == pytest.approx(0.3, abs=EXACT) and fit.slopes == pytest.approx((-0.5,), abs=EXACT)
    assert fit.dof == 4 and fit.cov.shape == (2, 2)
    np.testing.assert_allclose(fit.upper - fit.lower, 0.0, atol=EXACT)


def test_recovers_the_timescale_law_from_noise_free_sweeps():
    truth = TimescaleTruth(sigma=0.0, sigma_setting=0.0)
    frame = simulate_timescale_sweep(truth, rng_key=jax.random.key(1))
    fit = two_stage_bowl(*_timescale_inputs(frame))
    assert math.exp(fit.intercept) == pytest.approx(truth.tau_c, rel=EXACT)
    assert fit.slopes[0] == pytest.approx(truth.tau_m, abs=EXACT)


def test_argmin_optima_are_quantised_to_the_grid():
    """What many papers do: within half a grid step of the truth, but not on it."""
    truth = TimescaleTruth(sigma=0.0, sigma_setting=0.0)
    frame = simulate_timescale_sweep(truth, TimescaleDesign(), rng_key=jax.random.key(2))
    x, y, setting, cov = _timescale_inputs(frame)
    fit = two_stage_bowl(x, y, setting, cov, optimum="argmin")
    true_x = np.log(truth.tau_c) + truth.tau_m * cov
    step = math.log(2.0)  # the default weight-decay grid steps by a factor 2
    assert np.all(np.abs(fit.x_opt - true_x) <= step / 2 + EXACT)
    assert np.max(np.abs(fit.x_opt - true_x)) > 0.05


def test_noisy_timescale_interval_covers_the_exponent():
    truth = TimescaleTruth()
    frame = simulate_timescale_sweep(truth, rng_key=jax.random.key(3))
    fit = two_stage_bowl(*_timescale_inputs(frame), level=0.9)
    assert fit.lower[1] < truth.tau_m < fit.upper[1]
    assert fit.level == 0.9 and fit.dof == 7


def test_recovers_the_batch_law_with_two_covariates():
    truth = BatchTruth(sigma=0.0, sigma_setting=0.0, bopt_n=0.05)
    frame = simulate_batch_sweep(truth, rng_key=jax.random.key(4))
    setting, n, d = _settings(frame)
    fit = two_stage_bowl(
        np.log(frame.B.to_numpy()), np.log(frame.loss.to_numpy()), setting, np.column_stack([np.log(d), np.log(n)])
    )
    assert fit.intercept == pytest.approx(math.log(truth.bopt_c), abs=EXACT * 10)  # extrapolated to log D = 0
    assert fit.slopes == pytest.approx((truth.bopt_k, truth.bopt_n), abs=EXACT)
    assert fit.lower.shape == fit.upper.shape == (3,)


def test_recovers_bcrit_exactly_without_noise():
    truth, design = BcritTruth(sigma=0.0, sigma_group=0.0), BcritDesign()
    frame = simulate_bcrit_sweep(truth, design, rng_key=jax.random.key(5))
    fit = two_stage_bcrit(frame.B.to_numpy(), frame.tokens_to_target.to_numpy(), frame.N.to_numpy())
    d_min = design.tokens_per_param_target * np.array(design.sizes)
    np.testing.assert_allclose(fit.b_crit, np.asarray(critical_batch(d_min, truth.bcrit_c, truth.bcrit_k)), rtol=EXACT)
    np.testing.assert_allclose(fit.d_min, d_min, rtol=EXACT)
    assert fit.bcrit_k == pytest.approx(truth.bcrit_k, abs=EXACT)
    assert fit.log_bcrit_c == pytest.approx(math.log(truth.bcrit_c), abs=EXACT * 10)
    assert fit.groups == design.sizes and fit.dof == len(design.sizes) - 2


def test_recovers_each_groups_bcrit_on_zhang_like_noise():
    truth, design = BcritTruth(sigma_group=0.0), BcritDesign()  # 5 % noise on tokens-to-target
    frame = simulate_bcrit_sweep(truth, design, rng_key=jax.random.key(6))
    fit = two_stage_bcrit(frame.B.to_numpy(), frame.tokens_to_target.to_numpy(), frame.N.to_numpy())
    d_min = design.tokens_per_param_target * np.array(design.sizes)
    want = np.asarray(critical_batch(d_min, truth.bcrit_c, truth.bcrit_k))
    z = (np.log(fit.b_crit) - np.log(want)) / fit.log_b_crit_se
    assert np.all(np.abs(z) < Z_MAX), z
    assert np.all(fit.b_crit_lower < fit.b_crit) and np.all(fit.b_crit < fit.b_crit_upper)
    assert np.all(fit.d_min_lower < fit.d_min) and np.all(fit.d_min < fit.d_min_upper)


def test_bowl_errors_name_the_problem():
    x = np.tile([0.0, 1.0, 2.0], 4)
    setting = np.repeat(np.arange(4), 3)
    up = (x - 1.0) ** 2
    cov = np.arange(4.0)
    with pytest.raises(BadInputError, match="setting 2: the fitted parabola opens downward"):
        two_stage_bowl(x, np.where(setting == 2, -up, up), setting, cov)
    with pytest.raises(BadInputError, match="setting 0: a vertex needs >= 3 distinct x"):
        two_stage_bowl(np.where(setting == 0, 1.0, x), up, setting, cov)
    with pytest.raises(BadInputError, match="4 settings, 4 coefficients"):
        two_stage_bowl(x, up, setting, np.column_stack([cov, cov**2, cov**3]))
    with pytest.raises(BadInputError, match="optimum must be one of vertex, argmin"):
        two_stage_bowl(x, up, setting, cov, optimum="min")
    with pytest.raises(BadInputError, match="level must be in"):
        two_stage_bowl(x, up, setting, cov, level=1.5)
    with pytest.raises(BadInputError, match="integer indices"):
        two_stage_bowl(x, up, setting.astype(float), cov)
    with pytest.raises(BadInputError, match="indices must lie in 0..2"):
        two_stage_bowl(x, up, setting, cov[:3])


def test_bcrit_errors_name_the_group():
    b = np.array([1e5, 2e5, 1e5, 2e5, 4e5])
    tokens = 1e9 * (1 + b / 1e6)
    with pytest.raises(BadInputError, match="group a: the hyperbola needs >= 3 distinct batch sizes"):
        two_stage_bcrit(b, tokens, np.array(["a", "a", "b", "b", "b"]))
    with pytest.raises(BadInputError, match="one length"):
        two_stage_bcrit(b, tokens[:4], np.zeros(5))
    with pytest.raises(BadInputError, match="> 0"):
        two_stage_bcrit(-b, tokens, np.zeros(5))
