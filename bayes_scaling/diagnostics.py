"""Convergence diagnostics, computed for every fit and kept with it."""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np

from .defaults import pick


@dataclass(frozen=True)
class Diagnostics:
    """R-hat, ESS, divergences and E-BFMI over every sampled parameter."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    ebfmi: tuple[float, ...]  # one per chain
    worst: str  # the parameter with the largest R-hat
    problems: tuple[str, ...]  # human-readable reasons the fit is not trusted

    @property
    def converged(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def diagnose(
    idata: az.InferenceData,
    var_names: list[str],
    *,
    rhat_max: float | None = None,
    ess_min: float | None = None,
    ebfmi_min: float | None = None,
) -> tuple[Diagnostics, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Diagnostics over ``var_names``; also the per-variable R-hat, bulk ESS and tail ESS."""
    rhat_max = float(pick("rhat_max", rhat_max))
    ess_min = float(pick("ess_min", ess_min))
    ebfmi_min = float(pick("ebfmi_min", ebfmi_min))
    post = idata.posterior[var_names]
    rhat = {k: np.asarray(v) for k, v in az.rhat(post).data_vars.items()}
    bulk = {k: np.asarray(v) for k, v in az.ess(post, method="bulk").data_vars.items()}
    tail = {k: np.asarray(v) for k, v in az.ess(post, method="tail").data_vars.items()}
    r_all = np.concatenate([np.ravel(v) for v in rhat.values()])
    b_all = np.concatenate([np.ravel(v) for v in bulk.values()])
    t_all = np.concatenate([np.ravel(v) for v in tail.values()])
    # NaN R-hat ranks as the worst: it means the chains could not be compared.
    worst = max(rhat, key=lambda k: np.max(np.where(np.isnan(rhat[k]), np.inf, rhat[k])))
    divergences = int(np.asarray(idata.sample_stats["diverging"]).sum())
    ebfmi = tuple(float(x) for x in az.bfmi(idata))
    problems = []
    # NaN R-hat (a constant chain) counts as a failure, never as a pass.
    if np.any(np.isnan(r_all)):
        problems.append("R-hat undefined (NaN): it needs at least 2 chains and a parameter that moves")
    elif not np.all(r_all <= rhat_max):
        problems.append(f"R-hat {np.nanmax(r_all):.3f} > {rhat_max} (worst: {worst})")
    if not np.all(b_all >= ess_min):
        problems.append(f"bulk ESS {np.min(b_all):.0f} < {ess_min:.0f}")
    if not np.all(t_all >= ess_min):
        problems.append(f"tail ESS {np.min(t_all):.0f} < {ess_min:.0f}")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    if min(ebfmi) < ebfmi_min:
        problems.append(f"E-BFMI {min(ebfmi):.2f} < {ebfmi_min}")
    diag = Diagnostics(
        rhat_max=float(np.max(r_all)),  # NaN when undefined, never a made-up number
        ess_bulk_min=float(np.min(b_all)),
        ess_tail_min=float(np.min(t_all)),
        divergences=divergences,
        ebfmi=ebfmi,
        worst=worst,
        problems=tuple(problems),
    )
    return diag, rhat, bulk, tail
