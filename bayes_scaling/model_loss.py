"""NumPyro models: draw priors from the card, call the pure laws, observe.

Models take arrays (and static sizes), never DataFrames. Site names are constants
so that tests, artifacts and reports agree on them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from .cards import ModelCard
from .laws import chinchilla_log_loss

OBS = "log_loss"
GROUPABLE = ("e", "alpha", "beta")


class LossData(NamedTuple):
    """Arrays the loss model reads. All are JAX-traceable, so one compiled sampler serves
    every data set of the same shape (``jit_model_args``)."""

    x: jax.Array  # log N minus its centre
    z: jax.Array  # log D minus its centre
    group: jax.Array  # int, group index per row (0 when ungrouped)
    run: jax.Array  # int, run index per row; rows of single-row runs point at the last slot (no effect)
    log_n_centre: jax.Array  # scalar
    log_d_centre: jax.Array  # scalar


class LossStructure(NamedTuple):
    """Static facts that change the model's shape (and so its compiled form)."""

    n_groups: int
    n_runs: int
    group_params: tuple[str, ...]


def _grouped(name: str, base: jax.Array, structure: LossStructure, card: ModelCard) -> jax.Array:
    """Per-group values of ``name``, partially pooled around ``base``.

    Centred (value_g ~ Normal(base, tau)), not non-centred: each group of a sweep has
    tens of rows that pin its own E down, and with data that informative the
    non-centred form is the one that funnels (Betancourt and Girolami 2013,
    arXiv 1312.0906); on 3 simulated groups it gave 6 divergences, centred none.
    Exponents vary on the logit scale so they stay in (0, 1).
    """
    if structure.n_groups <= 1 or name not in structure.group_params:
        return jnp.broadcast_to(base, (max(structure.n_groups, 1),))
    tau = numpyro.sample(f"tau_{name}", card.group_scales[name].to_numpyro())
    centre = base if name == "e" else jax.scipy.special.logit(base)
    with numpyro.plate("groups", structure.n_groups):
        value = numpyro.sample(f"{name}_raw", dist.Normal(centre, tau))
    return numpyro.deterministic(f"{name}_group", value if name == "e" else jax.nn.sigmoid(value))


def loss_model(data: LossData, *, card: ModelCard, structure: LossStructure, log_loss: jax.Array | None = None) -> None:
    """L(N, D) = E + A N^-alpha + B D^-beta with Student-t noise on log L.

    Sampled in the centred parameterisation of the card (a_c, b_c at the data's
    centre); a, b, A, B, E at the original scale are deterministic sites.
    """
    e = numpyro.sample("e", card.prior("e").to_numpyro())
    a_c = numpyro.sample("a_c", card.prior("a_c").to_numpyro())
    b_c = numpyro.sample("b_c", card.prior("b_c").to_numpyro())
    alpha = numpyro.sample("alpha", card.prior("alpha").to_numpyro())
    beta = numpyro.sample("beta", card.prior("beta").to_numpyro())
    sigma = numpyro.sample("sigma", card.prior("sigma").to_numpyro())
    nu = numpyro.sample("nu", card.prior("nu").to_numpyro())

    numpyro.deterministic("a", a_c + alpha * data.log_n_centre)
    numpyro.deterministic("b", b_c + beta * data.log_d_centre)
    numpyro.deterministic("E", jnp.exp(e))
    numpyro.deterministic("A", jnp.exp(a_c + alpha * data.log_n_centre))
    numpyro.deterministic("B", jnp.exp(b_c + beta * data.log_d_centre))

    if structure.n_groups > 1:
        e_g = _grouped("e", e, structure, card)[data.group]
        alpha_g = _grouped("alpha", alpha, structure, card)[data.group]
        beta_g = _grouped("beta", beta, structure, card)[data.group]
    else:  # no gathers: every op in the gradient costs time in XLA's CPU loop
        e_g, alpha_g, beta_g = e, alpha, beta
    # a_c, b_c are defined at the centre, so a group's own exponent pivots its
    # curve about the centre rather than about N = 1.
    mu = chinchilla_log_loss(data.x, data.z, e_g, a_c, alpha_g, b_c, beta_g)

    if structure.n_runs > 0:
        sigma_run = numpyro.sample("sigma_run", card.group_scales["run"].to_numpyro())
        with numpyro.plate("runs", structure.n_runs):
            z_run = numpyro.sample("z_run", dist.Normal(0.0, 1.0))
        effect = jnp.concatenate([sigma_run * z_run, jnp.zeros(1)])
        mu = mu + effect[data.run]

    with numpyro.plate("rows", data.x.shape[0]):
        numpyro.sample(OBS, dist.StudentT(nu, mu, sigma), obs=log_loss)
