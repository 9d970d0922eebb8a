"""Proposed runs on disk and on screen: next.csv (DESIGN.md, "Artifacts"), a JSON of
what the proposal rests on, and a figure of EIG per FLOP over the candidates."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .artifacts import atomic_file, write_json
from .design import NextRuns
from .errors import UsageError

COLUMNS = ("rank", "N", "D", "B", "steps", "tokens_per_param", "cost_flops", "eig", "eig_per_flop", "eig_alone", "reuses_run")


class NextFiles(NamedTuple):
    """Where ``write_next`` put things."""

    csv: Path
    meta: Path
    figure: Path


def next_frame(res: NextRuns) -> pd.DataFrame:
    """next.csv: one row per proposed run, in the order picked. ``eig`` is given the
    earlier picks (what the batch adds), ``eig_alone`` as the only new run."""
    rows = [
        (p.rank, p.N, p.D, p.B, p.D / p.B, p.D / p.N, p.cost_flops, p.eig, p.eig_per_flop, p.eig_alone, p.reuses_run)
        for p in res.picks
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def next_json(res: NextRuns, *, command: str = "") -> dict:
    """What the proposal rests on: budget, target, the batch's information, notes."""
    return {
        "budget_flops": res.budget,
        "spent_flops": res.spent,
        "batch_eig": res.batch_eig,
        "target": {"kind": res.target.kind, "compute_flops": None if res.target.kind == "params" else res.target_compute,
                   "about": res.target.describe(res.target_compute)},
        "n_candidates": len(res.candidates),
        "candidates": res.candidates.source,
        "n_draws": res.n_draws,
        "n_worlds": res.n_worlds,
        "cooldown_fraction": res.cooldown_fraction,
        "grid_step_over_noise_width": res.grid_step,
        "seconds": round(res.seconds, 3),
        "notes": list(res.notes),
        "command": command,
    }


def next_figure(res: NextRuns):
    """EIG per FLOP of every candidate over (N, D), the data's runs and the picks numbered
    (a matplotlib ``Figure`` on an Agg canvas, never ``pyplot``)."""
    # Imported here: matplotlib costs ~0.4 s of start-up that the library's import should not.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.8, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    c = res.candidates
    ratio = res.eig_alone / res.cost_alone
    over = res.cost_alone > res.budget
    pos = (ratio > 0) & ~over
    new, branch = pos & (c.branch_of < 0), pos & (c.branch_of >= 0)
    if over.any():
        ax.scatter(c.N[over], c.D[over], color="0.85", s=10, marker="s", lw=0, label="over the budget")
    norm = LogNorm(vmin=max(ratio[pos].min(), ratio[pos].max() * 1e-6), vmax=ratio[pos].max()) if pos.any() else None
    sc = ax.scatter(c.N[new], c.D[new], c=ratio[new], norm=norm, cmap="viridis", s=18, marker="s", lw=0, label="new run")
    if branch.any():
        ax.scatter(c.N[branch], c.D[branch], c=ratio[branch], norm=norm, cmap="viridis", s=34, marker="D", edgecolors="0.3", lw=0.4,
                   label="cooldown branch of a run in the data")
    if pos.any():
        fig.colorbar(sc, ax=ax, label="EIG per FLOP, alone (nats / FLOP)")
    ax.plot(res.data_N, res.data_D, "o", color="black", mfc="none", ms=5, label="runs in the data")
    for p in res.picks:
        ax.plot([p.N], [p.D], "*", color="crimson", ms=15, mec="white", mew=0.6, zorder=5)
        ax.annotate(str(p.rank), (p.N, p.D), xytext=(5, 4), textcoords="offset points", color="crimson", fontsize=9, weight="bold")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.autoscale_view()
    xs, ys = np.array(ax.get_xlim()), np.array(ax.get_ylim())
    for flops in 10.0 ** np.arange(np.floor(np.log10(6 * xs[0] * ys[0])), np.ceil(np.log10(6 * xs[1] * ys[1])) + 1):
        if int(np.log10(flops)) % 2 == 0:
            ax.plot(xs, flops / (6 * xs), color="0.75", lw=0.6, zorder=0)
    ax.set_xlim(xs)
    ax.set_ylim(ys)
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("tokens D")
    ax.plot([], [], "*", color="crimson", ms=12, label="proposed (pick order)")
    ax.plot([], [], color="0.75", lw=0.6, label="6ND = 1e(2k) FLOPs")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"EIG per FLOP about {res.target.describe(res.target_compute)}\n"
                 f"{len(res.picks)} runs proposed, {res.spent:.3g} of {res.budget:.3g} FLOPs, batch EIG {res.batch_eig:.3g} nats", fontsize=9)
    return fig


def next_files(out: str | Path, *, force: bool = False) -> NextFiles:
    """The three files ``write_next`` writes for ``out`` (next.csv), refusing a wrong name
    or existing files unless ``force`` (the CLI asks before it spends time scoring)."""
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise UsageError(f"--out names the CSV to write (e.g. next.csv), got {out}")
    files = NextFiles(out, out.with_suffix(".json"), out.with_suffix(".png"))
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists; pass --force to replace it")
    return files


def write_next(res: NextRuns, out: str | Path, *, force: bool = False, command: str = "") -> NextFiles:
    """Write next.csv at ``out`` and, beside it, ``<stem>.json`` and ``<stem>.png``.

    Each file is written to a temporary name and renamed, so a crash leaves no half
    file; existing files are refused unless ``force``.
    """
    files = next_files(out, force=force)
    files.csv.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(files.figure) as tmp:
        next_figure(res).savefig(tmp, dpi=120, format="png")
    with atomic_file(files.meta) as tmp:
        write_json(tmp, next_json(res, command=command))
    with atomic_file(files.csv) as tmp:
        next_frame(res).to_csv(tmp, index=False)
    return files


def format_next(res: NextRuns) -> str:
    """The proposal as a table for the terminal."""
    lines = [
        f"Next runs: information about {res.target.describe(res.target_compute)}",
        f"  {len(res.candidates)} candidates, {res.n_draws} posterior draws, {res.seconds:.1f} s",
        "",
        f"  {'#':>2}  {'N':>9}  {'D':>9}  {'D/N':>6}  {'B':>8}  {'cost FLOPs':>10}  {'EIG':>7}  {'alone':>7}  {'EIG/FLOP':>9}  reuses run",
    ]
    for p in res.picks:
        lines.append(
            f"  {p.rank:>2}  {p.N:9.3g}  {p.D:9.3g}  {p.D / p.N:6.1f}  {p.B:8.3g}  {p.cost_flops:10.3g}  {p.eig:7.3f}  {p.eig_alone:7.3f}"
            f"  {p.eig_per_flop:9.2e}  {p.reuses_run or '-'}"
        )
    lines += ["", f"  spent {res.spent:.3g} of {res.budget:.3g} FLOPs; the batch's information: {res.batch_eig:.3g} nats (EIG in nats)"]
    lines += [f"  note: {n}" for n in res.notes]
    return "\n".join(lines) + "\n"
