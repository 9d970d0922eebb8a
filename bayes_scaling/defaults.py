"""The one table of defaults, each with the reason it has its value.

Functions take ``None`` for these settings and look the value up here, so a
change of policy is a change of one line (ArviZ's ``rcparams`` pattern).
"""

from __future__ import annotations

from typing import NamedTuple


class Default(NamedTuple):
    """A default value and why it is what it is."""

    value: object
    why: str


DEFAULTS: dict[str, Default] = {
    "chains": Default(4, "Four chains make split R-hat meaningful (Vehtari et al. 2021, arXiv 1903.08008)."),
    "warmup": Default(1000, "NumPyro/Stan default; enough to adapt a dense mass matrix on these 5-10 parameter laws."),
    "draws": Default(1000, "Per chain: 4 x 1000 draws give bulk and tail ESS well above 400 on the bundled sweeps."),
    "seed": Default(0, "Fixed so that a rerun of the same command gives the same posterior."),
    "target_accept": Default(0.8, "NumPyro default; raise it in the model card if a fit shows divergences."),
    "max_tree_depth": Default(10, "NumPyro/Stan default."),
    "dense_mass": Default(True, "The laws have 5-10 correlated parameters; a dense metric costs nothing at that size."),
    "rhat_max": Default(1.01, "Vehtari et al. 2021 recommend R-hat < 1.01 before trusting a posterior."),
    "ess_min": Default(400, "Vehtari et al. 2021: bulk and tail ESS >= 100 per chain, i.e. 400 for four chains."),
    "ebfmi_min": Default(0.3, "Betancourt 2016 (arXiv 1604.00695): E-BFMI below 0.3 signals poor exploration."),
    "setting_rel_tol": Default(0.01, "Runs at one nominal budget differ in D by a few steps (Marin: 2.6833e9-2.6885e9 tokens, 0.2 %); D within 1 % is one setting."),
    "bowl_min_distinct": Default(3, "A bowl (minimum and curvature) needs at least three distinct values of the swept quantity; two points fix only a slope."),
    "report_draws": Default(1000, "Posterior draws behind each curve of a report's figures: 1000 place the 5 %/95 % band edges to about +-1 percentile; tables use every draw."),
    "report_panels": Default(24, "Panels per small-multiples figure of a report (4 columns x 6 rows still legible); more settings or groups go on further figures."),
    "progress_chunk": Default(100, "Iterations per compiled chunk; the progress display updates between chunks."),
}


def default(name: str) -> object:
    """Return the default value of ``name``; raise ``ValueError`` listing valid names."""
    try:
        return DEFAULTS[name].value
    except KeyError:
        raise ValueError(f"unknown default {name!r}; valid names: {', '.join(sorted(DEFAULTS))}") from None


def pick(name: str, value: object | None) -> object:
    """Return ``value`` unless it is ``None``, else the default of ``name``."""
    return default(name) if value is None else value
