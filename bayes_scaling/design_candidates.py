"""Candidate runs for the next sweep: new runs and cooldown branches of runs in the data.

A warmup-stable-decay (WSD) run's constant-LR phase does not depend on its final
length, so a run already in the data can be resumed and cooled down at another
length D' (Hagele et al. 2024, arXiv 2405.18392; SCIENCE.md section 2). The branch
needs the constant phase up to (1 - f) D' and a cooldown over the last f D' tokens:

    cost = 6 N [max(0, (1 - f) D' - D_constant) + f D']

with D_constant how far the run's constant phase has gone, at least (1 - f) D for
its longest cooldown branch D in the data. A branch shorter than that reuses a
checkpoint of the constant phase (we assume the run kept its checkpoints) and costs
only its cooldown. A new run costs 6 N D.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .defaults import pick
from .errors import BadInputError
from .run import Run, scalar_constant
from .sweep import _numeric_column, _read  # the sweep's own cell checks: one message format for every CSV


@dataclass(frozen=True)
class BranchableRun:
    """A WSD run in the fitted data: its size, its longest cooldown branch, its effect slot."""

    run_id: str
    N: float
    d_longest: float  # the longest cooldown branch in the data
    d_existing: tuple[float, ...]  # every D the data has for this run
    effect: int  # index into the fit's run effects (run_effect), or -1 if it has none (a single row)


@dataclass(frozen=True)
class Candidates:
    """Candidate runs as parallel arrays (one entry per candidate)."""

    N: np.ndarray
    D: np.ndarray
    branch_of: np.ndarray  # int: index into ``runs`` for a cooldown branch, -1 for a new run
    runs: tuple[BranchableRun, ...]
    source: str  # "grid" or the candidates CSV's path

    def __len__(self) -> int:
        return len(self.N)

    def cost(self, d_constant: np.ndarray, cooldown_fraction: float) -> np.ndarray:
        """FLOPs of each candidate given how far each branchable run's constant phase has gone."""
        f = cooldown_fraction
        new = 6.0 * self.N * self.D
        if not self.runs:
            return new
        b = np.maximum(self.branch_of, 0)
        extra = np.maximum(0.0, (1.0 - f) * self.D - d_constant[b]) + f * self.D
        return np.where(self.branch_of >= 0, 6.0 * self.N * extra, new)

    def reuses(self) -> list[str]:
        """Per candidate the run_id it branches from ('' for a new run)."""
        return [self.runs[b].run_id if b >= 0 else "" for b in self.branch_of]


def branchable_runs(run: Run, *, group: str | None = None) -> tuple[BranchableRun, ...]:
    """The WSD runs of a loss fit (rows with phase cooldown_end or a WSD/constant schedule),
    of one group's rows on a grouped fit."""
    g = run._group_index(group)
    const = run.idata.constant_data
    if "run_id" not in const or "wsd" not in const:
        return ()  # fitted before the run ids were stored: no branches
    ids = np.asarray(const["run_id"]).astype(str)
    wsd = np.asarray(const["wsd"]).astype(bool)
    n = np.exp(np.asarray(const["x"]) + scalar_constant(const["log_n_centre"]))
    d = np.exp(np.asarray(const["z"]) + scalar_constant(const["log_d_centre"]))
    if g is not None:
        wsd &= np.asarray(const["row_group"]) == g
    effects = run.run_effects()[1]
    out = []
    for rid in sorted(set(ids[wsd]) - {""}):
        rows = ids == rid
        if np.ptp(np.log(n[rows])) > 1e-6:
            raise BadInputError(f"run_id {rid!r} has rows with different N; a run has one model size")
        out.append(BranchableRun(rid, float(n[rows][0]), float(d[rows & wsd].max()), tuple(sorted(map(float, d[rows]))),
                                 effects.index(rid) if rid in effects else -1))
    return tuple(out)


def grid_candidates(run: Run, runs: tuple[BranchableRun, ...], *, n_grid=None, tpp_grid=None) -> Candidates:
    """New runs on a log grid of N (relative to the data's range) x tokens per parameter,
    and each branchable run cooled down at the grid's tokens per parameter.

    Branches at a D the run already has (within 5 %) are left out: they repeat a row.
    """
    n_lo, n_hi, n_count = pick("next_n_grid", n_grid)
    t_lo, t_hi, t_count = pick("next_tpp_grid", tpp_grid)
    const = run.idata.constant_data
    log_n = np.asarray(const["x"]) + scalar_constant(const["log_n_centre"])
    sizes = np.geomspace(np.exp(log_n.min()) * n_lo, np.exp(log_n.max()) * n_hi, int(n_count))
    tpp = np.geomspace(t_lo, t_hi, int(t_count))
    nn, tt = np.meshgrid(sizes, tpp, indexing="ij")
    N, D, branch = [nn.ravel()], [(nn * tt).ravel()], [np.full(nn.size, -1)]
    for i, r in enumerate(runs):
        d_new = r.N * tpp
        have = np.asarray(r.d_existing)
        far = np.min(np.abs(np.log(d_new[:, None] / have[None, :])), axis=1) > np.log(1.05)
        N.append(np.full(far.sum(), r.N))
        D.append(d_new[far])
        branch.append(np.full(far.sum(), i))
    return Candidates(np.concatenate(N), np.concatenate(D), np.concatenate(branch).astype(int), runs, "grid")


def read_candidates(path: str | Path, runs: tuple[BranchableRun, ...]) -> Candidates:
    """Candidates from a CSV: columns N and D; optional ``reuses_run`` (the run_id of a
    WSD run in the fit to branch from; empty for a new run)."""
    path = Path(path)
    file = str(path)
    frame, _ = _read(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in ("N", "D"):
        if col not in frame.columns:
            raise BadInputError(f"missing column {col!r} (columns: {', '.join(frame.columns)})", file=file)
    file_rows = frame.index.to_numpy() + 1
    N = _numeric_column(frame["N"], "N", file, file_rows)
    D = _numeric_column(frame["D"], "D", file, file_rows)
    branch = np.full(len(frame), -1)
    if "reuses_run" in frame.columns:
        by_id = {r.run_id: i for i, r in enumerate(runs)}
        for i, text in enumerate(frame["reuses_run"].fillna("").astype(str).str.strip()):
            if not text:
                continue
            if text not in by_id:
                known = ", ".join(sorted(by_id)) or "(none: the fit has no WSD runs)"
                raise BadInputError(f"not a WSD run of the fit; branchable runs: {known}", file=file, column="reuses_run", row=int(file_rows[i]), value=text)
            b = by_id[text]
            if abs(np.log(N[i] / runs[b].N)) > 1e-6:
                raise BadInputError(f"a branch has its run's N ({runs[b].N:.4g})", file=file, column="N", row=int(file_rows[i]), value=frame["N"].iloc[i])
            branch[i] = b
    return Candidates(N, D, branch, runs, file)


def candidates_frame(c: Candidates) -> pd.DataFrame:
    """The candidates as a table (for tests and users' own filtering)."""
    return pd.DataFrame({"N": c.N, "D": c.D, "reuses_run": c.reuses()})
