"""A calibration on disk and on screen: sbc.json (DESIGN.md, "Artifacts"), rank
histograms and ECDF-difference plots of the ranks, a table for the terminal."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .artifacts import atomic_folder, write_json
from .programs import package_versions
from .sbc import SbcResult

ECDF_PROB = 0.95  # simultaneous band of the ECDF plots (Säilynoja et al. 2022, arXiv 2103.10522)
HIST_PROB = 0.99  # per-bin band of the rank histograms (Talts et al. 2018, figure 2)


class SbcFiles(NamedTuple):
    """Where ``write_sbc`` put things."""

    folder: Path
    json: Path
    ranks: Path
    ecdf: Path


def sbc_json(res: SbcResult, *, command: str = "") -> dict:
    """sbc.json: ``law``, ``sims``, ``passed`` and per parameter its ranks, p-value and
    ``passed`` (DESIGN.md), with what they rest on."""
    s = res.settings
    return {
        "law": res.law,
        "sims": s.sims,
        "passed": res.passed,
        "test": f"chi-square of the ranks over {s.bins} equal bins; a quantity passes at p >= {res.level:.3g} "
        f"(alpha {s.alpha} / {sum(p.same_as is None for p in res.params)} distinct quantities, Bonferroni)",
        "level": res.level,
        "draws_ranked": res.draws_ranked,
        "params": {
            p.name: {
                "p_value": p.p_value,
                "passed": p.passed,
                "coverage_50": p.coverage_50,
                "coverage_90": p.coverage_90,
                "same_ranks_as": p.same_as,
                "ranks": [int(r) for r in p.ranks],
            }
            for p in res.params
        },
        "card": res.card,
        "design": res.design,
        "n_rows": res.n_rows,
        "noise_factor": s.noise_factor,
        "sampler": {"chains": s.chains, "warmup": s.warmup, "draws": s.draws, "thin": s.thin},
        "fits": {
            "divergences_total": int(res.divergences.sum()),
            "sims_with_divergences": int((res.divergences > 0).sum()),
            "sims_rhat_over_1.01": int(np.sum(res.rhat_max > 1.01)) if s.chains > 1 else None,
            "rhat_max_median": float(np.median(res.rhat_max)) if s.chains > 1 else None,
        },
        "timings_s": res.timings_s,
        "versions": package_versions(("bayes-scaling", "numpyro", "jax", "jaxlib", "arviz")),
        "command": command,
    }


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, n)
    return math.ceil(n / cols), cols


def _figure(n: int):
    # Imported here: matplotlib costs ~0.4 s of start-up that the library's import should not.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = _grid(n)
    fig = Figure(figsize=(3.2 * cols, 2.5 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _shown(res: SbcResult) -> list:
    return [p for p in res.params if p.same_as is None]


def rank_histograms(res: SbcResult):
    """Talts et al.'s rank histograms, with the band a uniform histogram's bins fall in
    with probability 0.99 each (binomial quantiles)."""
    from scipy.stats import binom  # a dependency of ArviZ

    shown = _shown(res)
    fig, axes = _figure(len(shown))
    s = res.settings
    n_values = s.ranks_range
    lo, hi = binom.ppf([(1 - HIST_PROB) / 2, (1 + HIST_PROB) / 2], s.sims, 1 / s.bins)
    for ax, p in zip(axes.ravel(), shown):
        counts = np.bincount(p.ranks * s.bins // n_values, minlength=s.bins)
        ax.axhspan(lo, hi, color="0.85", lw=0)
        ax.axhline(s.sims / s.bins, color="0.5", lw=0.8)
        ax.bar(np.arange(s.bins), counts, width=1.0, color="tab:blue" if p.passed else "tab:red", edgecolor="white", lw=0.5)
        ax.set_title(f"{p.name}  p = {p.p_value:.3g}", fontsize=9, color="black" if p.passed else "tab:red")
        ax.set_xticks([])
        ax.set_xlabel(f"rank of the truth among {res.draws_ranked} draws", fontsize=7)
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(f"SBC of the {res.law} law: {s.sims} simulations; grey: {HIST_PROB:.0%} band per bin", fontsize=10)
    return fig


def ecdf_differences(res: SbcResult):
    """ECDF of the fractional ranks minus the uniform CDF, with the 95 % simultaneous
    band (ArviZ's optimised band, Säilynoja et al. 2022): a curve leaving the band is
    evidence against uniformity at that level, wherever it happens."""
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    shown = _shown(res)
    fig, axes = _figure(len(shown))
    s = res.settings
    x = np.linspace(0, 1, 101)
    lo, hi = ecdf_confidence_band(s.sims, x, x, prob=ECDF_PROB, method="optimized", rvs=None, random_state=np.random.default_rng(0))
    for ax, p in zip(axes.ravel(), shown):
        frac = (p.ranks + 0.5) / s.ranks_range
        ecdf = (frac[None, :] <= x[:, None]).mean(axis=1)
        ax.fill_between(x, lo - x, hi - x, step="post", color="0.85", lw=0)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.step(x, ecdf - x, where="post", color="tab:blue" if p.passed else "tab:red")
        ax.set_title(p.name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(f"SBC of the {res.law} law: ECDF of fractional ranks minus uniform; grey: {ECDF_PROB:.0%} simultaneous band", fontsize=10)
    return fig


def write_sbc(res: SbcResult, out: str | Path, *, force: bool = False, command: str = "") -> SbcFiles:
    """Write sbc.json, ranks.png and ecdf.png into folder ``out``, all or nothing."""
    out = Path(out)
    with atomic_folder(out, force=force) as tmp:
        write_json(tmp / "sbc.json", sbc_json(res, command=command))
        rank_histograms(res).savefig(tmp / "ranks.png", dpi=110)
        ecdf_differences(res).savefig(tmp / "ecdf.png", dpi=110)
    return SbcFiles(out, out / "sbc.json", out / "ranks.png", out / "ecdf.png")


def format_sbc(res: SbcResult) -> str:
    """The calibration as a table for the terminal."""
    s = res.settings
    lines = [
        f"SBC of the {res.law} law ({res.card} card): {s.sims} simulated sweeps of {res.n_rows} rows, "
        f"{s.chains} x ({s.warmup} + {s.draws}) NUTS, ranks among {res.draws_ranked} draws",
        f"  {'quantity':<12} {'p-value':>8}  {'50 % cov':>8}  {'90 % cov':>8}  verdict",
    ]
    for p in res.params:
        verdict = f"same ranks as {p.same_as}" if p.same_as else ("ok" if p.passed else "NOT UNIFORM")
        lines.append(f"  {p.name:<12} {p.p_value:8.3g}  {p.coverage_50:8.2f}  {p.coverage_90:8.2f}  {verdict}")
    div = int((res.divergences > 0).sum())
    lines.append(f"  level per quantity {res.level:.3g}; {div} of {s.sims} fits had divergences; {res.timings_s['total']:.0f} s")
    if s.chains > 1:
        lines.append(f"  {int(np.sum(res.rhat_max > 1.01))} of {s.sims} fits had R-hat > 1.01 (largest over every latent value; median {np.median(res.rhat_max):.3f})")
    lines.append(f"  {'PASSED' if res.passed else 'FAILED'}: the ranks are {'consistent with' if res.passed else 'NOT'} uniform")
    return "\n".join(lines) + "\n"
