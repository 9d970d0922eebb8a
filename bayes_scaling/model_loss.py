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
ND = "b_n"  # the data term's growth with model size, B N^b_n D^-beta (models/loss_nd.toml)
GROUPABLE = ("e", "alpha", "beta")


class LossData(NamedTuple):
    """Arrays the loss model reads. All are JAX-traceable, so one compiled sampler serves
    every data set of the same shape (``jit_model_args``)."""

    x: jax.Array  # log N minus its centre
    z: jax.Array  # log D minus its centre
    group: jax.Array  # int, group index per row (0 when ungrouped)
    run: jax.Array  # int, run index per row; rows of single-row runs point at the last slot (no effect)
    run_basis: jax.Array  # (n_runs, m): orthonormal basis of the run effects allowed (see _run_effects)
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


def _run_effects(data: LossData, structure: LossStructure, card: ModelCard) -> jax.Array:
    """Each run's effect on log loss (the deterministic ``run_effect``), restricted so that
    it cannot stand in for the law.

    Restricted: effects live in the span of ``data.run_basis``, the complement of the group
    indicators and the runs' mean log N (``k @ w``, w iid N(0, sigma_run), is an iid
    N(0, sigma_run) vector projected off those directions). When each run is one model
    size (Gemstones, any one-run-per-size WSD sweep), an effect free to follow log N is a
    second N-term: on Gemstones the free effects' posterior means correlated 0.997 with
    log N (-0.31 at 48M to +0.33 at 2B), E went to 0.5 and the chains did not mix
    (models/loss.toml [hierarchy] has the numbers). This is restricted regression for
    random effects confounded with a fixed covariate (Reich, Hodges and Zadnik 2006,
    Biometrics 62:1197; Hodges and Reich 2010, Am. Stat. 64:325): the law alone carries
    the trend in N, the effects each run's departure from it.
    Non-centred: restricted, both forms gave the same Gemstones fit (R-hat 1.016-1.018,
    0-1 divergences at the card's settings), and on the 16-row study sweep of
    tests/test_design.py the centred form gave 2 divergences, the non-centred none.
    """
    sigma_run = numpyro.sample("sigma_run", card.group_scales["run"].to_numpyro())
    k = data.run_basis  # iid N(0, sigma_run) effects, projected: k @ w with w iid N(0, sigma_run)
    if k.shape[1] == 0:  # as many runs as directions removed: nothing left to vary
        return numpyro.deterministic("run_effect", jnp.zeros(k.shape[0]))
    with numpyro.plate("run_dirs", k.shape[1]):
        w = numpyro.sample("r_run", dist.Normal(0.0, 1.0))
    return numpyro.deterministic("run_effect", k @ (sigma_run * w))


def loss_model(data: LossData, *, card: ModelCard, structure: LossStructure, log_loss: jax.Array | None = None) -> None:
    """L(N, D) = E + A N^-alpha + B N^b_n D^-beta with Student-t noise on log L.

    Sampled in the centred parameterisation of the card (a_c, b_c at the data's
    centre); a, b, A, B, E at the original scale are deterministic sites. ``b_n``, the
    growth of the data term with model size, is sampled only when the card has a
    prior for it (``models/loss_nd.toml``); the shipped ``loss`` card is Hoffmann's
    separable law (b_n = 0).
    """
    e = numpyro.sample("e", card.prior("e").to_numpyro())
    a_c = numpyro.sample("a_c", card.prior("a_c").to_numpyro())
    b_c = numpyro.sample("b_c", card.prior("b_c").to_numpyro())
    alpha = numpyro.sample("alpha", card.prior("alpha").to_numpyro())
    beta = numpyro.sample("beta", card.prior("beta").to_numpyro())
    sigma = numpyro.sample("sigma", card.prior("sigma").to_numpyro())
    nu = numpyro.sample("nu", card.prior("nu").to_numpyro())
    b_n = numpyro.sample(ND, card.prior(ND).to_numpyro()) if ND in card.priors else 0.0

    numpyro.deterministic("a", a_c + alpha * data.log_n_centre)
    # The data term at the centre is e^b_c = B N_c^b_n D_c^-beta.
    b = numpyro.deterministic("b", b_c - b_n * data.log_n_centre + beta * data.log_d_centre)
    numpyro.deterministic("E", jnp.exp(e))
    numpyro.deterministic("A", jnp.exp(a_c + alpha * data.log_n_centre))
    numpyro.deterministic("B", jnp.exp(b))

    if structure.n_groups > 1:
        e_g = _grouped("e", e, structure, card)[data.group]
        alpha_g = _grouped("alpha", alpha, structure, card)[data.group]
        beta_g = _grouped("beta", beta, structure, card)[data.group]
    else:  # no gathers: every op in the gradient costs time in XLA's CPU loop
        e_g, alpha_g, beta_g = e, alpha, beta
    # a_c, b_c are defined at the centre, so a group's own exponent pivots its
    # curve about the centre rather than about N = 1.
    mu = chinchilla_log_loss(data.x, data.z, e_g, a_c, alpha_g, b_c, beta_g, b_n)

    if structure.n_runs > 0:
        mu = mu + jnp.concatenate([_run_effects(data, structure, card), jnp.zeros(1)])[data.run]

    with numpyro.plate("rows", data.x.shape[0]):
        numpyro.sample(OBS, dist.StudentT(nu, mu, sigma), obs=log_loss)
