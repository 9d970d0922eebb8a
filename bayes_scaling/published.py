"""Published values of the laws' exponents, marked on the report's posterior densities.

From ../shared/SCIENCE.md. Values marked 2nd-hand there come from summaries of a paper,
not its text: they are shown as landmarks, never as targets. Zhang et al.'s exponent
(0.468) is in N and for their own B_crit definition, so it is not comparable with
bcrit_k (in D_min, McCandlish's definition) and is not listed.
"""

from __future__ import annotations

from typing import NamedTuple


class Published(NamedTuple):
    """One published value of a parameter."""

    value: float
    source: str


PUBLISHED: dict[str, dict[str, tuple[Published, ...]]] = {
    "loss": {
        "alpha": (Published(0.348, "Besiroglu et al. 2024"), Published(0.34, "Hoffmann et al. 2022")),
        "beta": (Published(0.366, "Besiroglu et al. 2024"), Published(0.28, "Hoffmann et al. 2022")),
        "E": (Published(1.817, "Besiroglu et al. 2024"), Published(1.69, "Hoffmann et al. 2022")),
    },
    "timescale": {
        "tau_m": (Published(-0.527, "Bergsma et al. 2025 (2nd-hand)"),),
        "tau_c": (Published(1.084, "Bergsma et al. 2025 (2nd-hand)"),),
    },
    "batch": {"bopt_k": (Published(0.383, "Bergsma et al. 2025 (2nd-hand)"),)},
    "bcrit": {"bcrit_k": (Published(0.47, "Bergsma et al. 2025 (2nd-hand)"),)},
    "three_term": {"bopt_k": (Published(0.566, "Schaipp 2026 (2nd-hand)"),)},
}

# The parameters whose densities the report draws, per law: the exponents first.
DENSITY_PARAMS: dict[str, tuple[str, ...]] = {
    "loss": ("alpha", "beta", "E", "b_n"),  # b_n only in fits of models/loss_nd.toml
    "timescale": ("tau_m", "tau_c"),
    "batch": ("bopt_k", "bopt_n", "bopt_c"),
    "bcrit": ("bcrit_k", "bcrit_c"),
    "three_term": ("alpha", "beta", "gamma", "bopt_k"),
}

# The parameters of the pair plot: the law's own, on the scale they are sampled on
# (logs of prefactors), so the ridges the sampler sees are the ones drawn.
PAIR_PARAMS: dict[str, tuple[str, ...]] = {
    "loss": ("e", "a", "b", "alpha", "beta", "b_n"),
    "timescale": ("opt_c", "tau_m", "sd_setting", "k_log"),
    "batch": ("opt_c", "bopt_k", "bopt_n", "sd_setting", "k_log"),
    "bcrit": ("bc_c", "bcrit_k", "sd_group", "sigma"),
    "three_term": ("e", "alpha", "beta", "gamma", "sigma"),
}


def published(law: str, name: str) -> tuple[Published, ...]:
    """The published values of ``name`` under ``law`` (empty when there are none)."""
    return PUBLISHED.get(law, {}).get(name, ())
