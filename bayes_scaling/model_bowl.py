"""One-stage NumPyro model of a hyperparameter's optimum across sweep settings.

Timescale and batch laws share it. In each setting s (an (N, D) pair, optionally
split further by ``--group`` columns) the log loss is a bowl in x, the log of the
swept quantity (x = log tau for the timescale law, log B for the batch law):

    log L_i = m_s + k_s (x_i - x_opt_s)^2
    x_opt_s = opt_c + sum_j slope_j (cov_sj - centre_j) + sd_setting z_s

with the covariates log(D/N) (timescale) or log D [and log N] (batch). Every row
informs the slopes at once: no "find each optimum, then fit a line", so a setting
whose sweep barely brackets its optimum contributes exactly the uncertainty it has
(SCIENCE.md section 5).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from .cards import ModelCard
from .laws import bowl_log_loss

OBS = "log_loss"

# Per law: the reported prefactor (DESIGN.md names) derived from opt_c and the slopes.
PREFACTOR = {"timescale": "tau_c", "batch": "bopt_c"}


class BowlData(NamedTuple):
    """Arrays the bowl model reads (all traceable: one compiled sampler per shape)."""

    x: jax.Array  # log of the swept quantity, per row
    setting: jax.Array  # int setting index, per row
    cov: jax.Array  # (n_settings, n_slopes) setting covariates, centred
    cov_centre: jax.Array  # (n_slopes,) the centres subtracted from cov
    m_hat: jax.Array  # (n_settings,) lowest observed log loss of each setting


class BowlStructure(NamedTuple):
    """Static facts that shape the model: law, number of settings, slope names."""

    law: str
    n_settings: int
    slopes: tuple[str, ...]  # ("tau_m",), ("bopt_k", "bopt_n") or ("bopt_k",)


def bowl_model(data: BowlData, *, card: ModelCard, structure: BowlStructure, log_loss: jax.Array | None = None) -> None:
    """Loss bowls tied together by a power law in their optima; Student-t noise on log loss."""
    opt_c = numpyro.sample("opt_c", card.prior("opt_c").to_numpyro())
    slopes = jnp.stack([numpyro.sample(name, card.prior(name).to_numpyro()) for name in structure.slopes])
    sd_setting = numpyro.sample("sd_setting", card.prior("sd_setting").to_numpyro())
    k_log = numpyro.sample("k_log", card.prior("k_log").to_numpyro())
    k_sd = numpyro.sample("k_sd", card.prior("k_sd").to_numpyro())
    sigma = numpyro.sample("sigma", card.prior("sigma").to_numpyro())
    nu = numpyro.sample("nu", card.prior("nu").to_numpyro())
    numpyro.deterministic(PREFACTOR[structure.law], jnp.exp(opt_c - jnp.dot(slopes, data.cov_centre)))

    m_dev_prior = card.prior("m_dev").to_numpyro()
    with numpyro.plate("settings", structure.n_settings):
        # Non-centred, both: most settings pin their optimum and curvature only
        # loosely (3-5 rows), and then the centred form funnels as the scale -> 0.
        z = numpyro.sample("z_setting", dist.Normal(0.0, 1.0))
        z_k = numpyro.sample("z_k", dist.Normal(0.0, 1.0))
        m_dev = numpyro.sample("m_dev", m_dev_prior)
    log_k = numpyro.deterministic("log_k", k_log + k_sd * z_k)
    x_opt = numpyro.deterministic("log_opt", opt_c + data.cov @ slopes + sd_setting * z)
    m = numpyro.deterministic("m", data.m_hat + m_dev)

    s = data.setting
    mu = bowl_log_loss(data.x, m[s], jnp.exp(log_k)[s], x_opt[s])
    with numpyro.plate("rows", data.x.shape[0]):
        numpyro.sample(OBS, dist.StudentT(nu, mu, sigma), obs=log_loss)
