"""NumPyro model of the critical batch size from steps-to-target data.

Each group g (a model size and target loss) has rows (B_i, tokens D_i needed to
reach the target). McCandlish et al. 2018 (arXiv 1812.06162): D = D_min (1 + B/B_crit).
B_crit of each group follows bcrit_c D_min^bcrit_k up to a group deviation, so the
groups share strength and the exponent is fitted from all rows at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from .cards import ModelCard
from .laws import log_tokens_to_target

OBS = "log_tokens"


class BcritData(NamedTuple):
    """Arrays the model reads."""

    log_b: jax.Array  # log batch size (tokens), per row
    group: jax.Array  # int group index, per row
    lhat: jax.Array  # (n_groups,) log of the fewest tokens any run of the group needed
    centre: jax.Array  # scalar, mean of lhat: log D_min is centred here


class BcritStructure(NamedTuple):
    """Static shape of the model."""

    n_groups: int


def bcrit_model(data: BcritData, *, card: ModelCard, structure: BcritStructure, log_tokens: jax.Array | None = None) -> None:
    """log D_i = log D_min,g + log(1 + B_i / B_crit,g) with Student-t noise."""
    bc_c = numpyro.sample("bc_c", card.prior("bc_c").to_numpyro())
    bcrit_k = numpyro.sample("bcrit_k", card.prior("bcrit_k").to_numpyro())
    sd_group = numpyro.sample("sd_group", card.prior("sd_group").to_numpyro())
    sigma = numpyro.sample("sigma", card.prior("sigma").to_numpyro())
    nu = numpyro.sample("nu", card.prior("nu").to_numpyro())
    numpyro.deterministic("bcrit_c", jnp.exp(bc_c - bcrit_k * data.centre))

    dev = card.prior("dmin_dev")
    with numpyro.plate("groups", structure.n_groups):
        # D_min is at most the fewest tokens observed; the prior is centred there and
        # wide (card), so the hyperbola's asymptote is set by the data.
        log_d_min = numpyro.sample("log_d_min", dist.Normal(data.lhat + dev.params["loc"], dev.params["scale"]))
        # Non-centred: on Zhang et al.'s data the groups sit on the power law
        # (sd_group ~ 0.06) and the centred form funnelled (83 divergences).
        z = numpyro.sample("z_group", dist.Normal(0.0, 1.0))
    log_b_crit = numpyro.deterministic("log_b_crit", bc_c + bcrit_k * (log_d_min - data.centre) + sd_group * z)
    numpyro.deterministic("b_crit", jnp.exp(log_b_crit))
    numpyro.deterministic("d_min", jnp.exp(log_d_min))

    g = data.group
    mu = log_tokens_to_target(data.log_b, log_d_min[g], log_b_crit[g])
    with numpyro.plate("rows", data.log_b.shape[0]):
        numpyro.sample(OBS, dist.StudentT(nu, mu, sigma), obs=log_tokens)
