"""The EIG estimator against closed forms on a linear-Gaussian model.

theta ~ N(0, Sigma) in 2-d, a candidate x observes y = x . theta + eps, eps ~ N(0, s^2):
    I(theta; y)       = 0.5 log(1 + x' Sigma x / s^2)
    I(T; y), T = c'theta = -0.5 log(1 - rho^2), rho = corr(T, y)
    I(theta; y2 | y1) = 0.5 log(1 + x2' Sigma_1 x2 / s^2), Sigma_1 the posterior after y1.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling.design import _Worlds
from bayes_scaling.design_eig import eig_chunk, noise_kernel, stack_kernels

M = 4000  # draws, as a default fit gives
S = 16  # worlds, as the defaults table's next_worlds
NOISE = 0.01
SIGMA = np.array([[4.0, 1.2], [1.2, 1.0]]) * NOISE**2
# The estimator's own error, against the closed form at the draws' sample covariance:
# measured <= 0.005 nats over these designs (binning and quadrature); 0.01 leaves room.
TOL_EXACT = 0.01
# Against the population covariance the draws add sampling error: the variance of 4000
# draws is off by ~sqrt(2/4000) = 2.2 %, which moves 0.5 log(1 + v/s^2) by up to ~0.011
# nats; 4 standard errors.
TOL_SAMPLE = 0.045
# Conditioning in 16 simulated worlds: the conditional EIG averages 16 ensemble updates,
# each with its own perturbed observations; measured error <= 0.02 nats here.
TOL_CONDITIONAL = 0.05
DESIGNS = np.array([[0.05, 0.0], [0.3, 0.1], [1.0, 0.0], [0.0, 1.0], [1.0, -2.0], [3.0, 1.0], [10.0, 5.0]])


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(7)
    theta = rng.multivariate_normal(np.zeros(2), SIGMA, size=M)
    kernel = noise_kernel(np.full(M, NOISE), np.full(M, np.inf), None, rng=rng)
    return theta, kernel, stack_kernels((kernel,))


def _eig(mu: np.ndarray, karr, tbin=None, n_bins=1, w=None) -> np.ndarray:
    """EIG of candidates mu (S', C, M)."""
    s_, c, m = mu.shape
    w = np.full((s_, m), 1.0 / m) if w is None else w
    tbin = np.zeros((s_, m), np.int32) if tbin is None else tbin
    e, _ = eig_chunk(jnp.asarray(mu, jnp.float32), jnp.asarray(w, jnp.float32), jnp.zeros(c, jnp.int32), jnp.asarray(tbin), karr, n_bins=n_bins)
    return np.asarray(e)


def test_kernel_is_the_noise(gaussian):
    _, kernel, _ = gaussian
    assert kernel.scale == pytest.approx(NOISE, rel=1e-3)
    assert kernel.entropy() == pytest.approx(0.5 * np.log(2 * np.pi * np.e * NOISE**2), abs=1e-3)


def test_eig_matches_closed_form(gaussian):
    theta, _, karr = gaussian
    mu = 1.0 + DESIGNS @ theta.T  # (C, M); the offset is a log loss's order of magnitude
    got = _eig(mu[None], karr)
    sample = 0.5 * np.log1p(np.var(mu, axis=1) / NOISE**2)
    exact = 0.5 * np.log1p(np.einsum("ci,ij,cj->c", DESIGNS, SIGMA, DESIGNS) / NOISE**2)
    np.testing.assert_allclose(got, sample, atol=TOL_EXACT)
    np.testing.assert_allclose(got, exact, atol=TOL_SAMPLE)
    assert exact.min() < 0.01 and exact.max() > 3  # the designs span uninformative to very informative


def test_eig_is_zero_where_draws_agree(gaussian):
    _, _, karr = gaussian
    assert abs(_eig(np.full((1, 1, M), 0.7), karr)[0]) < 1e-3


def test_target_eig_is_a_tight_lower_bound(gaussian):
    theta, _, karr = gaussian
    c = np.array([1.0, 1.0])
    t = theta @ c
    bins = (np.argsort(np.argsort(t)) * 16 // M).astype(np.int32)[None]
    mu = 1.0 + DESIGNS @ theta.T
    got = _eig(mu[None], karr, bins, n_bins=16)
    cov_ty = DESIGNS @ SIGMA @ c
    var_y = np.einsum("ci,ij,cj->c", DESIGNS, SIGMA, DESIGNS) + NOISE**2
    rho2 = cov_ty**2 / (var_y * (c @ SIGMA @ c))
    exact = -0.5 * np.log1p(-rho2)
    assert np.all(got <= exact + TOL_SAMPLE)
    # Equal-count bins of T keep most of the information: measured 89-96 % here (the
    # defaults table's next_target_bins); 85 % is the floor a regression would cross.
    assert np.all(got >= 0.85 * exact - TOL_SAMPLE)
    # About T, not about theta: a design orthogonal to c's direction tells less of T than of theta.
    assert got[4] < _eig(mu[None], karr)[4]


def test_conditional_eig_matches_closed_form(gaussian):
    theta, kernel, karr = gaussian
    rng = np.random.default_rng(3)
    x1 = np.array([1.0, 0.0])
    world = _Worlds(rng, S, M, None)
    world.observe(theta @ x1, kernel, kernel.scale**2)
    x2 = DESIGNS[1:]
    mu2 = world.update(x2 @ theta.T)  # (S, C, M)
    got = _eig(mu2, karr)
    v1 = x1 @ SIGMA @ x1 + NOISE**2
    post = SIGMA - np.outer(SIGMA @ x1, x1 @ SIGMA) / v1
    exact = 0.5 * np.log1p(np.einsum("ci,ij,cj->c", x2, post, x2) / NOISE**2)
    alone = 0.5 * np.log1p(np.einsum("ci,ij,cj->c", x2, SIGMA, x2) / NOISE**2)
    np.testing.assert_allclose(got, exact, atol=TOL_CONDITIONAL)
    assert np.all(exact < alone - 0.05)  # the pick has to matter for the test to mean something
