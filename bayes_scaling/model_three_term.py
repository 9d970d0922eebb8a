"""NumPyro model of the three-term law L = E + A/N^alpha + C/B^beta + G/K^gamma (K = D/B).

Schaipp 2026 (arXiv 2607.01487). It uses every run, at optimal batch size or not,
and implies B_opt(D) = (beta C / (gamma G))^(1/(beta+gamma)) D^(gamma/(beta+gamma)).
As in the loss law, log N, log B and log K are centred and the terms' logs are
sampled at the centre.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from .cards import ModelCard
from .laws import three_term_log_loss

OBS = "log_loss"


class ThreeTermData(NamedTuple):
    """Centred logs per row and the centres."""

    x: jax.Array  # log N - centre
    y: jax.Array  # log B - centre
    w: jax.Array  # log K - centre, K = D / B steps
    centre: jax.Array  # (3,): the centres of log N, log B, log K


class ThreeTermStructure(NamedTuple):
    """Static shape (none beyond the row count; kept for a uniform sampler key)."""

    n_rows: int


def three_term_model(data: ThreeTermData, *, card: ModelCard, structure: ThreeTermStructure, log_loss: jax.Array | None = None) -> None:
    """The three-term law with Student-t noise on log loss."""
    site = {name: numpyro.sample(name, card.prior(name).to_numpyro()) for name in ("e", "a_c", "c_c", "g_c", "alpha", "beta", "gamma", "sigma", "nu")}
    alpha, beta, gamma = site["alpha"], site["beta"], site["gamma"]
    cn, cb, ck = data.centre[0], data.centre[1], data.centre[2]
    numpyro.deterministic("E", jnp.exp(site["e"]))
    numpyro.deterministic("A", jnp.exp(site["a_c"] + alpha * cn))
    big_c = numpyro.deterministic("C", jnp.exp(site["c_c"] + beta * cb))
    big_g = numpyro.deterministic("G", jnp.exp(site["g_c"] + gamma * ck))
    # Implied optimal batch B_opt = bopt_c D^bopt_k (tokens), comparable with the batch law.
    numpyro.deterministic("bopt_k", gamma / (beta + gamma))
    numpyro.deterministic("bopt_c", jnp.power(beta * big_c / (gamma * big_g), 1.0 / (beta + gamma)))

    mu = three_term_log_loss(data.x, data.y, data.w, site["e"], site["a_c"], alpha, site["c_c"], beta, site["g_c"], gamma)
    with numpyro.plate("rows", data.x.shape[0]):
        numpyro.sample(OBS, dist.StudentT(site["nu"], mu, site["sigma"]), obs=log_loss)
