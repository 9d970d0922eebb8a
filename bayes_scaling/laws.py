"""Pure, jittable scaling-law functions: no numpyro, no pandas.

Everything works in log space because the laws are sums of power laws whose
terms span orders of magnitude; ``logaddexp`` keeps them exact.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jnp.ndarray


def chinchilla_log_loss(
    log_n: ArrayLike,
    log_d: ArrayLike,
    e: ArrayLike,
    a: ArrayLike,
    alpha: ArrayLike,
    b: ArrayLike,
    beta: ArrayLike,
    b_n: ArrayLike = 0.0,
) -> Array:
    """Log of L(N, D) = E + A N^-alpha + B N^b_n D^-beta with E = e^e, A = e^a, B = e^b.

    Hoffmann et al. 2022 (arXiv 2203.15556) eq. 2, in the log-sum-exp form of
    Besiroglu et al. 2024 (arXiv 2404.10102). ``log_n`` and ``log_d`` may be
    centred: then ``a`` and ``b`` are the logs of the terms at the centre.
    ``b_n`` lets the data term grow with model size (0: Hoffmann's separable law;
    ``models/loss_nd.toml`` says why a sweep may need it).

    >>> import jax.numpy as jnp
    >>> float(jnp.exp(chinchilla_log_loss(0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.3)))
    3.0
    """
    log_n, log_d = jnp.asarray(log_n), jnp.asarray(log_d)
    return log_sum_exp3(jnp.asarray(e), a - alpha * log_n, b + b_n * log_n - beta * log_d)


def log_sum_exp3(t0: ArrayLike, t1: ArrayLike, t2: ArrayLike) -> Array:
    """log(e^t0 + e^t1 + e^t2), stable for any magnitudes.

    Written out rather than as nested ``jnp.logaddexp``, whose custom derivative
    rule (inf handling) made the loss model's gradient 2.3x slower: 16 vs 7 us per
    gradient inside a compiled loop on the Chinchilla data
    (``benchmarks/bench_leapfrog.py``). On CPU, NUTS's own tree building dominates
    sampling time, so fits are not faster for it; predictions over many draws and
    large sweeps are. The shift ``m`` cancels exactly, so stopping its gradient is exact.
    """
    m = jax.lax.stop_gradient(jnp.maximum(t0, jnp.maximum(t1, t2)))
    return m + jnp.log(jnp.exp(t0 - m) + jnp.exp(t1 - m) + jnp.exp(t2 - m))


def chinchilla_loss(
    n: ArrayLike, d: ArrayLike, E: ArrayLike, A: ArrayLike, B: ArrayLike, alpha: ArrayLike, beta: ArrayLike, b_n: ArrayLike = 0.0
) -> Array:
    """L(N, D) = E + A N^-alpha + B N^b_n D^-beta at the original scale (for checks and plots)."""
    return E + A * jnp.power(n, -alpha) + B * jnp.power(n, b_n) * jnp.power(d, -beta)


def compute_optimal_split(
    compute: ArrayLike,
    A: ArrayLike,
    B: ArrayLike,
    alpha: ArrayLike,
    beta: ArrayLike,
    flops_per_token_param: float = 6.0,
    b_n: ArrayLike = 0.0,
) -> tuple[Array, Array]:
    """The (N, D) minimising L(N, D) subject to C = 6 N D.

    Setting d/dN [A N^-alpha + B N^b_n (C/6N)^-beta] = 0 gives
    N_opt = G (C/6)^(beta/(alpha+beta+b_n)) with G = (alpha A / ((beta+b_n) B))^(1/(alpha+beta+b_n))
    (Hoffmann et al. 2022, eq. 4, at b_n = 0), and D_opt = C / (6 N_opt). A draw with
    beta + b_n <= 0 has no optimum (the loss falls with N at any fixed compute): NaN.
    """
    c = jnp.asarray(compute) / flops_per_token_param
    slope = jnp.asarray(beta) + b_n
    power = jnp.asarray(alpha) + slope
    g = jnp.power(alpha * A / (slope * B), 1.0 / power)
    n_opt = jnp.where(slope > 0, g * jnp.power(c, beta / power), jnp.nan)
    return n_opt, c / n_opt


def log_sum_exp(*terms: ArrayLike) -> Array:
    """log(sum_i e^t_i) for any number of broadcastable terms; as ``log_sum_exp3``."""
    ts = jnp.broadcast_arrays(*(jnp.asarray(t) for t in terms))
    m = jax.lax.stop_gradient(functools.reduce(jnp.maximum, ts))
    return m + jnp.log(sum(jnp.exp(t - m) for t in ts))


# --- Hyperparameter laws (SCIENCE.md sections 3-4) -----------------------------------


def adamw_timescale(B: ArrayLike, lr: ArrayLike, wd: ArrayLike, D: ArrayLike) -> Array:
    """tau = B / (eta lambda D): AdamW's EMA window as a fraction of the run.

    AdamW with decoupled weight decay averages updates over 1/(eta lambda) steps
    (Wang and Aitchison 2024, arXiv 2405.13698); a run has D/B steps (Bergsma et
    al. 2025, "Power Lines", arXiv 2505.13738, eq. 1). B and D in tokens.
    """
    return jnp.asarray(B) / (jnp.asarray(lr) * jnp.asarray(wd) * jnp.asarray(D))


def tau_opt(N: ArrayLike, D: ArrayLike, tau_c: ArrayLike, tau_m: ArrayLike) -> Array:
    """tau_opt = tau_c (D/N)^tau_m (Power Lines: tau_c ~ 1.08, tau_m ~ -0.53)."""
    return tau_c * jnp.power(jnp.asarray(D) / jnp.asarray(N), tau_m)


def lambda_opt(N: ArrayLike, D: ArrayLike, B: ArrayLike, lr: ArrayLike, tau_c: ArrayLike, tau_m: ArrayLike) -> Array:
    """The weight decay that puts a run at tau_opt: lambda = B / (eta D tau_opt(D/N))."""
    return jnp.asarray(B) / (jnp.asarray(lr) * jnp.asarray(D) * tau_opt(N, D, tau_c, tau_m))


def batch_opt(N: ArrayLike, D: ArrayLike, bopt_c: ArrayLike, bopt_k: ArrayLike, bopt_n: ArrayLike = 0.0) -> Array:
    """B_opt = bopt_c D^bopt_k N^bopt_n, tokens (Power Lines: bopt_k ~ 0.38, no N term)."""
    return bopt_c * jnp.power(jnp.asarray(D), bopt_k) * jnp.power(jnp.asarray(N), bopt_n)


def bowl_log_loss(x: ArrayLike, m: ArrayLike, k: ArrayLike, x_opt: ArrayLike) -> Array:
    """Log loss near a hyperparameter's optimum: m + k (x - x_opt)^2, x the log of the
    swept quantity (tau or B). The second-order expansion of log loss about its
    minimum; ``m`` is the setting's best log loss, ``k`` > 0 its curvature."""
    return m + k * jnp.square(jnp.asarray(x) - x_opt)


def critical_batch(d_min: ArrayLike, bcrit_c: ArrayLike, bcrit_k: ArrayLike) -> Array:
    """B_crit = bcrit_c D_min^bcrit_k (tokens), D_min the fewest tokens that reach the target."""
    return bcrit_c * jnp.power(jnp.asarray(d_min), bcrit_k)


def log_tokens_to_target(log_b: ArrayLike, log_d_min: ArrayLike, log_b_crit: ArrayLike) -> Array:
    """log D(B) for D = D_min (1 + B / B_crit) (McCandlish et al. 2018, arXiv 1812.06162, eq. 2.11).

    Equivalently S = S_min (1 + B_crit / B) steps; at B = B_crit a run needs twice
    the minimum tokens.
    """
    return log_d_min + jax.nn.softplus(jnp.asarray(log_b) - log_b_crit)


def three_term_log_loss(
    log_n: ArrayLike,
    log_b: ArrayLike,
    log_k: ArrayLike,
    e: ArrayLike,
    a: ArrayLike,
    alpha: ArrayLike,
    c: ArrayLike,
    beta: ArrayLike,
    g: ArrayLike,
    gamma: ArrayLike,
) -> Array:
    """Log of L = E + A N^-alpha + C B^-beta + G K^-gamma, K = D/B steps (Schaipp 2026,
    arXiv 2607.01487). E = e^e, A = e^a, C = e^c, G = e^g; the logs may be centred."""
    return log_sum_exp(e, a - alpha * jnp.asarray(log_n), c - beta * jnp.asarray(log_b), g - gamma * jnp.asarray(log_k))


def three_term_batch_opt(D: ArrayLike, C: ArrayLike, beta: ArrayLike, G: ArrayLike, gamma: ArrayLike) -> Array:
    """The B minimising C B^-beta + G (D/B)^-gamma at fixed D:
    B_opt = (beta C / (gamma G))^(1/(beta+gamma)) D^(gamma/(beta+gamma))."""
    return jnp.power(beta * C / (gamma * G), 1.0 / (beta + gamma)) * jnp.power(jnp.asarray(D), gamma / (beta + gamma))


# --- Planning (DESIGN.md, "Plan") -----------------------------------------------------


def _softplus_sigmoid(s: Array) -> tuple[Array, Array]:
    """softplus(s) and sigmoid(s) from one exponential (the planner's inner loop is exp-bound)."""
    e = jnp.exp(-jnp.abs(s))
    # log(1 + e), not log1p: XLA's CPU log1p is not vectorised and cost 18 % of the
    # planner's time; with e <= 1 the difference is below float32's resolution.
    one_e = 1.0 + e
    return jnp.maximum(s, 0.0) + jnp.log(one_e), jnp.where(s >= 0, 1.0, e) / one_e


def log_effective_tokens(
    log_d: ArrayLike, log_b: ArrayLike, log_b_opt: ArrayLike, log_bcrit_c: ArrayLike, bcrit_k: ArrayLike, *, newton_steps: int = 3
) -> Array:
    """log D_eff: the tokens a run at B_opt needs to reach the loss a D-token run at batch B reaches.

    Both runs reach the same loss, so they share D_min, the fewest tokens that reach it
    (at a vanishing batch), and B_crit = c D_min^k; each needs D = D_min (1 + B/B_crit)
    (McCandlish et al. 2018, arXiv 1812.06162). Hence
    D_eff = D (1 + B_opt/B_crit) / (1 + B/B_crit) for B > B_opt. Below B_opt no tokens are
    saved, so D_eff = D (what a batch there costs is ``log_penalty_below_optimum``).

    """
    b_crit = jnp.exp(log_bcrit_c + bcrit_k * log_min_tokens(log_d, log_b, log_bcrit_c, bcrit_k, newton_steps=newton_steps))
    b_opt = jnp.exp(log_b_opt)
    # In linear space: two exponentials and a log, against four for two softplus terms.
    return jnp.asarray(log_d) + jnp.log((b_crit + b_opt) / (b_crit + jnp.maximum(jnp.exp(log_b), b_opt)))


def log_penalty_below_optimum(log_b: ArrayLike, log_b_opt: ArrayLike, curvature: ArrayLike) -> Array:
    """Extra log loss of a batch below B_opt: curvature (log B - log B_opt)^2 there, 0 above.

    The left half of the batch law's bowl (``bowl_log_loss``; Power Lines find the loss
    rises below B_opt); the right half is priced in tokens by ``log_effective_tokens``.
    """
    return curvature * jnp.square(jnp.minimum(jnp.asarray(log_b) - log_b_opt, 0.0))


def log_min_tokens(log_d: ArrayLike, log_b: ArrayLike, log_bcrit_c: ArrayLike, bcrit_k: ArrayLike, *, newton_steps: int = 3) -> Array:
    """log D_min of a D-token run at batch B, when B_crit = c D_min^k: D = D_min (1 + B / B_crit).

    u = log D_min solves u + softplus(log B - log c - k u) = log D; the left side is
    convex and increasing for k < 1, so Newton from u = log D descends onto the root
    without overshooting; three steps reach float32 precision.
    """
    log_d, log_b = jnp.asarray(log_d), jnp.asarray(log_b)
    u = log_d
    for _ in range(newton_steps):
        sp, sig = _softplus_sigmoid(log_b - log_bcrit_c - bcrit_k * u)
        u = u - (u + sp - log_d) / (1.0 - bcrit_k * sig)
    return u
