"""Exact checks of the pure law functions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from bayes_scaling.laws import chinchilla_log_loss, chinchilla_loss, compute_optimal_split

BESIROGLU = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


@pytest.mark.parametrize("jit", [False, True])
def test_log_loss_equals_log_of_direct_sum(jit):
    n = jnp.array([1e8, 1e9, 7e10])
    d = jnp.array([2e9, 2e10, 1.4e12])
    p = BESIROGLU
    f = jax.jit(chinchilla_log_loss) if jit else chinchilla_log_loss
    got = f(jnp.log(n), jnp.log(d), np.log(p["E"]), np.log(p["A"]), p["alpha"], np.log(p["B"]), p["beta"])
    want = np.log(p["E"] + p["A"] * np.asarray(n) ** -p["alpha"] + p["B"] * np.asarray(d) ** -p["beta"])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_centring_only_moves_the_prefactors():
    """a_c = a - alpha m_N: the centred form is the same function."""
    p, mn, md = BESIROGLU, 20.0, 23.0
    ln, ld = jnp.log(3e9), jnp.log(6e10)
    a, b = np.log(p["A"]), np.log(p["B"])
    raw = chinchilla_log_loss(ln, ld, np.log(p["E"]), a, p["alpha"], b, p["beta"])
    centred = chinchilla_log_loss(ln - mn, ld - md, np.log(p["E"]), a - p["alpha"] * mn, p["alpha"], b - p["beta"] * md, p["beta"])
    np.testing.assert_allclose(float(raw), float(centred), rtol=1e-12)


@pytest.mark.parametrize("compute", [1e21, 1e23, 1e25])
def test_compute_optimal_split_is_the_numerical_minimum(compute):
    p = BESIROGLU
    n_opt, d_opt = compute_optimal_split(compute, p["A"], p["B"], p["alpha"], p["beta"])
    np.testing.assert_allclose(float(6 * n_opt * d_opt), compute, rtol=1e-10)

    def loss_at(log_n):
        n = np.exp(log_n)
        return float(chinchilla_loss(n, compute / (6 * n), p["E"], p["A"], p["B"], p["alpha"], p["beta"]))

    best = minimize_scalar(loss_at, bounds=(np.log(1e6), np.log(1e14)), method="bounded", options={"xatol": 1e-10})
    # xatol 1e-10 in log N: the optimiser's answer is good to ~1e-8 relative.
    np.testing.assert_allclose(float(n_opt), np.exp(best.x), rtol=1e-6)


def test_compute_optimal_exponent_is_beta_over_alpha_plus_beta():
    p = BESIROGLU
    n1, _ = compute_optimal_split(1e21, p["A"], p["B"], p["alpha"], p["beta"])
    n2, _ = compute_optimal_split(1e25, p["A"], p["B"], p["alpha"], p["beta"])
    slope = (np.log(float(n2)) - np.log(float(n1))) / (np.log(1e25) - np.log(1e21))
    np.testing.assert_allclose(slope, p["beta"] / (p["alpha"] + p["beta"]), rtol=1e-10)
    # Besiroglu et al. report 0.513 for this exponent.
    assert abs(slope - 0.513) < 0.001


@pytest.mark.parametrize("jit", [False, True])
def test_log_sum_exp3_is_stable_and_has_the_right_gradient(jit):
    from bayes_scaling.laws import log_sum_exp3

    f = jax.jit(log_sum_exp3) if jit else log_sum_exp3
    big = f(1000.0, 999.0, -1000.0)
    np.testing.assert_allclose(float(big), 1000.0 + np.log1p(np.exp(-1.0)), rtol=1e-14)
    small = f(-1000.0, -1001.0, -2000.0)
    np.testing.assert_allclose(float(small), -1000.0 + np.log1p(np.exp(-1.0)), rtol=1e-14)
    # The gradient is the softmax of the terms, whatever the shift.
    t = jnp.array([0.3, -1.2, 2.0])
    g = jax.grad(lambda v: f(v[0], v[1], v[2]))(t)
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.nn.softmax(t)), rtol=1e-12)


# --- the size-dependent data term, B N^b_n D^-beta (models/loss_nd.toml) ----------------


@pytest.mark.parametrize("b_n", [-0.1, 0.05, 0.19])
@pytest.mark.parametrize("compute", [1e21, 1e25])
def test_compute_optimal_split_with_size_dependent_data_term(compute, b_n):
    p = BESIROGLU
    n_opt, d_opt = compute_optimal_split(compute, p["A"], p["B"], p["alpha"], p["beta"], b_n=b_n)
    np.testing.assert_allclose(float(6 * n_opt * d_opt), compute, rtol=1e-10)

    def loss_at(log_n):
        n = np.exp(log_n)
        return float(chinchilla_loss(n, compute / (6 * n), p["E"], p["A"], p["B"], p["alpha"], p["beta"], b_n))

    best = minimize_scalar(loss_at, bounds=(np.log(1e3), np.log(1e16)), method="bounded", options={"xatol": 1e-10})
    np.testing.assert_allclose(float(n_opt), np.exp(best.x), rtol=1e-6)  # as above: xatol 1e-10 in log N


def test_size_dependent_data_term_moves_the_exponent_and_needs_beta_plus_b_n_positive():
    p = BESIROGLU
    n1, _ = compute_optimal_split(1e21, p["A"], p["B"], p["alpha"], p["beta"], b_n=0.1)
    n2, _ = compute_optimal_split(1e25, p["A"], p["B"], p["alpha"], p["beta"], b_n=0.1)
    slope = (np.log(float(n2)) - np.log(float(n1))) / (np.log(1e25) - np.log(1e21))
    np.testing.assert_allclose(slope, p["beta"] / (p["alpha"] + p["beta"] + 0.1), rtol=1e-10)
    n_none, _ = compute_optimal_split(1e21, p["A"], p["B"], p["alpha"], p["beta"], b_n=-p["beta"])
    assert np.isnan(float(n_none))  # the loss keeps falling with N at fixed compute: no optimum


def test_log_loss_with_size_dependent_data_term():
    n, d, g = jnp.array([1e8, 7e10]), jnp.array([2e9, 1.4e12]), 0.19
    p = BESIROGLU
    got = chinchilla_log_loss(jnp.log(n), jnp.log(d), np.log(p["E"]), np.log(p["A"]), p["alpha"], np.log(p["B"]), p["beta"], g)
    want = np.log(chinchilla_loss(np.asarray(n), np.asarray(d), p["E"], p["A"], p["B"], p["alpha"], p["beta"], g))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
