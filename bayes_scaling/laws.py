"""Pure, jittable scaling-law functions: no numpyro, no pandas.

Everything works in log space because the laws are sums of power laws whose
terms span orders of magnitude; ``logaddexp`` keeps them exact.
"""

from __future__ import annotations

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
) -> Array:
    """Log of L(N, D) = E + A N^-alpha + B D^-beta with E = e^e, A = e^a, B = e^b.

    Hoffmann et al. 2022 (arXiv 2203.15556) eq. 2, in the log-sum-exp form of
    Besiroglu et al. 2024 (arXiv 2404.10102). ``log_n`` and ``log_d`` may be
    centred: then ``a`` and ``b`` are the logs of the terms at the centre.

    >>> import jax
import jax.numpy as jnp
    >>> float(jnp.exp(chinchilla_log_loss(0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.3)))
    3.0
    """
    log_n, log_d = jnp.asarray(log_n), jnp.asarray(log_d)
    return log_sum_exp3(jnp.asarray(e), a - alpha * log_n, b - beta * log_d)


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


def chinchilla_loss(n: ArrayLike, d: ArrayLike, E: ArrayLike, A: ArrayLike, B: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> Array:
    """L(N, D) = E + A N^-alpha + B D^-beta at the original scale (for checks and plots)."""
    return E + A * jnp.power(n, -alpha) + B * jnp.power(d, -beta)


def compute_optimal_split(
    compute: ArrayLike, A: ArrayLike, B: ArrayLike, alpha: ArrayLike, beta: ArrayLike, flops_per_token_param: float = 6.0
) -> tuple[Array, Array]:
    """The (N, D) minimising L(N, D) subject to C = 6 N D.

    Setting d/dN [A N^-alpha + B (C/6N)^-beta] = 0 gives
    N_opt = G (C/6)^(beta/(alpha+beta)) with G = (alpha A / (beta B))^(1/(alpha+beta))
    (Hoffmann et al. 2022, eq. 4), and D_opt = C / (6 N_opt).
    """
    c = jnp.asarray(compute) / flops_per_token_param
    g = jnp.power(alpha * A / (beta * B), 1.0 / (alpha + beta))
    n_opt = g * jnp.power(c, beta / (alpha + beta))
    return n_opt, c / n_opt
