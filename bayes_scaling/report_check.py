"""The report's "Extrapolation check" section, from a check folder (``bayes-scaling check``)."""

from __future__ import annotations

from . import report_figures as rf
from .check import Check, run_fingerprint
from .check_output import check_figure
from .report import ReportFigure, Section, Table, fmt
from .run import Run


def check_section(check: Check, run: Run) -> Section:
    """Coverage of the held-out rows' 50 % and 90 % predictive intervals, the errors, each
    row, the refit's health, and the figure; says so when the check is of another fit."""
    c = check
    paragraphs = [
        f"The fit was repeated without the {c.n_holdout} rows of the holdout {c.holdout!r} ({c.n_train} rows kept), and its posterior "
        "predictive of each held-out row (the law, the run's effect and the noise: what a run there would measure) compared with "
        "what was measured. Calibrated intervals hold about 50 % and 90 % of the rows; with few rows, expect scatter about those "
        "shares (leave-future-out, Burkner et al. 2020).",
    ]
    if not c.converged:
        paragraphs.append(f"THE REFIT DID NOT CONVERGE: {'; '.join(c.problems)}. Do not trust this check.")
    if c.run_fingerprint != run_fingerprint(run):
        paragraphs.append("This check was made from another fit of this run folder (refitted since): rerun `bayes-scaling check` to check this fit.")
    paragraphs += list(c.notes)
    summary = Table(
        ("held out", "refit on", "coverage 50 %", "coverage 90 %", "median |error|", "refit converged"),
        ((str(c.n_holdout), str(c.n_train), f"{c.coverage_50:.0%}", f"{c.coverage_90:.0%}", f"{c.median_abs_rel_error:.2%}", "yes" if c.converged else "FAIL"),),
        "Coverage: share of held-out rows inside their predictive interval. Error: |predictive median - observed| / observed, median over rows.",
    )
    rows = tuple(
        (str(r.file_row), fmt(r.N), fmt(r.D), fmt(r.compute), r.run_id or "-", fmt(r.observed), fmt(r.q05), fmt(r.q25), fmt(r.q50), fmt(r.q75), fmt(r.q95), f"{r.pit:.2f}", r.run_effect)
        for r in c.rows
    )
    table = Table(
        ("file row", "N", "D", "compute", "run", "observed", "q05", "q25", "q50", "q75", "q95", "PIT", "run effect"),
        rows,
        "Each held-out row: observed loss and predictive quantiles. Run effect: fitted (its run has training rows), new (drawn for a new run), none.",
    )
    health = Table(
        ("refit", "value"),
        (("max R-hat", fmt(c.rhat_max)), ("min bulk ESS", fmt(c.ess_bulk_min)), ("min tail ESS", fmt(c.ess_tail_min)),
         ("divergences", str(c.divergences)), ("seed", str(c.seed)), ("sampler", ", ".join(f"{k}={v}" for k, v in c.sampler.items())),
         ("check command", c.command or "n/a")),
    )
    fig = ReportFigure("check", "Held-out rows: observed (x) against the refit's predictive median with 50 % and 90 % intervals; grey: the rows refitted.", rf.png(check_figure(c)))
    return Section("check", "Extrapolation check", tuple(paragraphs), (summary, table, health), (fig,))
